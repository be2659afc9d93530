"""The simulated builder, where the stream's repository is served, reads the commit's signature
there as the real builder's pull with gpg-verify does: a commit that no key it was given signed
is refused with BuilderFailed, naming it."""

import time

import pytest

from atomic_release.local import patches
from atomic_release.local.demo_repo import configuration_for
from atomic_release.local.runtime import LocalRuntime
from chalicelib.aws.clients import client
from functions import launch_builder
from tests.helpers import waiting_executions
from tests.integration.support import BASE, REFS, STREAM, TIMESTAMP, arch_task, invoke

REF = REFS["x86_64"]


@pytest.fixture
def served_stream(tmp_path, ostree_repo, served, monkeypatch):
    """A local runtime whose stream reads ``served`` and trusts ``ostree_repo``'s key, as a local
    release runs it; yields a function that builds a commit and returns its execution's end."""
    config = configuration_for(None, STREAM, served.url, 2, tmp_path, ostree_repo.trusted_keys)
    with LocalRuntime(config=config, repo_url=served.url) as runtime:
        monkeypatch.setattr(patches.current, "guests_working", lambda: True)  # the guest answers
        start = waiting_executions(BASE)

        def build(checksum: str) -> dict:
            execution, token = start()
            invoke(launch_builder, arch_task("x86_64", task_token=token,
                                             commit={"ref": REF, "checksum": checksum, "timestamp": TIMESTAMP}))
            runtime.simulator.boot_new_instances()
            return ended(execution)

        yield build


def ended(execution: str, timeout_s: float = 10) -> dict:
    sfn = client("stepfunctions", BASE)
    deadline = time.monotonic() + timeout_s
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the builder never reported"
        time.sleep(0.05)
    return described


def test_a_commit_signed_by_the_trusted_key_is_built(served_stream, ostree_repo):
    assert served_stream(ostree_repo.commit(REF, "43.1"))["status"] == "SUCCEEDED"


def test_a_commit_signed_by_another_key_is_refused_naming_it(served_stream, ostree_repo, other_key):
    checksum = ostree_repo.commit(REF, "43.2", signed=False)
    ostree_repo.sign(checksum, other_key)

    execution = served_stream(checksum)

    assert (execution["status"], execution["error"]) == ("FAILED", "BuilderFailed")
    assert execution["cause"].startswith(
        f"the signature of {REF} {checksum} did not verify against the stream's trusted keys: ")
    assert other_key.fingerprint in execution["cause"], execution["cause"]


def test_an_unsigned_commit_is_refused_naming_it(served_stream, ostree_repo):
    checksum = ostree_repo.commit(REF, "43.3", signed=False)

    execution = served_stream(checksum)

    assert (execution["status"], execution["error"]) == ("FAILED", "BuilderFailed")
    assert f"the signature of {REF} {checksum} did not verify" in execution["cause"]
