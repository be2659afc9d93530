"""Real guests: the builder script, unmodified, writes a composed ostree commit to a loop device,
and QEMU (TCG) boots that disk as EC2 would boot it, with QA reporting through a Step Functions
endpoint that speaks the real protocol. Needs root and Debian's packages (`make tools`);
skipped where they are missing, except under CI, where that fails."""

import os
import shutil
from pathlib import Path

import pytest

from atomic_release.local.guests import machine
from atomic_release.local.guests.compose import ComposedRepo, composed
from atomic_release.local.guests.signed import signed
from atomic_release.local.repo_server import RepoServer


def pytest_collection_modifyitems(items):
    for item in items:
        if "/guest_vm/" in str(item.path):
            item.add_marker(pytest.mark.guest_vm)


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must provide it (.ci/run runs `make test`, which runs `make tools` as root)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_guests_possible() -> None:
    if reason := machine.why_real_guests_cannot_run("x86_64"):
        _missing(reason)


@pytest.fixture(scope="session")
def test_commits(real_guests_possible) -> ComposedRepo:
    """The good and the broken commit, composed once per machine (cached outside the project)."""
    return composed("x86_64")


@pytest.fixture(scope="session")
def trusted_key(test_commits) -> str:
    """The key that signed the test commits (kept beside the cache), as a stream trusts it."""
    return signed(test_commits)


@pytest.fixture(scope="session")
def served_commits(test_commits) -> str:
    with RepoServer(test_commits.repo) as server:
        yield server.url


@pytest.fixture
def scratch(tmp_path_factory) -> Path:
    """A folder for disks, kept only while the test runs: each disk is gigabytes when sparse files
    are copied."""
    path = tmp_path_factory.mktemp("guest")
    yield path
    shutil.rmtree(path, ignore_errors=True)
