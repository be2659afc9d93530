"""A Step Functions endpoint for guests, speaking AWS's wire protocol (awsJson1_0) for the three
calls a task-token worker makes: SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat.

Each request's SigV4 signature is checked, with botocore's signer, against the credentials the
metadata servers handed out (a ``CredentialRegistry``), so a guest that signs wrongly fails here
as it would against AWS. An authentic call goes on to Step Functions through the project's
client factory, in the region its credential scope names (locally: moto's waiting execution)."""

import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ParamValidationError

from atomic_release.local.guests.credentials import CredentialRegistry
from atomic_release.local.serving import BackgroundServer
from chalicelib.aws import stepfunctions
from chalicelib.aws.errors import code_of, describe, message_of

SERVICE = "states"
CONTENT_TYPE = "application/x-amz-json-1.0"
MAX_CLOCK_SKEW = timedelta(minutes=5)  # AWS refuses a signature older or newer than this
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[^/\s]+)/(?P<service>[^/\s]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<headers>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})\s*$")

_OPERATIONS: dict[str, Callable[[dict, str], None]] = {
    "AWSStepFunctions.SendTaskSuccess":
        lambda body, region: stepfunctions.send_task_success(body["taskToken"], body["output"], region),
    "AWSStepFunctions.SendTaskFailure":
        lambda body, region: stepfunctions.send_task_failure(
            body["taskToken"], body.get("error"), body.get("cause"), region),
    "AWSStepFunctions.SendTaskHeartbeat":
        lambda body, region: stepfunctions.send_task_heartbeat(body["taskToken"], region),
}


class Refused(Exception):
    """An AWS error answer: the HTTP status and the ``__type`` and message of its JSON body."""

    def __init__(self, status: HTTPStatus, error_type: str, message: str):
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


def _invalid_token() -> Refused:
    return Refused(HTTPStatus.FORBIDDEN, "UnrecognizedClientException",
                   "The security token included in the request is invalid.")


def _bad_signature(message: str = "The request signature we calculated does not match the signature you "
                                  "provided. Check your AWS Secret Access Key and signing method. Consult the "
                                  "service documentation for details.") -> Refused:
    return Refused(HTTPStatus.FORBIDDEN, "InvalidSignatureException", message)


@dataclass(frozen=True)
class StatesCall:
    """One request as the endpoint saw it; ``outcome`` is "Success" or the error's ``__type``."""

    target: str
    region: str | None
    access_key_id: str | None
    token_fingerprint: str | None
    outcome: str
    output: str | None = None
    error: str | None = None
    cause: str | None = None


def fingerprint(task_token: str) -> str:
    """A short name for a task token, safe to print (the token itself is a credential)."""
    return hashlib.sha256(task_token.encode()).hexdigest()[:16]


class _SignedHeadersOnly(SigV4Auth):
    """botocore's SigV4 over exactly the headers the client says it signed."""

    def __init__(self, credentials: Credentials, service: str, region: str, signed: HTTPHeaders):
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed


class _S3SignedHeadersOnly(_SignedHeadersOnly, S3SigV4Auth):
    """The same, as S3 signs: the path as it is sent, unnormalized."""


@dataclass(frozen=True)
class HttpRequest:
    """A request as it arrived: what a signature is checked over."""

    method: str
    path: str
    headers: Message
    body: bytes


def authenticate(request: HttpRequest, registry: CredentialRegistry, now: datetime | None = None, *,
                 service: str = SERVICE) -> tuple[str, str]:
    """The (access key id, region) of a request correctly signed for ``service``; Refused
    otherwise (with Step Functions' error types: an endpoint of another service renames them)."""
    authorization = request.headers.get("Authorization")
    if not authorization:
        raise Refused(HTTPStatus.FORBIDDEN, "MissingAuthenticationTokenException", "Missing Authentication Token")
    parsed = _AUTHORIZATION.match(authorization)
    if not parsed:
        raise Refused(HTTPStatus.FORBIDDEN, "IncompleteSignatureException",
                      f"Authorization header requires Credential, SignedHeaders and Signature: {authorization!r}")
    credentials = registry.get(parsed["key"])
    if credentials is None or not hmac.compare_digest(request.headers.get("x-amz-security-token", ""),
                                                      credentials.token):
        raise _invalid_token()
    if credentials.expired(now):
        raise Refused(HTTPStatus.FORBIDDEN, "ExpiredTokenException",
                      "The security token included in the request is expired")
    timestamp = request.headers.get("X-Amz-Date", "")
    _check_scope(service, parsed["service"], parsed["date"], timestamp, now or datetime.now(UTC))
    signed = HTTPHeaders()
    for name in parsed["headers"].split(";"):
        for value in request.headers.get_all(name) or []:
            signed[name] = value
    aws_request = AWSRequest(method=request.method, url=f"http://{request.headers.get('Host', '')}{request.path}",
                             data=request.body)
    aws_request.context["timestamp"] = timestamp
    signer = (_S3SignedHeadersOnly if service == "s3" else _SignedHeadersOnly)(Credentials(credentials.access_key_id, credentials.secret_access_key,
                                            credentials.token), service, parsed["region"], signed)
    expected = signer.signature(signer.string_to_sign(aws_request, signer.canonical_request(aws_request)),
                                aws_request)
    if not hmac.compare_digest(expected, parsed["signature"]):
        raise _bad_signature()
    return parsed["key"], parsed["region"]


def _check_scope(service: str, scoped: str, date: str, timestamp: str, now: datetime) -> None:
    if scoped != service:
        raise _bad_signature(f"Credential should be scoped to correct service: '{service}'.")
    try:
        signed_at = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise Refused(HTTPStatus.FORBIDDEN, "IncompleteSignatureException",
                      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.") from None
    if timestamp[:8] != date:
        raise _bad_signature("Credential should be scoped to a valid date.")
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise _bad_signature(f"Signature expired: {timestamp} is now earlier or later than "
                             f"{(now - MAX_CLOCK_SKEW):%Y%m%dT%H%M%SZ} - {(now + MAX_CLOCK_SKEW):%Y%m%dT%H%M%SZ}")


class StatesEndpoint(BackgroundServer):
    """``with StatesEndpoint(registry) as states: states.url``; ``states.calls`` lists every request."""

    def __init__(self, registry: CredentialRegistry):
        self.registry = registry
        self.calls: list[StatesCall] = []
        self._calls_lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"endpoint": self})
        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), handler), "states-endpoint")

    def record(self, call: StatesCall) -> None:
        with self._calls_lock:
            self.calls.append(call)

    def answer(self, request: HttpRequest) -> tuple[HTTPStatus, dict]:
        """The status and JSON body for one request, recorded in ``calls`` whatever its outcome:
        a refused call is recorded with the key, region and token it claimed."""
        status, answer, outcome = self._perform(request)
        claim = _AUTHORIZATION.match(request.headers.get("Authorization") or "")
        body = _json_object(request.body) or {}
        token = body.get("taskToken")
        self.record(StatesCall(target=request.headers.get("X-Amz-Target", ""),
                               region=claim["region"] if claim else None,
                               access_key_id=claim["key"] if claim else None, outcome=outcome,
                               token_fingerprint=fingerprint(token) if isinstance(token, str) else None,
                               output=body.get("output"), error=body.get("error"), cause=body.get("cause")))
        return status, answer

    def _perform(self, request: HttpRequest) -> tuple[HTTPStatus, dict, str]:
        """(status, JSON body, outcome): "Success" or the ``__type`` of the error answered."""
        try:
            _, region = authenticate(request, self.registry)
            body = _json_object(request.body)
            if body is None:
                raise Refused(HTTPStatus.BAD_REQUEST, "SerializationException", "the body is not a JSON object")
            target = request.headers.get("X-Amz-Target", "")
            if target not in _OPERATIONS:
                raise Refused(HTTPStatus.BAD_REQUEST, "UnknownOperationException", f"Unknown operation {target!r}")
            _OPERATIONS[target](body, region)
            return HTTPStatus.OK, {}, "Success"
        except Refused as refused:
            return refused.status, _error(refused.error_type, refused.message), refused.error_type
        except ClientError as error:
            return HTTPStatus.BAD_REQUEST, _error(code_of(error), message_of(error)), code_of(error)
        except (KeyError, ParamValidationError) as invalid:
            message = f"missing member {invalid}" if isinstance(invalid, KeyError) else str(invalid)
            return HTTPStatus.BAD_REQUEST, _error("ValidationException", message), "ValidationException"
        except Exception as failure:  # the guest gets AWS's answer to a fault, not a dropped connection
            return HTTPStatus.INTERNAL_SERVER_ERROR, _error("InternalFailure", describe(failure)), "InternalFailure"


def _json_object(raw: bytes) -> dict | None:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error(error_type: str, message: str) -> dict:
    return {"__type": error_type, "message": message}


class _Handler(BaseHTTPRequestHandler):
    endpoint: StatesEndpoint
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, answer = self.endpoint.answer(HttpRequest("POST", self.path, self.headers, body))
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(payload)
