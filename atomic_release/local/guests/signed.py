"""The composed test commits, signed as a distribution signs its own, so that real builders pull
them with gpg-verify=true. The key is kept beside the compose cache (made once, never expiring:
the cache outlives any expiry a test would choose) and its signatures are added to the cached
repository's detached metadata: the commits stay as composed, and so does the cache's key."""

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from atomic_release.local.guests.compose import ComposedRepo, cache_root
from atomic_release.local.ostree_repo import OstreeRepo
from atomic_release.local.signing import SigningKey, existing_key, generate_key
from chalicelib.core.trusted_keys import Trust
from chalicelib.ostree.signatures import check


def signed(commits: ComposedRepo) -> str:
    """Sign the good and the broken commit with the cache's key where it has not signed them yet;
    returns the key's public part (ASCII-armored), which a stream reading them trusts."""
    with _locked(cache_root() / "guest-commits" / "signing.lock"):
        key = _cache_key()
        try:
            trust = Trust.of([key.public])
            repo = OstreeRepo(commits.repo)
            for checksum in (commits.commit, commits.broken_commit):
                if not _signed_by(repo, checksum, trust):
                    repo.sign(checksum, key)
            return key.public
        finally:
            key.close()


def _cache_key() -> SigningKey:
    # gpg's sockets live in its home: a short path (a Unix socket path has 108 bytes)
    home = cache_root() / "guest-commits" / "gnupg"
    return existing_key(home) or generate_key(home, name="atomic-release guest test commits", expires="never")


def _signed_by(repo: OstreeRepo, checksum: str, trust: Trust) -> bool:
    metadata = repo.object_path(checksum, "commitmeta")
    return check(repo.object_path(checksum).read_bytes(), metadata.read_bytes() if metadata.exists() else None,
                 trust).verified


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One signer at a time: tests and releases on this machine share the cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
