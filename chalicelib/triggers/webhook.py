"""``POST /hooks/ostree``: a compose system or CI announces commits. Authenticated by an
HMAC-SHA256 signature over the timestamp and the raw body, with a secret from SSM Parameter
Store (SecureString) or Secrets Manager; a delivery id is accepted once."""

import functools
import hashlib
import hmac
import time
from http import HTTPStatus

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.api.http import Answer
from chalicelib.api.http import error as error_answer
from chalicelib.aws import secretsmanager, ssm
from chalicelib.aws.errors import message_of
from chalicelib.core.arch import ec2_arch
from chalicelib.core.config import describe_validation_error, load_streams
from chalicelib.core.errors import ConfigError, Refusal
from chalicelib.core.observability import logger
from chalicelib.core.settings import settings
from chalicelib.store import state
from chalicelib.triggers import detect

SIGNATURE_HEADER = "x-atomic-release-signature"
TIMESTAMP_HEADER = "x-atomic-release-timestamp"
DELIVERY_HEADER = "x-atomic-release-delivery"
MAX_SKEW_SECONDS = 300
REMEMBER_DELIVERIES_SECONDS = 24 * 3600
_STATUS = {"started": 202, "in-progress": 202, "waiting": 202, "on-cadence": 202,
           "already-released": 409, "failed-earlier": 409}


class AnnouncedCommit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str = Field(min_length=1)
    checksum: str = Field(pattern=r"^[0-9a-f]{64}$")


class Announcement(BaseModel):
    """``{"stream": "developer", "commits": {"x86_64": {"ref": ..., "checksum": ...}, ...}}``;
    architectures in EC2's or ostree's words."""

    model_config = ConfigDict(extra="forbid")
    stream: str = Field(min_length=1)
    commits: dict[str, AnnouncedCommit] = Field(min_length=1)


@functools.lru_cache(maxsize=1)
def _cached_secret(source: str, _minute: int) -> bytes:
    if source.startswith("secretsmanager:"):
        return secretsmanager.secret_string(source.split(":", 1)[1]).encode()
    return ssm.decrypted_parameter(source.split(":", 1)[1]).encode()


def secret() -> bytes:
    """The shared secret, read at most once a minute per container."""
    configured = settings()
    if configured.webhook_secret_id:
        source = f"secretsmanager:{configured.webhook_secret_id}"
    else:
        source = f"ssm:{configured.webhook_secret_parameter}"
    return _cached_secret(source, int(time.time() // 60))


def sign(key: bytes, timestamp: str, delivery: str, body: bytes) -> str:
    """Over timestamp, delivery id and body: none of them can be replaced in a replay."""
    message = timestamp.encode() + b"." + delivery.encode() + b"." + body
    return "sha256=" + hmac.new(key, message, hashlib.sha256).hexdigest()


def _authenticate(headers: dict[str, str], body: bytes, now: float) -> Answer | None:
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    delivery = headers.get(DELIVERY_HEADER, "")
    if not signature or not timestamp:
        return error_answer(401, f"missing {SIGNATURE_HEADER if not signature else TIMESTAMP_HEADER} header")
    if not hmac.compare_digest(signature.encode(), sign(secret(), timestamp, delivery, body).encode()):
        return error_answer(401, "signature does not match the body")
    if not (timestamp.isascii() and timestamp.isdigit()) or abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return error_answer(401, f"{TIMESTAMP_HEADER} is not within {MAX_SKEW_SECONDS // 60} minutes of now")
    if not 1 <= len(delivery) <= 128:
        return error_answer(401, f"missing or overlong {DELIVERY_HEADER} header")
    if not state.remember_delivery(delivery, REMEMBER_DELIVERIES_SECONDS):
        return error_answer(401, f"delivery {delivery} was received before: a replay")
    return None


def _parse(body: bytes) -> Announcement | Answer:
    try:
        return Announcement.model_validate_json(body)
    except ValidationError as error:
        return error_answer(400, describe_validation_error(error, "body"))


def _announced_commits(announcement: Announcement) -> dict | Answer:
    try:
        stream = load_streams().stream(announcement.stream)
    except ConfigError as error:
        return error_answer(error.status, str(error))
    commits = {}
    for name, commit in announcement.commits.items():
        try:
            arch = ec2_arch(name)
        except ValueError as error:
            return error_answer(422, f"commits.{name}: {error}")
        if arch not in stream.refs:
            return error_answer(422, f"commits.{name}: stream {stream.name} does not build {arch}")
        if commit.ref != stream.refs[arch]:
            return error_answer(422, f"commits.{name}.ref: {commit.ref!r} is not stream {stream.name}'s "
                               f"ref {stream.refs[arch]!r}")
        commits[arch] = commit.checksum
    return commits


def handle(headers: dict[str, str], body: bytes, now: float | None = None) -> Answer:
    settings()
    headers = {k.lower(): v for k, v in headers.items()}
    refused = _authenticate(headers, body, time.time() if now is None else now)
    if refused:
        return refused
    try:
        answer = _answer(body)
    except Exception:  # noqa: BLE001 - an answer with a reason, never a stack trace
        logger.exception("webhook failed")
        answer = error_answer(500, "internal error; the delivery may be sent again")
    if answer.status >= 500:
        state.forget_delivery(headers[DELIVERY_HEADER])  # a redelivery of it is not a replay
    return answer


def _answer(body: bytes) -> Answer:
    announcement = _parse(body)
    if isinstance(announcement, Answer):
        return announcement
    commits = _announced_commits(announcement)
    if isinstance(commits, Answer):
        return commits
    try:
        decision = detect.consider(announcement.stream, "webhook", commits)
    except Refusal as refusal:
        if refusal.status < HTTPStatus.INTERNAL_SERVER_ERROR:
            return error_answer(refusal.status, str(refusal))
        # the repository failed, not the announcement (OstreeError)
        logger.warning("repository check failed", extra={"error": str(refusal)})
        return error_answer(refusal.status, f"the repository could not be checked: {refusal}")
    except ClientError as error:
        logger.exception("release could not be started")
        return error_answer(503, f"the release could not be started: {message_of(error)}")
    return Answer(status=_STATUS[decision.outcome], body=decision.model_dump(exclude_none=True))
