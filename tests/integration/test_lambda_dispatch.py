"""The task Lambdas as the state machine reaches them: invoked through moto's Lambda."""

import json

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.store import records
from tests.integration.support import EXECUTION_ARN, RELEASE_ID, record_count, release_input

TASKS = ["prepare", "launch_builder", "register_image", "launch_qa", "evaluate_qa", "cleanup_arch",
         "copy_to_region", "follow_copies", "announce", "finalize", "fail_release"]


def invoke_lambda(name: str, payload: dict) -> tuple[str | None, dict]:
    response = client("lambda").invoke(FunctionName=f"atomic-release-local-{name}",
                                       Payload=json.dumps(payload).encode())
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def test_every_task_is_registered_as_a_lambda(runtime):
    names = {f["FunctionName"] for f in client("lambda").list_functions()["Functions"]}

    assert {f"atomic-release-local-{task}" for task in TASKS} <= names


def test_invoking_a_function_that_does_not_exist_is_resource_not_found(runtime):
    with pytest.raises(ClientError) as raised:
        client("lambda").invoke(FunctionName="atomic-release-local-no_such_task", Payload=b"{}")

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_task_invoked_through_lambda_runs_its_handler(runtime):
    error, plan = invoke_lambda("prepare", {"release": release_input(), "execution_arn": EXECUTION_ARN})

    assert error is None
    assert plan["release_id"] == RELEASE_ID
    assert records.get(RELEASE_ID).execution_arn == EXECUTION_ARN


def test_a_bad_payload_is_an_unhandled_invalid_release_input_for_every_task(runtime):
    outcomes = {task: invoke_lambda(task, {"unexpected": True}) for task in TASKS}

    assert {task: error for task, (error, _) in outcomes.items()} == {task: "Unhandled" for task in TASKS}
    assert {task: payload["errorType"] for task, (_, payload) in outcomes.items()} == \
        {task: "InvalidReleaseInput" for task in TASKS}
    for task, (_, payload) in outcomes.items():
        assert "unexpected: Extra inputs are not permitted" in payload["errorMessage"], task
    assert record_count() == 0


def test_a_domain_error_keeps_its_class_name_as_error_type(runtime):
    """The state machine's Retry and Catch match on errorType."""
    error, payload = invoke_lambda("prepare", {"release": release_input(stream="nightly"),
                                               "execution_arn": EXECUTION_ARN})

    assert error == "Unhandled"
    assert payload["errorType"] == "ConfigError"
    assert "unknown stream 'nightly'" in payload["errorMessage"]
