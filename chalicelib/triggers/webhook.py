"""``POST /hooks/ostree``: a compose system or CI announces commits, signed as Standard Webhooks
(https://www.standardwebhooks.com) sign them, so a sender may use its libraries:

- ``webhook-id``: the delivery's id, the same on every attempt;
- ``webhook-timestamp``: the attempt's time, Unix seconds, within 5 minutes of ours;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, several
  separated by spaces while a secret rotates (one of them must match).

The secret (``whsec_`` then base64; the prefix is optional) is in Secrets Manager or SSM
Parameter Store, read through Powertools Parameters: cached for a minute, and read again at
once when a signature does not match, so a rotated secret works from its first delivery.

A delivery is answered once: a redelivery of its id gets the first answer again (Powertools
Idempotency on the delivery id, kept ``REMEMBER_DELIVERIES_SECONDS``), a copy that arrives while
the first is being answered gets 409, and a 5xx answer is not kept, so a redelivery tries again."""

import base64
import binascii
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Answer, parse_body
from chalicelib.api.http import error as error_answer
from chalicelib.aws import dynamodb, secretsmanager, ssm
from chalicelib.aws.errors import message_of
from chalicelib.core.arch import Arch, ec2_arch
from chalicelib.core.config import load_streams
from chalicelib.core.errors import BadRequest, ConfigError, Refusal
from chalicelib.core.observability import logger
from chalicelib.core.settings import Settings, settings
from chalicelib.models.base import Sha256
from chalicelib.triggers import detect

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SIGNATURE_VERSION = "v1"
SECRET_PREFIX = "whsec_"
MAX_SKEW_SECONDS = 300
MAX_ID_CHARS = 128
SECRET_MAX_AGE_SECONDS = 60
# A signature that does not match reads the secret again at most this often: forged requests
# cannot turn into a stream of Secrets Manager calls.
REFETCH_AT_MOST_EVERY_SECONDS = 10
# Standard Webhooks' example schedule retries for 75 hours; a redelivery within 4 days gets
# the first answer.
REMEMBER_DELIVERIES_SECONDS = 4 * 24 * 3600
# Without a Lambda context (a direct call), an attempt is taken as given up after API Gateway's
# 29 s: a redelivery after that is answered anew.
_IN_PROGRESS_MILLIS = 30_000
_STATUS = {"started": 202, "in-progress": 202, "waiting": 202, "on-cadence": 202,
           "already-released": 409, "failed-earlier": 409}


class AnnouncedCommit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str = Field(min_length=1)
    checksum: Sha256


class Announcement(BaseModel):
    """``{"stream": "developer", "commits": {"x86_64": {"ref": ..., "checksum": ...}, ...}}``;
    architectures in EC2's or ostree's words."""

    model_config = ConfigDict(extra="forbid")
    stream: str = Field(min_length=1)
    commits: dict[str, AnnouncedCommit] = Field(min_length=1)


# -- the secret ----------------------------------------------------------------------------------

class _SecretSource:
    """Where the secret is, read through a Powertools provider that caches it."""

    def __init__(self, provider: SecretsProvider | SSMProvider, name: str,
                 clock: Callable[[], float] = time.monotonic):
        self.provider, self.name, self.clock = provider, name, clock
        self.refetched_at = float("-inf")
        self.lock = threading.Lock()

    def read(self, force_fetch: bool = False) -> str:
        options: dict[str, Any] = {} if isinstance(self.provider, SecretsProvider) else {"decrypt": True}
        value = self.provider.get(self.name, max_age=SECRET_MAX_AGE_SECONDS, force_fetch=force_fetch, **options)
        return value.decode() if isinstance(value, bytes) else str(value)

    def read_again(self) -> str | None:
        """The secret read afresh, unless it was so read a moment ago (then None)."""
        with self.lock:
            if self.clock() - self.refetched_at < REFETCH_AT_MOST_EVERY_SECONDS:
                return None
            self.refetched_at = self.clock()
        return self.read(force_fetch=True)


_current: tuple[Settings, _SecretSource] | None = None
_current_lock = threading.Lock()


def secret_source() -> _SecretSource:
    """The secret's source for the settings read at this (cold) start: settings read anew (a
    redeployment, another local runtime) start with an empty cache."""
    global _current
    configured = settings()
    with _current_lock:
        if _current is None or _current[0] is not configured:
            if configured.webhook_secret_id:
                source = _SecretSource(secretsmanager.cached_secrets(), configured.webhook_secret_id)
            else:
                assert configured.webhook_secret_parameter is not None, "settings require one of the two"
                source = _SecretSource(ssm.cached_parameters(), configured.webhook_secret_parameter)
            _current = (configured, source)
        return _current[1]


def signing_key(secret_text: str) -> bytes:
    """The HMAC key a Standard Webhooks secret encodes; ValueError when it is not one."""
    try:
        return base64.b64decode(secret_text.strip().removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError(f"the webhook secret is not {SECRET_PREFIX}<base64>") from None


def sign(secret_text: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """One ``webhook-signature`` entry: over id, timestamp and body, so none can be replaced."""
    message = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret_text), message, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def _matches(secret_text: str, delivery_id: str, timestamp: str, body: bytes, signatures: str) -> bool:
    expected = sign(secret_text, delivery_id, timestamp, body).encode()
    return any(hmac.compare_digest(expected, offered.encode()) for offered in signatures.split()
               if offered.startswith(f"{SIGNATURE_VERSION},"))


# -- the edge ------------------------------------------------------------------------------------

def _authenticate(headers: dict[str, str], body: bytes, now: float) -> Answer | None:
    delivery_id, timestamp, signatures = (headers.get(h, "") for h in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER))
    missing = [name for name, value in ((ID_HEADER, delivery_id), (TIMESTAMP_HEADER, timestamp),
                                        (SIGNATURE_HEADER, signatures)) if not value]
    if missing:
        return error_answer(401, f"missing {' and '.join(missing)} header")
    # before the signature: a stale replay must not use up the secret's one re-read per 10 s
    if not (timestamp.isascii() and timestamp.isdigit()) or abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return error_answer(401, f"{TIMESTAMP_HEADER} is not within {MAX_SKEW_SECONDS // 60} minutes of now")
    source = secret_source()
    if not _matches(source.read(), delivery_id, timestamp, body, signatures):
        fresh = source.read_again()  # the secret may have been rotated since it was cached
        if fresh is None or not _matches(fresh, delivery_id, timestamp, body, signatures):
            return error_answer(401, "signature does not match the body")
    if len(delivery_id) > MAX_ID_CHARS or not delivery_id.isprintable() or "." in delivery_id:
        return error_answer(401, f"{ID_HEADER} must be at most {MAX_ID_CHARS} printable characters without '.'")
    return None


def _parse(body: bytes) -> Announcement | Answer:
    try:
        return parse_body(Announcement, body)
    except BadRequest as refusal:
        return error_answer(400, str(refusal))


def _announced_commits(announcement: Announcement) -> dict | Answer:
    try:
        stream = load_streams().stream(announcement.stream)
    except ConfigError as error:
        return error_answer(error.status, str(error))
    commits: dict[Arch, str] = {}
    named: dict[Arch, str] = {}
    for name, commit in announcement.commits.items():
        try:
            arch = ec2_arch(name)
        except ValueError as error:
            return error_answer(422, f"commits.{name}: {error}")
        if arch in named:
            return error_answer(400, f"commits: {named[arch]!r} and {name!r} both name architecture {arch}; "
                                     "announce each architecture once")
        named[arch] = name
        if arch not in stream.refs:
            return error_answer(422, f"commits.{name}: stream {stream.name} does not build {arch}")
        if commit.ref != stream.refs[arch]:
            return error_answer(422, f"commits.{name}.ref: {commit.ref!r} is not stream {stream.name}'s "
                                     f"ref {stream.refs[arch]!r}")
        commits[arch] = commit.checksum
    return commits


class _NotKept(Exception):
    """A 5xx answer: raised through Powertools Idempotency so it forgets the delivery."""

    def __init__(self, answer: Answer):
        super().__init__(answer.body.get("error", ""))
        self.answer = answer


class _Attempt:
    """What Powertools reads of a Lambda context: the time this attempt has left."""

    def __init__(self, lambda_context: Any):
        self._context = lambda_context

    def get_remaining_time_in_millis(self) -> int:
        remaining = getattr(self._context, "get_remaining_time_in_millis", None)
        return int(remaining()) if callable(remaining) else _IN_PROGRESS_MILLIS


def _answer_once(delivery: dict) -> dict:
    answer = _answered(delivery["body"])
    if answer.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        raise _NotKept(answer)
    return answer.model_dump()


def _answer_delivery(delivery_id: str, body: bytes, lambda_context: Any) -> Answer:
    config = IdempotencyConfig(event_key_jmespath="id", payload_validation_jmespath="body_sha256",
                               raise_on_no_idempotency_key=True, expires_after_seconds=REMEMBER_DELIVERIES_SECONDS)
    config.register_lambda_context(_Attempt(lambda_context))  # type: ignore[arg-type]
    once = idempotent_function(_answer_once, data_keyword_argument="delivery", persistence_store=dynamodb.idempotency_store(settings().idempotency_table),
                               config=config, key_prefix="webhook-delivery")
    delivery = {"id": delivery_id, "body_sha256": hashlib.sha256(body).hexdigest(), "body": body}
    try:
        return Answer.model_validate(once(delivery=delivery))
    except _NotKept as not_kept:
        return not_kept.answer
    except IdempotencyAlreadyInProgressError:
        return error_answer(409, f"delivery {delivery_id} is being answered now; send it again in a moment "
                                 "for its answer")
    except IdempotencyValidationError:
        return error_answer(422, f"delivery {delivery_id} was received before with another body: a new "
                                 f"announcement needs a new {ID_HEADER}")
    except IdempotencyPersistenceLayerError:
        logger.exception("the delivery could not be remembered")
        return error_answer(503, "the delivery could not be remembered; send it again")


def handle(headers: dict[str, str], body: bytes, now: float | None = None, lambda_context: Any = None) -> Answer:
    settings()
    headers = {k.lower(): v for k, v in headers.items()}
    try:
        refused = _authenticate(headers, body, time.time() if now is None else now)
    except (GetParameterError, ValueError):
        logger.exception("the webhook secret could not be read")
        return error_answer(503, "the webhook secret could not be read; the delivery may be sent again")
    if refused:
        return refused
    return _answer_delivery(headers[ID_HEADER], body, lambda_context)


def _answered(body: bytes) -> Answer:
    try:
        return _answer(body)
    except Exception:  # noqa: BLE001 - an answer with a reason, never a stack trace
        logger.exception("webhook failed")
        return error_answer(500, "internal error; the delivery may be sent again")


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
    status = _STATUS[decision.outcome]
    body_out = decision.model_dump(exclude_none=True)
    if status >= HTTPStatus.BAD_REQUEST:  # nothing started: the outcome says why, as every refusal does
        body_out["error"] = decision.reason
    return Answer(status=status, body=body_out)
