"""The Debian tools the local runtime drives (the ostree and gpg CLIs), found on PATH or named as
missing with the package that provides them."""

import shutil


class ToolMissing(RuntimeError):
    """A command this machine lacks."""


def debian_tool(command: str, package: str) -> str:
    path = shutil.which(command)
    if not path:
        raise ToolMissing(f"the {command} CLI is not installed (Debian package {package!r})")
    return path
