"""Starting a release: every trigger goes through chalicelib.triggers.starter.start_release."""

import json
import os
import threading

import pytest

from atomic_release.local import patches
from chalicelib.aws.clients import client
from chalicelib.core.errors import ConfigError, InvalidReleaseInput
from chalicelib.triggers.starter import start_release

pytestmark = pytest.mark.e2e


@pytest.fixture
def held_machine(runtime):
    """A state machine whose one task waits until the test lets it go, so a release can be
    seen in progress."""
    gate = threading.Event()
    role = client("iam").get_role(RoleName="atomic-release-local")["Role"]["Arn"]
    arn = client("lambda").create_function(
        FunctionName="held", Runtime="python3.11", Role=role, Handler="app.held",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})["FunctionArn"]
    patches.current.handlers["held"] = lambda event, context: gate.wait(30) and {}
    machine = client("stepfunctions").create_state_machine(
        name="held", roleArn=role, definition=json.dumps(
            {"StartAt": "Hold", "States": {"Hold": {"Type": "Task", "Resource": arn, "End": True}}}))
    yield machine["stateMachineArn"], gate
    gate.set()


def test_a_release_in_progress_is_reported_with_its_execution(runtime, developer_release, held_machine):
    machine, gate = held_machine
    started = start_release(developer_release, machine)
    again = start_release(developer_release, machine)

    assert started.outcome == "started"
    assert again.outcome == "in-progress"
    assert again.execution_arn == started.execution_arn
    gate.set()
    assert runtime.wait(started.execution_arn).status == "SUCCEEDED"
    assert start_release(developer_release, machine).outcome == "already-released"
    assert len(client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]) == 1


def test_bad_releases_start_nothing(runtime, developer_release):
    machine = os.environ["RELEASE_STATE_MACHINE_ARN"]
    unknown = developer_release.model_copy(update={"stream": "nightly"})
    wrong_regions = developer_release.model_copy(update={"regions": ["eu-west-1"]})

    with pytest.raises(ConfigError):
        start_release(unknown, machine)
    with pytest.raises(InvalidReleaseInput, match="regions: must start with the stream's base region"):
        start_release(wrong_regions, machine)
    assert client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []
