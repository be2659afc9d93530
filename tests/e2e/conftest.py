"""What the tests of the maintainers' API share: the app's test client, and a local runtime
whose arm64 builder is held at work until a test lets it go."""

import pytest
from chalice.test import Client

from app import app
from atomic_release.local.runtime import ROOT, LocalRuntime
from atomic_release.local.simulator import Fault
from chalicelib.aws.clients import client
from chalicelib.triggers import starter


@pytest.fixture
def api():
    with Client(app, project_dir=ROOT) as test_client:
        yield test_client


@pytest.fixture
def held_runtime():
    with LocalRuntime(faults=[Fault.parse("builder-hangs:arm64")]) as runtime:
        yield runtime
        runtime.simulator.finish_hung_guests()
        for execution in client("stepfunctions").list_executions(
                stateMachineArn=starter.state_machine_arn(), statusFilter="RUNNING")["executions"]:
            runtime.wait(execution["executionArn"])
