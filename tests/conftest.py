import os
from collections.abc import Callable

import pytest

from atomic_release.local import patches
from atomic_release.local.runtime import LocalRuntime, runtimes_share_clients
from atomic_release.local.synthetic import synthetic_release
from atomic_release.local.tools import ToolMissing
from chalicelib.core.settings import reset_settings
from tests.helpers import waiting_executions

GUEST_REGION = "us-east-1"


@pytest.fixture(autouse=True)
def fresh_settings():
    """Each test's functions read their environment as at a cold start, not as an earlier test left it."""
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def redeploy(monkeypatch):
    """``redeploy(NAME, value)``: the functions' environment changed, as a new deployment changes
    it; they read their settings again."""

    def change(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        reset_settings()

    return change


@pytest.fixture(scope="session", autouse=True)
def shared_clients():
    """The test session's local runtimes, one per test, keep one set of boto3 clients: each test
    still starts with moto reset and provisioned anew."""
    with runtimes_share_clients():
        yield


@pytest.fixture
def runtime():
    """moto with the release's tables, bucket, topic, task Lambdas and state machine."""
    with LocalRuntime() as local:
        yield local


@pytest.fixture
def developer_release():
    """A developer release of one synthetic commit per architecture across three regions."""
    return synthetic_release("developer", "43.20261125.dev.1", 3)


def _require(find: Callable[[], str]) -> str:
    """A Debian tool's path: skipped where it is missing, except under CI, where that fails."""
    try:
        return find()
    except ToolMissing as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}: CI must install it (.ci/run)")
        pytest.skip(f"{missing}; `make test` installs it where apt-get can")


def require_ostree_cli():
    """Debian's ostree CLI, which builds the tests' repositories."""
    from atomic_release.local.ostree_repo import ostree_cli

    return _require(ostree_cli)


def require_gpg_cli():
    """Debian's gpg, which signs the tests' commits."""
    from atomic_release.local.signing import gpg_cli

    return _require(gpg_cli)


@pytest.fixture
def ostree_cli():
    return require_ostree_cli()


@pytest.fixture(scope="session")
def signing_key():
    """The key the tests' repositories sign their commits with, made once per test session."""
    from atomic_release.local.signing import temporary_key

    require_gpg_cli()
    with temporary_key(name="atomic-release test signing key") as key:
        yield key


@pytest.fixture(scope="session")
def other_key():
    """A key no stream trusts."""
    from atomic_release.local.signing import temporary_key

    require_gpg_cli()
    with temporary_key(name="someone else") as key:
        yield key


@pytest.fixture
def ostree_repo(tmp_path, ostree_cli, signing_key):
    """A new archive repository made by the real ostree CLI, whose commits and summary are signed
    by ``signing_key``."""
    from atomic_release.local.ostree_repo import OstreeRepo

    return OstreeRepo(tmp_path / "repo", signing_key)


@pytest.fixture
def served(ostree_repo):
    """The repository served on 127.0.0.1."""
    from atomic_release.local.repo_server import RepoServer

    with RepoServer(ostree_repo.path) as server:
        yield server


DEVELOPER_REFS = {"x86_64": "fedora/x86_64/coreos/testing-devel", "arm64": "fedora/aarch64/coreos/testing-devel"}


@pytest.fixture
def developer_repo(tmp_path, ostree_repo, served):
    """The developer stream reading a real repository on 127.0.0.1, in a started local runtime:
    yields (repository, server, runtime)."""
    from atomic_release.local.demo_repo import configuration_for

    config = configuration_for(None, "developer", served.url, 2, tmp_path, ostree_repo.trusted_keys)
    with LocalRuntime(config=config) as local:
        yield ostree_repo, served, local


@pytest.fixture
def task_waiting(runtime, monkeypatch):
    """Starts executions that wait for a guest's report: each call returns (execution ARN, task token)."""
    # a real guest answers these tokens: the wait is real, as while a held guest works
    monkeypatch.setattr(patches.current, "guests_working", lambda: True)
    return waiting_executions(GUEST_REGION)


@pytest.fixture
def waiting(task_waiting) -> tuple[str, str]:
    """(execution ARN, task token) of one execution waiting for a guest's report."""
    return task_waiting()
