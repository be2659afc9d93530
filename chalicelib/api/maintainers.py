"""What maintainers ask of releases, behind the API: list, show, plan, trigger, retry, abort. Each
request is checked where it enters; an error names the field or the release's state."""

import base64
import binascii
import itertools
import json
from collections.abc import Callable, Mapping
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, ValidationError, field_validator

from chalicelib.api.http import Answer, error, parse, parse_body
from chalicelib.api.release_view import ReleaseSummary, ReleaseView, runs_of, stage_now, view
from chalicelib.aws import stepfunctions
from chalicelib.aws.errors import message_of
from chalicelib.core.config import load_streams
from chalicelib.core.errors import BadRequest, Refusal, ReleaseNotFound, ReleaseNotRunning
from chalicelib.core.observability import logger
from chalicelib.core.settings import settings
from chalicelib.models.abort import ABORT_REASON_MAX, AbortRequest, Cleanup
from chalicelib.models.record import ReleaseRecord, ReleaseStatus
from chalicelib.models.release import VERSION_PATTERN, ReleaseInput
from chalicelib.plan.observed import model_for_stream
from chalicelib.plan.plan import Plan, PlanQuery, plan
from chalicelib.stages.failure import describe_cause
from chalicelib.store import records
from chalicelib.triggers import detect
from chalicelib.triggers.detect import Decision
from chalicelib.triggers.starter import execution_arn, state_machine_arn

PAGE_DEFAULT, PAGE_MAX = 20, 100


class _Known(BaseModel):
    @field_validator("stream", check_fields=False)
    @classmethod
    def _known_stream(cls, value):
        if value is not None and value not in load_streams().streams:
            raise ValueError(f"unknown stream {value!r} (known: {', '.join(sorted(load_streams().streams))})")
        return value


class ListFilter(_Known):
    model_config = {"extra": "forbid"}
    stream: str | None = None
    status: str | None = None
    limit: int = Field(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX)
    next_token: str | None = None

    @field_validator("status")
    @classmethod
    def _known_status(cls, value):
        if value is not None and value not in tuple(ReleaseStatus):
            raise ValueError(f"unknown status {value!r} (one of: {', '.join(ReleaseStatus)})")
        return value


class TriggerRequest(_Known):
    model_config = {"extra": "forbid"}
    stream: str
    version: str | None = Field(default=None, pattern=VERSION_PATTERN)


class ReleasePage(BaseModel):
    releases: list[ReleaseSummary]
    next_token: str | None = None


class AbortBody(BaseModel):
    model_config = {"extra": "forbid"}
    reason: str = Field(default="aborted by a maintainer", min_length=1, max_length=ABORT_REASON_MAX)


class AbortResult(BaseModel):
    """The answer to an abort, at once: the run is stopped, and the rule on its end cleans up
    after it and keeps the result in the record (``cleanup`` once it did)."""
    release_id: str
    outcome: Literal["stopping"] = "stopping"
    status: str
    abort: AbortRequest
    recorded: bool = Field(description="the abort is kept in the record (not before the run's Prepare claimed it)")
    cleanup: Cleanup | None = None

    @classmethod
    def of(cls, record: ReleaseRecord, abort: AbortRequest, recorded: bool) -> "AbortResult":
        return cls(release_id=record.release_id, status=record.status, abort=abort, recorded=recorded,
                   cleanup=record.cleanup_of(abort.execution_arn))


# A maintainer's release that started nothing is a conflict with what exists.
_STATUS_OF_OUTCOME = {"started": 202, "in-progress": 200, "already-released": 409, "failed-earlier": 409,
                      "waiting": 409, "stopping": 202}


def answer(action: Callable[[], BaseModel]) -> Answer:
    """Run one request's action: its result as JSON, or an error that says why."""
    try:
        settings()
        result = action()
    except ClientError as failure:
        logger.exception("request failed at AWS")
        return error(503, f"AWS refused: {message_of(failure)}")
    except BotoCoreError as failure:   # no answer from AWS (network, timeout): asking again may work
        logger.exception("request failed on the way to AWS")
        return error(503, f"AWS could not be reached: {failure}")
    except Refusal as refusal:
        return error(refusal.status, str(refusal))
    except Exception:  # noqa: BLE001 - an answer with a reason, never a stack trace
        logger.exception("request failed")
        return error(500, "internal error")
    status = _STATUS_OF_OUTCOME.get(getattr(result, "outcome", ""), 200)
    body = result.model_dump(mode="json", exclude_none=True)
    if status >= 400:  # nothing started: the outcome says why, as every refusal does
        body["error"] = getattr(result, "reason", "") or getattr(result, "message", "")
    return Answer(status=status, body=body)


# -- list and show -------------------------------------------------------------------------------

def _token(record: ReleaseRecord) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(records.position(record))).encode()).decode()


def _after(token: str) -> records.Position:
    try:
        created_at, release_id = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise BadRequest("next_token: not a token this API gave") from None
    if not (isinstance(created_at, str) and isinstance(release_id, str)):
        raise BadRequest("next_token: not a token this API gave")
    return created_at, release_id


def list_releases(query: Mapping[str, str] | None) -> ReleasePage:
    """Releases newest first, filtered by stream and status, a page at a time, read through the
    table's indexes. Each page is cut after the last release of the previous one, so releases
    recorded meanwhile do not shift it."""
    wanted = parse(ListFilter, query or {}, "query")
    after = _after(wanted.next_token) if wanted.next_token else None
    found = list(itertools.islice(records.listing(wanted.stream, wanted.status, after, wanted.limit + 1),
                                  wanted.limit + 1))
    page = found[:wanted.limit]
    more = len(found) > wanted.limit
    return ReleasePage(releases=[ReleaseSummary.of(r) for r in page], next_token=_token(page[-1]) if more else None)


def _record(release_id: str) -> ReleaseRecord:
    """The release's record; before its Prepare task writes it (or when Prepare refused the
    input), what its execution says."""
    record = records.get(release_id)
    if record is not None:
        return record
    arn = execution_arn(state_machine_arn(), release_id)
    try:
        described = stepfunctions.describe_execution(arn)
        release = ReleaseInput.model_validate_json(described["input"])
    except (ClientError, ValidationError):
        raise ReleaseNotFound(f"no release {release_id} is recorded", release_id=release_id) from None
    starting = records.new_record(release, arn, release.regions or [],
                                  created_at=described["startDate"].isoformat(timespec="seconds"))
    if described["status"] not in ReleaseStatus.ENDED_UNRELEASED:
        return starting
    return starting.model_copy(update={
        "status": ReleaseStatus(described["status"]), "failed_stage": "prepare",
        "failure": describe_cause("prepare", described.get("error"), described.get("cause"))})


def show_release(release_id: str) -> ReleaseView:
    return view(_record(release_id), state_machine_arn())


def plan_release(stream: str, query: Mapping[str, str] | None) -> Plan:
    """The stream's next release before it runs: what it would take, how long, what it costs."""
    return plan(stream, parse(PlanQuery, query or {}, "query"), model_for_stream)


# -- steering ------------------------------------------------------------------------------------

def trigger(raw_body: bytes | None) -> Decision:
    """Release a stream now, whatever its cadence: its newest commits, or a version's."""
    request = parse_body(TriggerRequest, raw_body)
    return detect.release_now(request.stream, request.version)


def abort_release(release_id: str, raw_body: bytes | None = None) -> AbortResult:
    """Stop the release's running run and answer at once: the rule on the execution's end
    (app.py's release_execution_ended) removes what it made, and keeps that in the record with
    the abort's reason and stage. Asked again, the answer is the first abort's, and the aborted
    run, while it still runs, is stopped again: the first stop may have been lost after the abort
    was recorded (the Lambda ended between the two, or could not take the abort back)."""
    request = parse_body(AbortBody, raw_body)
    record = _record(release_id)
    running = [run for run in runs_of(record, state_machine_arn()) if run.status == "RUNNING"]
    aborted = record.abort_of(record.execution_arn)
    if aborted and all(run.execution_arn == aborted.execution_arn for run in running):
        if running:   # harmless to repeat; a failure is answered 503, and asking again stops it
            stepfunctions.stop_execution(aborted.execution_arn, error="Aborted", cause=aborted.reason)
        return AbortResult.of(record, aborted, recorded=True)   # not a retry's run started since
    if not running:
        raise ReleaseNotRunning(f"release {release_id} is {record.status} and no run of it is running: only a "
                                "running release is aborted", release_id=release_id)
    stopping = running[-1].execution_arn   # a retry's run, even before it claimed the record
    abort = AbortRequest(execution_arn=stopping, reason=request.reason, stage=stage_now(stopping),
                         requested_at=records.now())
    recorded = records.mark_abort_requested(release_id, abort)
    if not recorded and (now := records.get(release_id)) and (first := now.abort_of(stopping)):
        return AbortResult.of(now, first, recorded=True)   # another abort of this run got there first
    try:
        stepfunctions.stop_execution(stopping, error="Aborted", cause=request.reason)
    except (ClientError, BotoCoreError) as failure:
        if recorded:
            records.forget_abort(release_id, stopping)
        if isinstance(failure, BotoCoreError):
            raise   # answered 503: the run may still go, and an abort asked again stops it
        raise ReleaseNotRunning(f"release {release_id}: {message_of(failure)}",
                                release_id=release_id) from None
    logger.info("release aborted; the end of its execution cleans up",
                extra={"release_id": release_id, "stage": abort.stage, "recorded": recorded})
    return AbortResult.of(records.get(release_id) or record, abort, recorded)
