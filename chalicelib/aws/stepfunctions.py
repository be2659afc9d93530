"""Step Functions adapter: the release state machine's executions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.aws.errors import code_of

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.type_defs import (
        DescribeExecutionOutputTypeDef,
        GetExecutionHistoryInputTypeDef,
        HistoryEventTypeDef,
    )


def describe_execution(arn: str) -> DescribeExecutionOutputTypeDef:
    """DescribeExecution's answer; AWS's refusal (ExecutionDoesNotExist too) is raised."""
    return client("stepfunctions").describe_execution(executionArn=arn)


def execution(arn: str) -> DescribeExecutionOutputTypeDef | None:
    """DescribeExecution's answer, or None when no such execution exists."""
    try:
        return describe_execution(arn)
    except ClientError as error:
        if code_of(error) == "ExecutionDoesNotExist":
            return None
        raise


def execution_status(arn: str) -> str | None:
    described = execution(arn)
    return described["status"] if described else None


def start_execution(machine_arn: str, name: str, input_json: str) -> bool:
    """Start an execution; False when one of that name exists already."""
    try:
        client("stepfunctions").start_execution(stateMachineArn=machine_arn, name=name, input=input_json)
    except ClientError as error:
        if code_of(error) != "ExecutionAlreadyExists":
            raise
        return False
    return True


def stop_execution(arn: str, error: str, cause: str) -> None:
    client("stepfunctions").stop_execution(executionArn=arn, error=error, cause=cause)


def execution_history(arn: str) -> list[HistoryEventTypeDef]:
    """Every event of the execution, oldest first."""
    sfn = client("stepfunctions")
    events: list[HistoryEventTypeDef] = []
    token = None
    while True:
        request: GetExecutionHistoryInputTypeDef = {"executionArn": arn, "maxResults": 1000}
        if token:
            request["nextToken"] = token
        page = sfn.get_execution_history(**request)
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            return events


def newest_events(arn: str, count: int) -> list[HistoryEventTypeDef]:
    """The execution's newest ``count`` events, newest first: one read."""
    return client("stepfunctions").get_execution_history(executionArn=arn, maxResults=count,
                                                         reverseOrder=True)["events"]


def bounded_history(arn: str, page_size: int, newest_pages: int) -> tuple[list[HistoryEventTypeDef], bool]:
    """The execution's oldest page of events and up to ``newest_pages`` of its newest, oldest
    first, however long it ran: how it started and where it stands, without the middle of a long
    wait. True when events between them were left out."""
    sfn = client("stepfunctions")
    oldest = sfn.get_execution_history(executionArn=arn, maxResults=page_size)
    events = oldest["events"]
    if not oldest.get("nextToken"):
        return events, False
    newest: list[HistoryEventTypeDef] = []
    request: GetExecutionHistoryInputTypeDef = {"executionArn": arn, "maxResults": page_size, "reverseOrder": True}
    for _ in range(newest_pages):
        page = sfn.get_execution_history(**request)
        newest.extend(page["events"])
        if not page.get("nextToken") or page["events"][-1]["id"] <= events[-1]["id"]:
            break
        request["nextToken"] = page["nextToken"]
    last_read = events[-1]["id"]
    later = sorted((event for event in newest if event["id"] > last_read), key=lambda event: event["id"])
    return events + later, bool(later) and later[0]["id"] > last_read + 1


# A task-token worker's three answers (the guests' calls, which the local runtime passes on).

def send_task_success(task_token: str, output: str, region: str | None = None) -> None:
    client("stepfunctions", region).send_task_success(taskToken=task_token, output=output)


def send_task_failure(task_token: str, error: str | None = None, cause: str | None = None,
                      region: str | None = None) -> None:
    """SendTaskFailure; an error or cause left out is left out of the request, as AWS allows."""
    details = {name: value for name, value in (("error", error), ("cause", cause)) if value is not None}
    client("stepfunctions", region).send_task_failure(taskToken=task_token, **details)


def send_task_heartbeat(task_token: str, region: str | None = None) -> None:
    client("stepfunctions", region).send_task_heartbeat(taskToken=task_token)
