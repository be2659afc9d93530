"""What the end-to-end tests share: the app's test client, the developer stream's commits
announced through it, the release state machine's executions, and a local runtime whose arm64
builder is held at work until a test lets it go."""

import pytest
from chalice.test import Client

from app import app
from atomic_release.local.runtime import ROOT, LocalRuntime
from atomic_release.local.simulator import Fault
from chalicelib.aws.clients import client
from chalicelib.triggers import starter
from tests.conftest import DEVELOPER_REFS


def executions() -> list[dict]:
    """The release state machine's executions."""
    return client("stepfunctions").list_executions(stateMachineArn=starter.state_machine_arn())["executions"]


@pytest.fixture
def api():
    with Client(app, project_dir=ROOT) as test_client:
        yield test_client


@pytest.fixture
def released(developer_repo):
    """Commits of one version on both refs; yields (checksums, runtime, http client)."""
    repo, _, runtime = developer_repo
    checksums = {arch: repo.commit(ref, "43.7") for arch, ref in DEVELOPER_REFS.items()}
    repo.update_summary()
    with Client(app, project_dir=ROOT) as chalice:
        yield checksums, runtime, chalice


@pytest.fixture
def held_runtime():
    with LocalRuntime(faults=[Fault.parse("builder-hangs:arm64")]) as runtime:
        yield runtime
        runtime.simulator.finish_hung_guests()
        for execution in client("stepfunctions").list_executions(
                stateMachineArn=starter.state_machine_arn(), statusFilter="RUNNING")["executions"]:
            runtime.wait(execution["executionArn"])
