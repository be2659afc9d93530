"""What tests ask of AWS after a release: what it left behind, and what it published; how they
wait for work under way in other threads; and how a task Lambda's response is lost."""

import json
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from atomic_release.local import patches
from atomic_release.local.runtime import ACCOUNT, APP_NAME, HANG_GUARD_S, LocalRuntime
from chalicelib.aws.clients import client
from chalicelib.aws.ec2 import LIVE_INSTANCE_STATES
from chalicelib.core.tags import RELEASE


def _tagged(release_id: str) -> list[dict]:
    return [{"Name": f"tag:{RELEASE}", "Values": [release_id]}]


def release_resources(release_id: str, regions: list[str]) -> dict[str, list[str]]:
    """Every live instance, volume, snapshot and image tagged with the release, by kind."""
    found: dict[str, list[str]] = {"instances": [], "volumes": [], "snapshots": [], "images": []}
    for region in regions:
        ec2 = client("ec2", region)
        reservations = ec2.describe_instances(Filters=[
            *_tagged(release_id), {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}])["Reservations"]
        found["instances"] += [i["InstanceId"] for r in reservations for i in r["Instances"]]
        found["volumes"] += [v["VolumeId"] for v in ec2.describe_volumes(Filters=_tagged(release_id))["Volumes"]]
        found["snapshots"] += [s["SnapshotId"] for s in ec2.describe_snapshots(
            OwnerIds=["self"], Filters=_tagged(release_id))["Snapshots"]]
        found["images"] += [i["ImageId"] for i in ec2.describe_images(
            Owners=["self"], Filters=_tagged(release_id))["Images"]]
    return found


def account_inventory(regions: list[str]) -> dict[str, set[str]]:
    """Everything in the account, tagged or not: a leak without tags shows up here."""
    found: dict[str, set[str]] = {"instances": set(), "volumes": set(), "snapshots": set(), "images": set()}
    for region in regions:
        ec2 = client("ec2", region)
        reservations = ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}])["Reservations"]
        found["instances"] |= {i["InstanceId"] for r in reservations for i in r["Instances"]}
        found["volumes"] |= {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
        found["snapshots"] |= {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
        found["images"] |= {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    return found


def nothing(found: dict) -> bool:
    return not any(found.values())


T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, running: str | None = None) -> T:
    """Poll ``condition`` until it holds, and return what it returned. What a test waits for is
    work under way in other threads, which comes however busy the machine: so no deadline but a
    guard against a hang. Should the execution ``running`` end first, the wait ends at once."""
    guard = time.monotonic() + HANG_GUARD_S
    while not (value := condition()):
        if running and _ended(running):
            value = condition()   # it may have come with the end
            assert value, f"{what}: not so when execution {running} ended"
            return value
        assert time.monotonic() < guard, f"{what}: not so after {HANG_GUARD_S} s, a hang"
        time.sleep(0.05)
    return value


def _ended(execution_arn: str) -> bool:
    return client("stepfunctions").describe_execution(executionArn=execution_arn)["status"] != "RUNNING"


# Lambda's own failure once the function has run (its response lost on the way back): the ASL
# retries it, and a retried .waitForTaskToken task gets a new task token.
LambdaServiceException = type("Lambda.ServiceException", (Exception,), {})


def lose_the_first_response(runtime: LocalRuntime, function: str, arch: str) -> list[dict]:
    """In ``runtime``, the first invocation of the task ``function`` for ``arch`` does its work,
    then fails as Lambda itself would; what each invocation was given is returned, as it comes."""
    name = f"{APP_NAME}-{runtime.stage}-{function}"
    handler = patches.current.handlers[name]
    events: list[dict] = []

    def first_response_lost(event, context):
        result = handler(event, context)
        events.append(event)
        if event.get("arch") == arch and sum(e.get("arch") == arch for e in events) == 1:
            raise LambdaServiceException("Service error: the response was lost")
        return result

    patches.current.handlers[name] = first_response_lost
    return events


def waiting_executions(region: str):
    """A state machine whose executions wait in a ``.waitForTaskToken`` task, the token going out
    through SQS as a launch task's goes out in user data. Returns a function that starts one and
    returns (execution ARN, task token)."""
    sqs = client("sqs", region)
    queue = sqs.create_queue(QueueName="task-tokens")["QueueUrl"]
    definition = {"StartAt": "Guest", "States": {"Guest": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
        "HeartbeatSeconds": 900, "TimeoutSeconds": 3600, "End": True}}}
    sfn = client("stepfunctions", region)
    machine = sfn.create_state_machine(name="guest-report", definition=json.dumps(definition),
                                       roleArn=f"arn:aws:iam::{ACCOUNT}:role/guest-report")["stateMachineArn"]

    def start() -> tuple[str, str]:
        execution = sfn.start_execution(stateMachineArn=machine, name=f"guest-{uuid.uuid4().hex}",
                                        input="{}")["executionArn"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=queue).get("Messages")
            if messages:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])
                return execution, json.loads(messages[0]["Body"])["token"]
            time.sleep(0.05)
        raise AssertionError("the execution sent no task token")

    return start
