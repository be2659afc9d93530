"""An S3 endpoint for guests, path-style (``/BUCKET/KEY``), for the calls the builder makes to
upload the disk's images: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
AbortMultipartUpload, and PutObject.

Each request's SigV4 signature is checked as the Step Functions endpoint checks it (scoped to
``s3``), and so is its ``x-amz-content-sha256`` against the body, as S3 checks it. An authentic
call goes on to S3 through the project's client factory (locally: moto), and is answered with
S3's XML."""

import hashlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from botocore.exceptions import ClientError

from atomic_release.local.guests.credentials import CredentialRegistry
from atomic_release.local.guests.states import HttpRequest, Refused, authenticate
from atomic_release.local.serving import BackgroundServer
from chalicelib.aws.clients import client
from chalicelib.aws.errors import code_of, describe, message_of

SERVICE = "s3"
_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
# The Step Functions names authenticate() refuses with, as S3 words them.
_S3_CODES = {"MissingAuthenticationTokenException": "AccessDenied", "IncompleteSignatureException": "AccessDenied",
             "UnrecognizedClientException": "InvalidAccessKeyId", "ExpiredTokenException": "ExpiredToken",
             "InvalidSignatureException": "SignatureDoesNotMatch"}


@dataclass(frozen=True)
class S3Call:
    """One request as the endpoint saw it; ``outcome`` is "Success" or S3's error code."""

    operation: str
    bucket: str
    key: str
    access_key_id: str | None
    outcome: str
    part_number: int | None = None
    size: int = 0


@dataclass(frozen=True)
class _Answer:
    status: HTTPStatus
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Call:
    """A request, parsed: what the operation acts on."""

    bucket: str
    key: str
    query: dict[str, str]
    region: str
    body: bytes
    content_type: str  # S3's default: binary/octet-stream


def _result(root: str, **fields: str) -> bytes:
    elements = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{_XMLNS}">{elements}</{root}>'.encode()


def _error(code: str, message: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>' \
           f'<Message>{escape(message)}</Message><RequestId>{uuid.uuid4()}</RequestId></Error>'.encode()


def _create_multipart_upload(call: _Call) -> _Answer:
    upload = client("s3", call.region).create_multipart_upload(Bucket=call.bucket, Key=call.key,
                                                               ContentType=call.content_type)
    return _Answer(HTTPStatus.OK, _result("InitiateMultipartUploadResult", Bucket=call.bucket, Key=call.key,
                                          UploadId=upload["UploadId"]))


def _upload_part(call: _Call) -> _Answer:
    part = client("s3", call.region).upload_part(Bucket=call.bucket, Key=call.key, UploadId=call.query["uploadId"],
                                                 PartNumber=int(call.query["partNumber"]), Body=call.body)
    return _Answer(HTTPStatus.OK, headers=(("ETag", part["ETag"]),))


def _complete_multipart_upload(call: _Call) -> _Answer:
    try:
        document = ElementTree.fromstring(call.body)
    except ElementTree.ParseError as error:
        raise Refused(HTTPStatus.BAD_REQUEST, "MalformedXML", f"the body is not XML: {error}") from None
    done = client("s3", call.region).complete_multipart_upload(
        Bucket=call.bucket, Key=call.key, UploadId=call.query["uploadId"], MultipartUpload={"Parts": [
            {"PartNumber": int(part.findtext("PartNumber") or 0), "ETag": part.findtext("ETag") or ""}
            for part in document.iter("Part")]})
    return _Answer(HTTPStatus.OK, _result("CompleteMultipartUploadResult", Bucket=call.bucket, Key=call.key,
                                          ETag=done["ETag"]))


def _abort_multipart_upload(call: _Call) -> _Answer:
    client("s3", call.region).abort_multipart_upload(Bucket=call.bucket, Key=call.key, UploadId=call.query["uploadId"])
    return _Answer(HTTPStatus.NO_CONTENT)


def _put_object(call: _Call) -> _Answer:
    put = client("s3", call.region).put_object(Bucket=call.bucket, Key=call.key, Body=call.body,
                                               ContentType=call.content_type)
    return _Answer(HTTPStatus.OK, headers=(("ETag", put["ETag"]),))


_OPERATIONS: dict[tuple[str, str], tuple[str, Callable[[_Call], _Answer]]] = {
    ("POST", "uploads"): ("CreateMultipartUpload", _create_multipart_upload),
    ("PUT", "partNumber uploadId"): ("UploadPart", _upload_part),
    ("POST", "uploadId"): ("CompleteMultipartUpload", _complete_multipart_upload),
    ("DELETE", "uploadId"): ("AbortMultipartUpload", _abort_multipart_upload),
    ("PUT", ""): ("PutObject", _put_object),
}


def operation_of(method: str, query: dict[str, str]) -> str | None:
    found = _OPERATIONS.get((method, " ".join(sorted(query))))
    return found[0] if found else None


class S3Endpoint(BackgroundServer):
    """``with S3Endpoint(registry) as s3: s3.url``; ``s3.calls`` lists every request."""

    def __init__(self, registry: CredentialRegistry):
        self.registry = registry
        self.calls: list[S3Call] = []
        self._calls_lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"endpoint": self})
        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), handler), "s3-endpoint")

    def answer(self, request: HttpRequest) -> _Answer:
        """The answer to one request, recorded in ``calls`` whatever its outcome."""
        url = urlsplit(request.path)
        bucket, _, key = unquote(url.path).lstrip("/").partition("/")
        query = {name: values[0] for name, values in parse_qs(url.query, keep_blank_values=True).items()}
        operation = operation_of(request.method, query)
        access_key_id = None
        try:
            access_key_id, region = authenticate(request, self.registry, service=SERVICE)
            answer = self._perform(request, operation, _Call(bucket, key, query, region, request.body,
                                                             request.headers.get("Content-Type", "binary/octet-stream")))
            outcome = "Success"
        except Refused as refused:
            outcome = _S3_CODES.get(refused.error_type, refused.error_type)
            answer = _Answer(refused.status, _error(outcome, refused.message))
        except ClientError as error:
            outcome = code_of(error)
            status = HTTPStatus(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
            answer = _Answer(status, _error(outcome, message_of(error)))
        except Exception as failure:  # the guest gets S3's answer to a fault, not a dropped connection
            outcome = "InternalError"
            answer = _Answer(HTTPStatus.INTERNAL_SERVER_ERROR, _error(outcome, describe(failure)))
        part = query.get("partNumber")
        with self._calls_lock:
            self.calls.append(S3Call(operation or f"{request.method} ?{url.query}", bucket, key, access_key_id,
                                     outcome, int(part) if part and part.isdigit() else None, len(request.body)))
        return answer

    @staticmethod
    def _perform(request: HttpRequest, operation: str | None, call: _Call) -> _Answer:
        if operation is None:
            raise Refused(HTTPStatus.NOT_IMPLEMENTED, "NotImplemented",
                          f"{request.method} with query {sorted(call.query)} is not an operation this endpoint serves")
        if not call.bucket or not call.key:
            raise Refused(HTTPStatus.BAD_REQUEST, "InvalidRequest", "the path must be /BUCKET/KEY (path-style)")
        claimed = request.headers.get("x-amz-content-sha256")
        if claimed is None:
            raise Refused(HTTPStatus.BAD_REQUEST, "InvalidRequest", "Missing required header for this request: "
                                                                     "x-amz-content-sha256")
        if claimed != "UNSIGNED-PAYLOAD" and claimed != hashlib.sha256(call.body).hexdigest():
            raise Refused(HTTPStatus.BAD_REQUEST, "XAmzContentSHA256Mismatch",
                          "The provided 'x-amz-content-sha256' header does not match what was computed.")
        return _OPERATIONS[(request.method, " ".join(sorted(call.query)))][1](call)


class _Handler(BaseHTTPRequestHandler):
    endpoint: S3Endpoint
    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _serve(self) -> None:  # an Expect: 100-continue is answered by the base class
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = self.endpoint.answer(HttpRequest(self.command, self.path, self.headers, body))
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        if answer.body:
            self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("x-amz-request-id", uuid.uuid4().hex[:16].upper())
        self.end_headers()
        self.wfile.write(answer.body)

    do_PUT = do_POST = do_DELETE = _serve
