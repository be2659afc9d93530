"""The repository a local release reads: one the ostree CLI builds for the occasion, or one
the user names; either way served or reached over HTTP, and named in a copy of the stream
configuration (with ``--regions`` applied) that the local runtime then uses."""

import contextlib
import json
import platform
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from atomic_release.local.guests.compose import ComposedRepo, composed
from atomic_release.local.guests.signed import signed
from atomic_release.local.ostree_repo import OstreeRepo
from atomic_release.local.repo_server import RepoServer
from atomic_release.local.signing import SigningKey, temporary_key
from chalicelib.core.arch import ec2_arch
from chalicelib.core.config import DEFAULT_CONFIG
from chalicelib.core.regions import first_regions


def configuration_for(source: str | None, stream: str, repo_url: str, regions: int | None, into: Path,
                      trusted_keys: list[str] | None = None) -> Path:
    """A copy of the configuration whose ``stream`` reads ``repo_url``; with ``trusted_keys``, the
    stream requires commits signed by them instead of its configured keys."""
    raw = json.loads(Path(source or DEFAULT_CONFIG).read_text())
    if stream not in raw.get("streams", {}):
        return Path(source or DEFAULT_CONFIG)   # loading it reports the unknown stream
    settings = raw["streams"][stream]
    settings["repo_url"] = repo_url
    if trusted_keys:
        settings["signatures"] = {"required": True, "keys": trusted_keys}
    if regions is not None:
        settings["regions"]["copies"] = first_regions(settings["regions"]["base"], regions)[1:]
    path = into / "streams.json"
    path.write_text(json.dumps(raw, indent=2))
    return path


def for_real_guests(source: str | None, stream: str, repo_url: str, regions: int | None, into: Path,
                    commits: ComposedRepo, trusted_keys: list[str]) -> Path:
    """The stream as real guests release it: the composed commit of this machine's architecture,
    signed by ``trusted_keys``, installed by ostree, first booted by cloud-init. Other
    architectures are left out: composing and booting them here would need emulation of a
    second architecture."""
    path = configuration_for(source, stream, repo_url, regions, into, trusted_keys)
    raw = json.loads(path.read_text())
    settings = raw["streams"][stream]
    arch = ec2_arch(commits.arch)
    settings.update(refs={arch: commits.ref}, osname=commits.osname, install_method="ostree",
                    qa_user_data="cloud-init")
    products = settings.get("marketplace", {}).get("products", {})
    settings.setdefault("marketplace", {})["products"] = {a: p for a, p in products.items() if a == arch}
    if not settings["marketplace"]["products"]:
        settings["marketplace"]["publish"] = False
    path.write_text(json.dumps(raw, indent=2))
    return path


@contextlib.contextmanager
def composed_repository(stream: str, regions: int | None, config: str | None) -> Iterator[tuple[Path, str]]:
    """The bootable test commit (composed once, then cached, and signed by the cache's key, which
    the stream trusts), served on 127.0.0.1. Yields (configuration path, repository URL)."""
    repo = composed(ec2_arch(platform.machine()), log=lambda line: print(line, file=sys.stderr, flush=True))
    public_key = signed(repo)
    with tempfile.TemporaryDirectory(prefix="atomic-release-") as scratch, RepoServer(repo.repo) as server:
        yield for_real_guests(config, stream, server.url, regions, Path(scratch), repo, [public_key]), server.url


def build_repository(path: Path, refs: dict[str, str], version: str, signing_key: SigningKey) -> dict[str, str]:
    """An archive repository with one signed commit of ``version`` on each ref, and its signed summary."""
    repo = OstreeRepo(path, signing_key)
    checksums = {arch: repo.commit(ref, version, subject=f"{ref} {version}") for arch, ref in refs.items()}
    repo.update_summary()
    return checksums


@contextlib.contextmanager
def local_repository(stream: str, version: str, repo_url: str | None, regions: int | None,
                     config: str | None) -> Iterator[tuple[Path, str]]:
    """Yields (configuration path, repository URL)."""
    with tempfile.TemporaryDirectory(prefix="atomic-release-") as scratch:
        scratch_path = Path(scratch)
        if repo_url:
            yield configuration_for(config, stream, repo_url, regions, scratch_path), repo_url
            return
        raw = json.loads(Path(config or DEFAULT_CONFIG).read_text())
        refs = raw.get("streams", {}).get(stream, {}).get("refs", {})
        with temporary_key(name="atomic-release demo signing key") as key:
            build_repository(scratch_path / "repo", refs, version, key)
            trusted = [key.public]
        with RepoServer(scratch_path / "repo") as server:
            yield configuration_for(config, stream, server.url, regions, scratch_path, trusted), server.url
