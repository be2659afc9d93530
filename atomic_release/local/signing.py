"""OpenPGP keys made with Debian's gpg, to sign local repositories' commits as a distribution
signs its own: for the demo and the tests. Never used by the pipeline, which only verifies."""

import contextlib
import functools
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from atomic_release.local.tools import debian_tool


def gpg_cli() -> str:
    return debian_tool("gpg", "gnupg")


@dataclass(frozen=True)
class SigningKey:
    """A key pair in a GnuPG home of its own: ``fingerprint`` signs, ``public`` is what a stream
    trusts."""

    homedir: Path
    fingerprint: str

    @functools.cached_property
    def public(self) -> str:
        return _gpg(self.homedir, "--armor", "--export", self.fingerprint)

    def close(self) -> None:
        """Stop the agent gpg started for this home (signing starts one)."""
        subprocess.run(["gpgconf", "--homedir", str(self.homedir), "--kill", "all"], capture_output=True,
                       check=False, timeout=30)


def generate_key(homedir: Path, name: str = "atomic-release local signing key", expires: str = "1y",
                 faked_time: str | None = None) -> SigningKey:
    """A new ed25519 signing key in ``homedir`` (made if missing). ``expires``: gpg's expiry, e.g.
    ``1y``, ``never``; ``faked_time``: gpg's ``faked-system-time`` (e.g. ``20240101T000000``), so
    that the key, and everything it signs, is dated then."""
    homedir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if faked_time:
        (homedir / "gpg.conf").write_text(f"faked-system-time {faked_time}\n")
    _gpg(homedir, "--passphrase", "", "--quick-gen-key", f"{name} <signing@example.invalid>", "ed25519", "sign",
         expires)
    key = existing_key(homedir)
    assert key is not None, "gpg made no key"
    return key


def existing_key(homedir: Path) -> SigningKey | None:
    """The first secret key in ``homedir``, or None where it holds none (or does not exist)."""
    if not homedir.is_dir():
        return None
    listing = _gpg(homedir, "--list-secret-keys", "--with-colons").splitlines()
    fingerprint = next((line.split(":")[9] for line in listing if line.startswith("fpr:")), None)
    return SigningKey(homedir=homedir, fingerprint=fingerprint) if fingerprint else None


@contextlib.contextmanager
def temporary_key(**options) -> Iterator[SigningKey]:
    """A key (``generate_key``'s options) in a temporary GnuPG home, gone with its agent after."""
    # gpg's sockets live in the home: keep its path short (a Unix socket path has 108 bytes)
    with tempfile.TemporaryDirectory(prefix="ar-gpg-") as scratch:
        key = generate_key(Path(scratch) / "g", **options)
        try:
            yield key
        finally:
            key.close()


def _gpg(homedir: Path, *args: str) -> str:
    result = subprocess.run([gpg_cli(), "--homedir", str(homedir), "--batch", "--pinentry-mode", "loopback",
                             "--no-tty", *args], capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"gpg {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout
