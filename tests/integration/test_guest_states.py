"""The Step Functions endpoint a real guest reports to: requests signed by curl's --aws-sigv4 (as
the guest scripts sign them) and by botocore complete a task token a moto execution waits on;
a wrong signature, key or session token is refused before anything reaches Step Functions."""

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from email.message import Message

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from atomic_release.local.guests.credentials import CredentialRegistry, SessionCredentials
from atomic_release.local.guests.states import HttpRequest, Refused, StatesEndpoint, authenticate, fingerprint
from chalicelib.aws.clients import client

REGION = "us-east-1"
REPORT = json.dumps({"instance_id": "i-0a1b2c3d4e5f60718", "checks": {"boot": "pass", "units": "pass"}})


@pytest.fixture
def credentials() -> SessionCredentials:
    return SessionCredentials.generate()


@pytest.fixture
def states(runtime, credentials):
    registry = CredentialRegistry()
    registry.add(credentials)
    with StatesEndpoint(registry) as endpoint:
        yield endpoint


def curl(endpoint: StatesEndpoint, target: str, body: dict | str, access_key_id: str, secret: str,
         session_token: str, region: str = REGION, service: str = "states") -> tuple[int, dict]:
    """One request signed by curl's own SigV4, as the guest scripts send it: (status, JSON body)."""
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--aws-sigv4", f"aws:amz:{region}:{service}",
         "--user", f"{access_key_id}:{secret}", "-H", f"x-amz-security-token: {session_token}",
         "-H", "Content-Type: application/x-amz-json-1.0", "-H", f"X-Amz-Target: AWSStepFunctions.{target}",
         "--data", body if isinstance(body, str) else json.dumps(body), "-w", "\n%{http_code}", f"{endpoint.url}/"],
        capture_output=True, text=True, check=True, timeout=30)
    answer, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(answer)


def signed(endpoint, credentials: SessionCredentials, target: str, body: dict | str, **changes) -> tuple[int, dict]:
    keys = {"access_key_id": credentials.access_key_id, "secret": credentials.secret_access_key,
            "session_token": credentials.token, **changes}
    return curl(endpoint, target, body, **keys)


def finished(execution_arn: str, timeout_s: float = 10) -> dict:
    sfn = client("stepfunctions", REGION)
    deadline = time.monotonic() + timeout_s
    while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            raise AssertionError(f"{execution_arn} still RUNNING after {timeout_s} s")
        time.sleep(0.05)
    return described


def status_of(execution_arn: str) -> str:
    return client("stepfunctions", REGION).describe_execution(executionArn=execution_arn)["status"]


def test_a_curl_signed_success_completes_the_waiting_execution_with_its_output(states, credentials, waiting):
    execution, token = waiting
    assert signed(states, credentials, "SendTaskSuccess", {"taskToken": token, "output": REPORT}) == (200, {})
    described = finished(execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == json.loads(REPORT)
    [call] = states.calls
    assert (call.target, call.region, call.access_key_id, call.token_fingerprint, call.outcome, call.output) == (
        "AWSStepFunctions.SendTaskSuccess", REGION, credentials.access_key_id, fingerprint(token), "Success", REPORT)


def test_a_wrong_secret_is_refused_and_the_token_stays_unanswered(states, credentials, waiting):
    execution, token = waiting
    status, error = signed(states, credentials, "SendTaskSuccess", {"taskToken": token, "output": REPORT},
                           secret=SessionCredentials.generate().secret_access_key)
    assert (status, error["__type"]) == (403, "InvalidSignatureException")
    time.sleep(0.3)
    assert status_of(execution) == "RUNNING"
    assert [(c.outcome, c.token_fingerprint) for c in states.calls] == [
        ("InvalidSignatureException", fingerprint(token))]
    # the token is still the execution's to complete, by a request signed right
    assert signed(states, credentials, "SendTaskSuccess", {"taskToken": token, "output": REPORT})[0] == 200
    assert finished(execution)["status"] == "SUCCEEDED"


@pytest.mark.parametrize("change", ["session_token", "access_key_id"])
def test_an_unknown_key_or_session_token_is_refused(states, credentials, waiting, change):
    execution, token = waiting
    stranger = SessionCredentials.generate()
    wrong = {"session_token": stranger.token} if change == "session_token" else {
        "access_key_id": stranger.access_key_id}
    status, error = signed(states, credentials, "SendTaskSuccess", {"taskToken": token, "output": REPORT}, **wrong)
    assert (status, error["__type"]) == (403, "UnrecognizedClientException")
    time.sleep(0.3)
    assert status_of(execution) == "RUNNING"


def test_a_signature_for_another_service_is_refused(states, credentials, waiting):
    _, token = waiting
    status, error = signed(states, credentials, "SendTaskHeartbeat", {"taskToken": token}, service="lambda")
    assert (status, error["__type"]) == (403, "InvalidSignatureException")


def test_a_failure_fails_the_execution_with_the_guests_error_and_cause(states, credentials, waiting):
    execution, token = waiting
    cause = "unit broken.service failed"
    assert signed(states, credentials, "SendTaskFailure",
                  {"taskToken": token, "error": "QAFailed", "cause": cause}) == (200, {})
    described = finished(execution)
    assert (described["status"], described.get("error"), described.get("cause")) == ("FAILED", "QAFailed", cause)
    assert (states.calls[0].error, states.calls[0].cause) == ("QAFailed", cause)


def test_a_heartbeat_keeps_the_task_waiting_for_its_answer(states, credentials, waiting):
    execution, token = waiting
    assert signed(states, credentials, "SendTaskHeartbeat", {"taskToken": token}) == (200, {})
    time.sleep(0.3)
    assert status_of(execution) == "RUNNING"
    assert signed(states, credentials, "SendTaskSuccess", {"taskToken": token, "output": REPORT})[0] == 200
    assert finished(execution)["status"] == "SUCCEEDED"


def test_an_unknown_token_gets_step_functions_own_error(states, credentials, runtime):
    status, error = signed(states, credentials, "SendTaskSuccess", {"taskToken": "no-such-token", "output": "{}"})
    assert (status, error["__type"]) == (400, "InvalidToken")
    assert error["message"]
    assert states.calls[0].outcome == "InvalidToken"


def test_only_the_three_task_calls_are_served(states, credentials, runtime):
    status, error = signed(states, credentials, "StartExecution", {"stateMachineArn": "arn", "input": "{}"})
    assert (status, error["__type"]) == (400, "UnknownOperationException")


def test_a_missing_member_is_a_validation_error(states, credentials, runtime):
    status, error = signed(states, credentials, "SendTaskSuccess", {"taskToken": "t"})
    assert (status, error["__type"]) == (400, "ValidationException")


def test_botocore_signed_calls_reach_the_endpoint_over_http(states, credentials, waiting):
    """A boto3 client pointed at the endpoint: moto's mock leaves 127.0.0.1 alone, so the request
    really crosses HTTP and is checked like the guest's (the recorded call shows it arrived)."""
    execution, token = waiting
    guest = boto3.session.Session().client(
        "stepfunctions", region_name=REGION, endpoint_url=states.url, aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key, aws_session_token=credentials.token)
    with pytest.raises(ClientError) as refused:
        guest.send_task_success(taskToken="no-such-token", output="{}")
    assert refused.value.response["Error"]["Code"] == "InvalidToken"
    guest.send_task_heartbeat(taskToken=token)
    guest.send_task_success(taskToken=token, output=REPORT)
    assert finished(execution)["status"] == "SUCCEEDED"
    assert [(c.target.rsplit(".", 1)[1], c.outcome) for c in states.calls] == [
        ("SendTaskSuccess", "InvalidToken"), ("SendTaskHeartbeat", "Success"), ("SendTaskSuccess", "Success")]


def test_expired_credentials_are_refused(states, runtime):
    expired = SessionCredentials.generate(lifetime=timedelta(seconds=-1))
    states.registry.add(expired)
    status, error = signed(states, expired, "SendTaskHeartbeat", {"taskToken": "t"})
    assert (status, error["__type"]) == (403, "ExpiredTokenException")


def test_a_body_that_is_not_json_is_a_serialization_error(states, credentials, runtime):
    status, error = signed(states, credentials, "SendTaskHeartbeat", "taskToken=t")
    assert (status, error["__type"]) == (400, "SerializationException")


def test_a_signature_is_good_for_five_minutes_either_way(credentials):
    """Signed by botocore as a boto3 client signs, checked at other times than it was made."""
    registry = CredentialRegistry()
    registry.add(credentials)
    request = AWSRequest(method="POST", url="http://10.0.2.2:8080/", data=b'{"taskToken": "t"}',
                         headers={"Content-Type": "application/x-amz-json-1.0",
                                  "X-Amz-Target": "AWSStepFunctions.SendTaskHeartbeat"})
    SigV4Auth(Credentials(credentials.access_key_id, credentials.secret_access_key, credentials.token),
              "states", "eu-west-1").add_auth(request)
    headers = Message()
    for name, value in [("Host", "10.0.2.2:8080"), *request.headers.items()]:
        headers[name] = value
    arrived = HttpRequest("POST", "/", headers, request.body)
    signed_at = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert authenticate(arrived, registry, signed_at + timedelta(minutes=4)) == (credentials.access_key_id,
                                                                                 "eu-west-1")
    for skew in (timedelta(minutes=6), timedelta(minutes=-6)):
        with pytest.raises(Refused) as refused:
            authenticate(arrived, registry, signed_at + skew)
        assert refused.value.error_type == "InvalidSignatureException"
