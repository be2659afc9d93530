"""Build ostree archive repositories with the real ``ostree`` CLI: for the demo and the tests."""

import shutil
import subprocess
import tempfile
from pathlib import Path


class OstreeMissing(RuntimeError):
    pass


def ostree_cli() -> str:
    path = shutil.which("ostree")
    if not path:
        raise OstreeMissing("the ostree CLI is not installed (Debian package 'ostree')")
    return path


class OstreeRepo:
    """An archive-mode repository in ``path``, committed to through the ``ostree`` CLI."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._run("init", "--mode=archive")

    def _run(self, *args: str) -> str:
        result = subprocess.run([ostree_cli(), *args, f"--repo={self.path}"], capture_output=True, text=True,
                                check=False, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"ostree {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout.strip()

    def commit(self, ref: str, version: str, subject: str = "", files: dict[str, str] | None = None,
               timestamp: str | None = None) -> str:
        """Commit a small tree to ``ref`` with ``version`` metadata (and ``timestamp``, ISO 8601,
        instead of now); returns the checksum."""
        with tempfile.TemporaryDirectory() as tree:
            for name, content in (files or {"usr/lib/os-release": f"VERSION_ID={version}\n"}).items():
                target = Path(tree) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
            return self._run("commit", f"--branch={ref}", f"--tree=dir={tree}",
                             f"--add-metadata-string=version={version}", f"--subject={subject or version}",
                             *([f"--timestamp={timestamp}"] if timestamp else []))

    def update_summary(self) -> None:
        self._run("summary", "-u")

    def object_path(self, checksum: str) -> Path:
        return self.path / "objects" / checksum[:2] / f"{checksum[2:]}.commit"
