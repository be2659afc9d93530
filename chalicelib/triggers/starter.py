"""The one function every trigger calls to start a release."""

from typing import Literal

from pydantic import BaseModel

from chalicelib.aws import stepfunctions
from chalicelib.core.config import load_streams
from chalicelib.core.errors import ReleaseNotFound, ReleaseNotPartial, ReleaseNotRetryable
from chalicelib.core.settings import settings
from chalicelib.models.record import ReleaseStatus
from chalicelib.models.release import ReleaseInput, run_name
from chalicelib.stages.prepare import nothing_to_fill_in
from chalicelib.store import records
from chalicelib.triggers.trust import require_signed

Outcome = Literal["started", "in-progress", "already-released", "failed-earlier"]
_STILL_GOING = ("RUNNING", "PENDING_REDRIVE")
_OUTCOME_BY_STATUS: dict[str, Outcome] = {
    **{status: "in-progress" for status in _STILL_GOING}, "SUCCEEDED": "already-released",
}


class StartResult(BaseModel):
    outcome: Outcome
    release_id: str
    execution_arn: str

    @property
    def message(self) -> str:
        return {
            "started": f"release {self.release_id} started",
            "in-progress": f"release {self.release_id} is in progress: {self.execution_arn}",
            "already-released": f"release {self.release_id} is already released: {self.execution_arn}",
            "failed-earlier": f"release {self.release_id} ran before and failed ({self.execution_arn}); retry it: "
                              f"atomic-release releases retry {self.release_id}",
        }[self.outcome]


def state_machine_arn() -> str:
    return settings().release_state_machine_arn


def execution_arn(machine_arn: str, name: str) -> str:
    return machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def start_release(release: ReleaseInput, machine_arn: str | None = None) -> StartResult:
    """Validate against the stream, then start the release unless its execution exists.

    Raises ConfigError or InvalidReleaseInput before anything starts."""
    release.check_against(load_streams().stream(release.stream))
    machine_arn = machine_arn or state_machine_arn()
    name = release.execution_name
    arn = execution_arn(machine_arn, name)
    status = stepfunctions.execution_status(arn)
    if status is None:
        if stepfunctions.start_execution(machine_arn, name, release.model_dump_json(exclude_none=True)):
            return StartResult(outcome="started", release_id=release.release_id, execution_arn=arn)
        status = stepfunctions.execution_status(arn) or "RUNNING"
    return StartResult(outcome=_OUTCOME_BY_STATUS.get(status, "failed-earlier"), release_id=release.release_id,
                       execution_arn=arn)


RetryKind = Literal["fill-in", "rerun"]


class RetryResult(StartResult):
    kind: RetryKind


def retry(release_id: str, machine_arn: str | None = None) -> RetryResult:
    """The one action that fixes a release: a fill-in run for one that is out but misses
    something, a rerun from the start for one that ended unreleased.
    Raises ReleaseNotFound, or ReleaseNotRetryable naming the release's state."""
    record = records.get(release_id)
    if record is None:
        raise ReleaseNotFound(f"no release {release_id} is recorded", release_id=release_id)
    if record.status in ReleaseStatus.FILLABLE:
        if nothing_to_fill_in(load_streams().stream(record.stream), record):
            raise ReleaseNotRetryable(f"release {release_id} is {record.status} but misses no region and no "
                                      "Marketplace version its stream still publishes: nothing to fill in",
                                      release_id=release_id)
        return RetryResult(kind="fill-in", **fill_in(release_id, machine_arn).model_dump())
    if record.status in ReleaseStatus.ENDED_UNRELEASED:
        machine_arn = machine_arn or state_machine_arn()
        release = ReleaseInput(stream=record.stream, version=record.version, commits=record.commits,
                               trigger="retry", missing_arches=record.missing_arches, regions=record.regions,
                               rerun=_next_run(machine_arn, release_id, record.rerun + 1, "rerun"))
        require_signed(load_streams().stream(record.stream), release, recorded_only=True)
        return RetryResult(kind="rerun", **start_release(release, machine_arn).model_dump())
    raise ReleaseNotRetryable(f"release {release_id} is {record.status}: only a release that is "
                              f"{', '.join(ReleaseStatus.FILLABLE)} (a fill-in run) or "
                              f"{', '.join(ReleaseStatus.ENDED_UNRELEASED)} (a rerun) is retried", release_id=release_id)


def fill_in(release_id: str, machine_arn: str | None = None) -> StartResult:
    """Start the next fill-in run of a release that is out but misses something: the regions it
    misses, from the images it built, and the Marketplace versions that did not succeed.
    Raises ReleaseNotPartial for a release in any other state."""
    record = records.get(release_id)
    if record is None or record.status not in ReleaseStatus.FILLABLE:
        raise ReleaseNotPartial(f"release {release_id} is {record.status if record else 'not recorded'}: only a "
                                f"release that is {' or '.join(ReleaseStatus.FILLABLE)} is filled in", release_id=release_id)
    machine_arn = machine_arn or state_machine_arn()
    release = ReleaseInput(stream=record.stream, version=record.version, commits=record.commits, trigger="retry",
                           missing_arches=record.missing_arches,
                           attempt=_next_run(machine_arn, release_id, record.attempt + 1, "attempt"))
    require_signed(load_streams().stream(record.stream), release, recorded_only=True)
    return start_release(release, machine_arn)


def _next_run(machine_arn: str, release_id: str, number: int, kind: str) -> int:
    """The number of the next fill-in run (``attempt``) or rerun: past any run that ended before it
    claimed the record (its Prepare failed), which would otherwise be asked for again and again."""
    while stepfunctions.execution_status(execution_arn(machine_arn, run_name(release_id, **{kind: number}))) not in (
            None, *_STILL_GOING):
        number += 1
    return number
