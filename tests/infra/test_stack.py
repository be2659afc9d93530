"""The packaged stack deployed into moto's CloudFormation (uploaded, transformed by
aws-sam-translator, created), and a release run on what it made."""

import json
import re
import warnings

import pytest

from atomic_release.local.demo_repo import configuration_for
from atomic_release.local.stack import StackRuntime
from chalicelib.aws.clients import client
from chalicelib.store import records
from tests.conftest import DEVELOPER_REFS
from tests.helpers import release_resources
from tests.webhook_requests import announcement, signed

pytestmark = pytest.mark.e2e
SCHEDULES = {"PollRepositories": "rate(15 minutes)", "BiweeklyCadence": "rate(14 days)",
             "SweepLeftovers": "rate(1 hour)", "RetireOldReleases": "rate(1 day)"}
EVENT_RULES = {"PungiOstreeCommit", "CoreosBuildState", "ReleaseExecutionEnded"}


@pytest.fixture
def stack(package, ostree_repo, served, tmp_path):
    config = configuration_for(None, "developer", served.url, 2, tmp_path, ostree_repo.trusted_keys)
    with warnings.catch_warnings():
        # moto's CloudFormation makes no API Gateway stage (the API is tested through chalice's client).
        warnings.filterwarnings("ignore", message="Tried to parse AWS::ApiGateway::Stage")
        with StackRuntime(config=config, package_dir=package) as runtime:
            yield runtime


def physical(stack: StackRuntime, logical_id: str) -> str:
    return stack.resources[logical_id]["PhysicalResourceId"]


def test_the_stack_makes_every_function_with_the_handler_and_environment_of_the_template(stack, sam_template):
    functions = stack.deployed_functions()
    declared = {name: r for name, r in sam_template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert len(functions) == len(declared) == 23
    for logical_id, resource in declared.items():
        deployed = functions[physical(stack, logical_id)]
        assert deployed["Handler"] == resource["Properties"]["Handler"]
        variables = deployed["Environment"]["Variables"]
        assert variables["RELEASES_TABLE"] == physical(stack, "ReleasesTable")
        assert variables["METADATA_BUCKET"] == physical(stack, "MetadataBucket")
        assert variables["RELEASE_TOPIC_ARN"] == physical(stack, "ReleaseTopic")
        assert variables["RELEASE_STATE_MACHINE_ARN"] == physical(stack, "ReleaseStateMachine")
        assert variables["RETENTION_DRY_RUN"] == "true"
        assert variables["PUBLIC_BASE_URL"] == f"https://{_distribution(stack)['DomainName']}/"


def test_the_state_machine_calls_the_stack_s_functions_logs_and_traces(stack):
    machine = client("stepfunctions").describe_state_machine(stateMachineArn=physical(stack, "ReleaseStateMachine"))
    definition = json.loads(machine["definition"])
    called = {state.get("Resource") for state in _states(definition)} - {None}
    arns = {f["FunctionArn"] for f in stack.deployed_functions().values()}
    assert re.findall(r"\$\{[A-Za-z0-9]+\}", machine["definition"]) == []
    assert called and {arn.split(".waitForTaskToken")[0] for arn in called
                       if arn.startswith("arn:aws:lambda")} <= arns
    assert machine["loggingConfiguration"]["level"] == "ERROR"
    assert machine["tracingConfiguration"] == {"enabled": True}


def test_the_stack_makes_the_tables_bucket_topic_rules_and_alarms(stack, sam_template):
    dynamodb = client("dynamodb")
    keys = {name: dynamodb.describe_table(TableName=physical(stack, name))["Table"]["KeySchema"]
            for name in ("ReleasesTable", "StateTable", "IdempotencyTable")}
    assert keys == {"ReleasesTable": [{"AttributeName": "release_id", "KeyType": "HASH"}],
                    "StateTable": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "IdempotencyTable": [{"AttributeName": "id", "KeyType": "HASH"}]}
    indexes = dynamodb.describe_table(TableName=physical(stack, "ReleasesTable"))["Table"]["GlobalSecondaryIndexes"]
    assert {index["IndexName"]: [key["AttributeName"] for key in index["KeySchema"]] for index in indexes} == {
        records.BY_STREAM: ["stream", "created_at"], records.BY_STATUS: ["status", "created_at"]}
    bucket = physical(stack, "MetadataBucket")
    policy = json.loads(client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    (allowed,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allowed["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allowed["Resource"] == f"arn:aws:s3:::{bucket}/streams/*"
    assert allowed["Condition"]["StringEquals"]["AWS:SourceArn"] == _distribution(stack)["ARN"]
    distribution = _distribution(stack)["DistributionConfig"]
    assert distribution["DefaultRootObject"] == "streams/index.html"
    assert distribution["Origins"]["Items"][0]["DomainName"] == f"{bucket}.s3.us-east-1.amazonaws.com"
    assert distribution["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert client("sns").get_topic_attributes(TopicArn=physical(stack, "ReleaseTopic"))["Attributes"]
    events = client("events")
    for function, rate in SCHEDULES.items():
        rule = events.describe_rule(Name=physical(stack, f"{function}{function}Event"))
        assert rule["ScheduleExpression"] == rate
    for function in EVENT_RULES:
        name = physical(stack, f"{function}{function}Event")
        (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
        assert target["Arn"].endswith(f":function:{physical(stack, function)}")
    ended = json.loads(events.describe_rule(Name=physical(stack, "ReleaseExecutionEndedReleaseExecutionEndedEvent"))
                       ["EventPattern"])
    assert ended["detail"]["stateMachineArn"] == [physical(stack, "ReleaseStateMachine")]
    alarms = client("cloudwatch").describe_alarms()["MetricAlarms"]
    topic = physical(stack, "AlarmTopic")
    assert all(a["AlarmActions"] == [topic] for a in alarms)
    assert {(a["MetricName"], a["Dimensions"][0]["Value"]) for a in alarms} == {
        ("ExecutionsFailed", physical(stack, "ReleaseStateMachine")),
        ("ExecutionsTimedOut", physical(stack, "ReleaseStateMachine")),
        *((metric, "atomic-release") for metric in ("UntrustedCommitsRefused", "PollErrors", "TaskFailures",
                                                    "MissingRegions", "RetentionErrors", "SweepErrors")),
        *(("Errors", physical(stack, name)) for name, resource in sam_template["Resources"].items()
          if resource["Type"] == "AWS::Serverless::Function")}


def test_a_commit_the_deployed_poller_finds_is_released_through_the_deployed_stack(stack, ostree_repo):
    checksums = {arch: ostree_repo.commit(ref, "43.20261126.dev.1") for arch, ref in DEVELOPER_REFS.items()}
    ostree_repo.update_summary()

    decisions = invoke(stack, "PollRepositories", scheduled_event(stack, "PollRepositories"))
    (decision,) = [d for d in decisions if d["stream"] == "developer"]
    assert decision["outcome"] == "started", decision
    finished = stack.wait(decision["execution_arn"])

    assert finished.status == "SUCCEEDED", finished.cause
    assert decision["execution_arn"].startswith(physical(stack, "ReleaseStateMachine").replace(":stateMachine:",
                                                                                               ":execution:"))
    record = client("dynamodb").get_item(TableName=physical(stack, "ReleasesTable"),
                                         Key={"release_id": {"S": decision["release_id"]}})["Item"]
    assert record["status"]["S"] == "SUCCEEDED"
    metadata = json.loads(client("s3").get_object(Bucket=physical(stack, "MetadataBucket"),
                                                  Key="streams/developer.json")["Body"].read())
    images = {region: entry["image"] for arch in metadata["architectures"].values()
              for region, entry in arch["images"]["aws"]["regions"].items()}
    assert set(images) == {"us-east-1", "us-east-2"}
    page = client("s3").get_object(Bucket=physical(stack, "MetadataBucket"), Key="streams/developer/index.html")
    assert '<span data-testid="current-version">43.20261126.dev.1</span>' in page["Body"].read().decode()
    for region, image_id in images.items():
        assert client("ec2", region).describe_images(ImageIds=[image_id])["Images"][0]["Public"] is True
    assert all(checksum in json.dumps(record) for checksum in checksums.values())
    left = release_resources(decision["release_id"], ["us-east-1", "us-east-2"])
    assert left["instances"] == [] and left["volumes"] == [], left


def test_the_deployed_api_starts_a_release_the_webhook_announces_signed_with_the_stack_s_secret(stack, ostree_repo):
    checksums = {arch: ostree_repo.commit(ref, "43.20261126.dev.2") for arch, ref in DEVELOPER_REFS.items()}
    ostree_repo.update_summary()
    key = client("secretsmanager").get_secret_value(SecretId=physical(stack, "WebhookSecret"))["SecretString"]
    request = signed(announcement(checksums), "delivery-1", secret=key)

    answer = invoke(stack, "APIHandler", proxy_event("POST", "/hooks/ostree", request["headers"], request["body"]))

    assert answer["statusCode"] == 202, answer
    started = json.loads(answer["body"])
    assert stack.wait(started["execution_arn"]).status == "SUCCEEDED"
    forged = signed(announcement(checksums), "delivery-2", secret="whsec_bm90IHRoZSBzdGFjaydzIHNlY3JldCBhdCBhbGw=")
    refused = invoke(stack, "APIHandler", proxy_event("POST", "/hooks/ostree", forged["headers"], forged["body"]))
    assert refused["statusCode"] == 401


def _distribution(stack: StackRuntime) -> dict:
    return client("cloudfront").get_distribution(Id=physical(stack, "Distribution"))["Distribution"]


def invoke(stack: StackRuntime, function: str, event: dict) -> dict:
    answer = client("lambda").invoke(FunctionName=physical(stack, function), Payload=json.dumps(event))
    assert "FunctionError" not in answer, answer
    return json.loads(answer["Payload"].read())


def proxy_event(method: str, path: str, headers: dict, body: bytes) -> dict:
    """What API Gateway's proxy integration sends the API function."""
    return {"resource": path, "path": path, "httpMethod": method, "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
            "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
            "requestContext": {"resourcePath": path, "httpMethod": method, "stage": "api", "path": f"/api{path}",
                               "identity": {"sourceIp": "192.0.2.1"}, "requestId": "request-1"},
            "body": body.decode(), "isBase64Encoded": False}


def scheduled_event(stack: StackRuntime, function: str) -> dict:
    """What EventBridge sends the function when its schedule rule fires."""
    rule = client("events").describe_rule(Name=physical(stack, f"{function}{function}Event"))
    return {"version": "0", "id": "5f1c3c2e-0000-4000-8000-000000000000", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": rule["Arn"].split(":")[4], "time": "2026-11-26T00:00:00Z",
            "region": "us-east-1", "resources": [rule["Arn"]], "detail": {}}


def _states(definition: dict):
    for state in definition["States"].values():
        yield state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        if "ItemProcessor" in state or "Iterator" in state:
            yield from _states(state.get("ItemProcessor") or state["Iterator"])
