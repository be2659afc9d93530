"""Build ostree archive repositories with the real ``ostree`` CLI: for the demo and the tests."""

import subprocess
import tempfile
from pathlib import Path

from atomic_release.local.signing import SigningKey
from atomic_release.local.tools import debian_tool


def ostree_cli() -> str:
    return debian_tool("ostree", "ostree")


class OstreeRepo:
    """An archive-mode repository in ``path``, committed to through the ``ostree`` CLI."""

    def __init__(self, path: str | Path, signing_key: SigningKey | None = None):
        """``signing_key`` signs every commit and the summary; without it they are unsigned."""
        self.path = Path(path)
        self.signing_key = signing_key
        self._run("init", "--mode=archive")

    @property
    def trusted_keys(self) -> list[str]:
        """What a stream reading this repository trusts: its signing key's public key."""
        return [self.signing_key.public] if self.signing_key else []

    def _signed_by(self, key: SigningKey | None) -> list[str]:
        return [f"--gpg-sign={key.fingerprint}", f"--gpg-homedir={key.homedir}"] if key else []

    def _run(self, *args: str) -> str:
        result = subprocess.run([ostree_cli(), *args, f"--repo={self.path}"], capture_output=True, text=True,
                                check=False, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"ostree {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout.strip()

    def commit(self, ref: str, version: str, subject: str = "", files: dict[str, str] | None = None,
               timestamp: str | None = None, signed: bool = True) -> str:
        """Commit a small tree to ``ref`` with ``version`` metadata (and ``timestamp``, ISO 8601,
        instead of now), signed with the repository's key unless ``signed`` is false; returns the
        checksum."""
        with tempfile.TemporaryDirectory() as tree:
            for name, content in (files or {"usr/lib/os-release": f"VERSION_ID={version}\n"}).items():
                target = Path(tree) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
            return self._run("commit", f"--branch={ref}", f"--tree=dir={tree}",
                             f"--add-metadata-string=version={version}", f"--subject={subject or version}",
                             *([f"--timestamp={timestamp}"] if timestamp else []),
                             *self._signed_by(self.signing_key if signed else None))

    def sign(self, checksum: str, key: SigningKey) -> None:
        """Add ``key``'s signature to a commit (after those it has)."""
        self._run("gpg-sign", checksum, key.fingerprint, f"--gpg-homedir={key.homedir}")

    def update_summary(self, signed: bool = True) -> None:
        """Regenerate the summary, and ``summary.sig`` with the repository's key (without one, or
        with ``signed`` false, ostree removes an older ``summary.sig``)."""
        self._run("summary", "-u", *self._signed_by(self.signing_key if signed else None))

    def object_path(self, checksum: str, kind: str = "commit") -> Path:
        return self.path / "objects" / checksum[:2] / f"{checksum[2:]}.{kind}"
