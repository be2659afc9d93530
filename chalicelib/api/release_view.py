"""One release as a maintainer sees it: the release record joined with its execution's history.
The history says what ran when, and while a run goes on, where every architecture and region
stands; the record is what the release settled on."""

import contextlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, ValidationError

from chalicelib.aws import stepfunctions
from chalicelib.aws.stepfunctions import bounded_history, newest_events
from chalicelib.core.arch import Arch
from chalicelib.models.abort import AbortRequest, Cleanup
from chalicelib.models.build import QACheck, QAReport
from chalicelib.models.failure import Failure
from chalicelib.models.marketplace import ProductChange
from chalicelib.models.record import ReleaseRecord, ReleaseStatus
from chalicelib.models.regions import RegionOutcome
from chalicelib.models.release import run_name
from chalicelib.models.signature import SignatureStatus, status_of
from chalicelib.stages.failure import describe, describe_cause, innermost
from chalicelib.stages.flow import (
    BUILD_STEP_OF_STATE,
    FAILED_STAGE_OF_STATE,
    REGION_OUTCOME_STATES,
    STAGE_OF_STATE,
    STAGES,
)
from chalicelib.triggers.starter import execution_arn

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.type_defs import HistoryEventTypeDef

StageStatus = Literal["pending", "running", "succeeded", "failed", "not-run"]
StepStatus = Literal["pending", "running", "succeeded", "failed", "built-earlier"]


class StageView(BaseModel):
    name: str
    status: StageStatus = "pending"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    reason: str = ""


class SignatureView(BaseModel):
    status: SignatureStatus = Field(description="signed (by a trusted key), not-verified (signatures, none that "
                                                "counts), unsigned, or not-checked (nobody read it)")
    text: str = Field(description="signed by <fingerprint>, or why not; and for a stream that does not require "
                                  "signatures, that the commit was released unsigned")
    signed_by: str | None = None
    signers: list[str] = Field(default_factory=list)
    reason: str = ""

    @classmethod
    def of(cls, record: ReleaseRecord, arch: Arch) -> "SignatureView":
        check = record.commits[arch].signature
        found = check.model_dump(include={"signed_by", "signers", "reason"}) if check else {}
        return cls(status=status_of(check), text=record.signature_note(arch), **found)


class ArchView(BaseModel):
    arch: str
    ref: str
    checksum: str
    signature: SignatureView
    builder: StepStatus = "pending"
    image: StepStatus = "pending"
    qa: StepStatus = "pending"
    image_id: str | None = None
    qa_checks: list[QACheck] = Field(default_factory=list)
    failure: str = ""


class CellView(BaseModel):
    image_id: str
    state: str
    public: bool


class RegionView(BaseModel):
    region: str
    status: str = Field(description="planned, ready, not-run (the run ended first), or a RegionOutcome "
                                    "status: skipped, copying, copied, published, validated, failed")
    stage: str = ""
    reason: str = ""
    images: dict[str, CellView] = Field(default_factory=dict, description="arch -> the image there")


class RunView(BaseModel):
    name: str
    kind: Literal["release", "rerun", "fill-in"]
    execution_arn: str
    status: str
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    error: str | None = None
    cause: str | None = None
    console_url: str = Field(default_factory=lambda run: console_url(run["execution_arn"]),
                             description="the execution in the Step Functions console, in the region of its ARN: its "
                                         "graph, every state's input and output, and a failed state's error and cause")


def console_url(execution_arn: str) -> str:
    """arn:aws:states:<region>:<account>:execution:<machine>:<name>: the console of the region."""
    region = execution_arn.split(":")[3]
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


class ReleaseSummary(BaseModel):
    release_id: str
    stream: str
    version: str
    status: str
    trigger: str
    created_at: str
    updated_at: str
    arches: list[str]
    missing_arches: list[str]
    regions: list[str]
    missing_regions: dict[str, str]
    missing_products: list[str] = Field(default_factory=list, description="once the release settled: each "
                                                                         "Marketplace product without a version")
    failed_stage: str | None = None
    failure: str | None = None
    metadata_url: str | None = None
    execution_arn: str
    signatures_required: bool | None = Field(default=None, description="whether the stream required signed "
                                                                       "commits; None: not recorded")
    abort: AbortRequest | None = Field(default=None, description="a maintainer's abort: the run, why, and the "
                                                                 "stage it stopped in")
    cleanup: Cleanup | None = Field(default=None, description="what the end of an aborted or timed-out run "
                                                              "removed; absent while that is under way")

    @classmethod
    def of(cls, record: ReleaseRecord) -> "ReleaseSummary":
        derived = {"arches", "missing_regions", "missing_products", "abort", "cleanup"}
        settled = record.status not in ReleaseStatus.UNSETTLED
        run = record.execution_arn   # a fill-in run takes the record over with the previous run's abort and cleanup
        return cls(**record.model_dump(include=set(cls.model_fields) - derived), arches=sorted(record.commits),
                   missing_regions=record.missing_regions, missing_products=record.missing_products if settled else [],
                   abort=record.abort_of(run), cleanup=record.cleanup_of(run))


class ReleaseView(BaseModel):
    release: ReleaseSummary
    execution_status: str
    runs: list[RunView]
    stages: list[StageView]
    arches: list[ArchView]
    regions: list[RegionView]
    marketplace: list[ProductChange]
    history_truncated: bool = Field(default=False, description="the current run's history was read in part (its "
                                                               "oldest and newest events): a long wait's middle "
                                                               "is left out, and with it what only that told")


# What the view reads of a run's history: its first events and its latest, never the middle of a
# long copy wait (up to 2 MB on AWS).
HISTORY_PAGE, HISTORY_NEWEST_PAGES = 500, 2


def view(record: ReleaseRecord, machine_arn: str) -> ReleaseView:
    """The release as its newest run sees it: a run just started (a retry) is the current one
    before its Prepare task claims the record."""
    runs = runs_of(record, machine_arn)
    current = max(runs, key=lambda run: run.started_at or datetime.min.replace(tzinfo=UTC), default=None)
    history, truncated = (bounded_history(current.execution_arn, HISTORY_PAGE, HISTORY_NEWEST_PAGES) if current
                          else ([], False))
    status = current.status if current else "UNKNOWN"
    return ReleaseView(history_truncated=truncated,
        release=ReleaseSummary.of(record), execution_status=status, runs=runs,
        stages=_stages(history, current, record), arches=_arches(history, record),
        regions=_regions(history, record, status),
        marketplace=[record.marketplace[arch] for arch in sorted(record.marketplace)])


# -- runs ----------------------------------------------------------------------------------------

def runs_of(record: ReleaseRecord, machine_arn: str) -> list[RunView]:
    """Every execution of the release: the release, its reruns, its fill-in runs, and the next
    rerun or fill-in run should one have started."""
    runs = []
    for name, kind in [(run_name(record.release_id), "release"),
                       *[(run_name(record.release_id, rerun=n), "rerun") for n in range(1, record.rerun + 2)],
                       *[(run_name(record.release_id, attempt=n), "fill-in") for n in range(1, record.attempt + 2)]]:
        arn = execution_arn(machine_arn, name)
        described = stepfunctions.execution(arn)
        if described is None:
            continue
        runs.append(RunView(name=name, kind=kind, execution_arn=arn, status=described["status"],
                            started_at=described.get("startDate"), stopped_at=described.get("stopDate"),
                            error=described.get("error"), cause=described.get("cause")))
    return runs


# A run started before the copy follow published the regions names states the state machine has
# no more, and its history is kept 90 days: read by the current names alone, a release of then
# would show distribute not-run. flow.py names the current states only (tests/unit/test_flow.py
# keeps it equal to the state machine), so the view alone knows the former ones: each is read as
# the current state whose place and output it had.
FORMER_STATES = {"Copy": "Distribute", "CheckCopies": "FollowCopies", "PublishFailed": "DistributeFailed",
                 "PublishRegion": "CopyToRegion", "PublishRegionFailed": "CopyFailed"}
# The Publish map has no such state (FollowCopies publishes now): only its stage is read, since its
# output's copies are the regions before they were published.
STAGE_OF_STATE_READ = STAGE_OF_STATE | {"Publish": "distribute"}


def _entered(event: "HistoryEventTypeDef") -> str | None:
    details = event.get("stateEnteredEventDetails") if event["type"].endswith("StateEntered") else None
    name = details.get("name") if details else None
    return FORMER_STATES.get(name, name) if name else None


def _exited(event: "HistoryEventTypeDef") -> tuple[str, dict] | None:
    if not event["type"].endswith("StateExited"):
        return None
    details = event["stateExitedEventDetails"]
    return FORMER_STATES.get(details["name"], details["name"]), _json(details.get("output"))


def _json(text: str | None) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# -- stages --------------------------------------------------------------------------------------

def _stages(history: list["HistoryEventTypeDef"], run: RunView | None, record: ReleaseRecord) -> list[StageView]:
    execution_status = run.status if run else "UNKNOWN"
    stages = {name: StageView(name=name) for name in STAGES}
    last, failed = None, None
    for event in history:
        name = _entered(event)
        if name in FAILED_STAGE_OF_STATE:
            failed = FAILED_STAGE_OF_STATE[name]
        stage = stages.get(STAGE_OF_STATE_READ[name]) if name in STAGE_OF_STATE_READ else None
        if stage:
            stage.started_at = stage.started_at or event["timestamp"]
            stage.status, last = "running", stage
        exited = _exited(event)
        if exited and exited[0] in STAGE_OF_STATE_READ:
            stages[STAGE_OF_STATE_READ[exited[0]]].ended_at = event["timestamp"]
    for stage in stages.values():
        if stage.status == "running" and (stage is not last or execution_status != "RUNNING"):
            stage.status = "succeeded"
        elif stage.status == "pending" and execution_status not in ("RUNNING", "UNKNOWN"):
            stage.status = "not-run"
    stopped = (stages.get(failed) if failed else None) or (
        last if execution_status in ("FAILED", "ABORTED", "TIMED_OUT") else None)
    if stopped:
        stopped.status = "failed"
        owns_record = run and run.execution_arn == record.execution_arn
        stopped.reason = (record.failure if owns_record else None) or describe_cause(
            stopped.name, (run.error if run else None) or f"execution {execution_status}", run.cause if run else None)
    return list(stages.values())


# -- architectures -------------------------------------------------------------------------------

def _arches(history: list["HistoryEventTypeDef"], record: ReleaseRecord) -> list[ArchView]:
    base = record.regions[0] if record.regions else ""
    arches: dict[str, ArchView] = {arch: ArchView(arch=arch, ref=commit.ref, checksum=commit.checksum,
                                                  signature=SignatureView.of(record, arch),
                                                  image_id=(record.images.get(arch) or {}).get(base))
                                   for arch, commit in sorted(record.commits.items())}
    built_earlier = {image.arch for image in record.built_images}
    entered_build = False
    for event in history:
        name = _entered(event)
        if name == "Build":
            entered_build = True
        if name in BUILD_STEP_OF_STATE:
            arch = _arch_named(arches, _json(event["stateEnteredEventDetails"].get("input")).get("arch"))
            if arch:
                _step(arch, name, "failed" if name.endswith("Failed") else "running")
        exited = _exited(event)
        if exited:
            _arch_step_ended(arches, *exited)
    if not entered_build:
        for arch in arches.values():
            if arch.arch in built_earlier:
                arch.builder = arch.image = arch.qa = "built-earlier"
    return list(arches.values())


def _arch_named(arches: dict[str, ArchView], name: object) -> ArchView | None:
    """The view of the architecture a state's input or output names, if it names one."""
    return arches.get(name) if isinstance(name, str) else None


def _step(arch: ArchView, state: str, status: StepStatus) -> None:
    step = BUILD_STEP_OF_STATE[state]
    if getattr(arch, step) != "failed":
        setattr(arch, step, status)


def _arch_step_ended(arches: dict[str, ArchView], state: str, output: dict) -> None:
    if state == "ArchFailed":
        arch = _arch_named(arches, output.get("arch"))
        if arch and output.get("failed"):
            caught = output["failed"]
            failure = innermost(Failure(stage="build", arch=arch.arch, error=caught.get("error") or "unknown error",
                                        cause=caught.get("cause") or ""))
            arch.failure = describe(failure)
        return
    if state not in BUILD_STEP_OF_STATE or state.endswith("Failed"):
        return
    arch = _arch_named(arches, output.get("arch"))
    if arch is None:
        return
    _step(arch, state, "succeeded" if state != "LaunchQA" else "running")
    if state == "RegisterImage":
        arch.image_id = (output.get("image") or {}).get("image_id") or arch.image_id
    if state == "LaunchQA":
        with contextlib.suppress(ValidationError):  # a guest's report that QA refused is its failure
            arch.qa_checks = QAReport.model_validate(output.get("qa") or {}).checks


# -- regions -------------------------------------------------------------------------------------

def _regions(history: list["HistoryEventTypeDef"], record: ReleaseRecord, execution_status: str) -> list[RegionView]:
    regions = {region: RegionView(region=region, status="planned") for region in record.regions}
    regions.update(_recorded(record))   # a fill-in run's regions: where the release left them
    for event in history:
        exited = _exited(event)
        if not exited:
            continue
        state, output = exited
        for outcome in _outcomes(state, output):
            regions[outcome.region] = _region_view(outcome)
        if state == "Preflight":
            for region in (output.get("preflight") or {}).get("ready", []):
                regions[region] = RegionView(region=region, status="ready", stage="preflight")
    if record.status != ReleaseStatus.RUNNING:
        regions.update(_recorded(record))
    if execution_status not in ("RUNNING", "UNKNOWN"):
        # a run that ended unreleased removed its private copies; one that succeeded got no further
        unfinished = ("planned", "ready") if execution_status == "SUCCEEDED" else ("planned", "ready", "copying",
                                                                                  "copied")
        for region in regions.values():
            if region.status in unfinished:
                region.status = "not-run"
    return [regions[region] for region in record.regions if region in regions] + \
        [view for region, view in regions.items() if region not in record.regions]


def _recorded(record: ReleaseRecord) -> dict[str, RegionView]:
    return {outcome.region: _region_view(outcome) for outcome in record.region_states.values()}


def _outcomes(state: str, output: dict) -> list[RegionOutcome]:
    if state in REGION_OUTCOME_STATES:
        found = [_outcome(output)]
    elif state == "Preflight":
        found = [_outcome(o) for o in (output.get("preflight") or {}).get("skipped", [])]
    elif state in ("Distribute", "FollowCopies"):
        found = [_outcome(o) for o in (output.get("distribution") or {}).get("copies", [])]
    elif state == "Validate":
        found = [_outcome(o) for o in (output.get("validation") or {}).get("regions", [])]
    else:
        found = []
    return [outcome for outcome in found if outcome]


def _outcome(data: dict) -> RegionOutcome | None:
    try:
        return RegionOutcome.model_validate(data)
    except ValidationError:
        return None


def _region_view(outcome: RegionOutcome) -> RegionView:
    return RegionView(region=outcome.region, status=outcome.status, stage=outcome.stage, reason=outcome.reason,
                      images={image.arch: CellView(image_id=image.image_id, state=image.state, public=image.public)
                              for image in outcome.images})


# -- where a run is -------------------------------------------------------------------------------

# How far back the stage a run is in is looked for: the Build map's iterations are the longest
# stretch of events without a top-level state.
STAGE_LOOKBACK = 200


def stage_now(execution_arn: str) -> str:
    """The stage the run is in, from its newest events; unknown when they do not say."""
    for event in newest_events(execution_arn, STAGE_LOOKBACK):
        name = _entered(event)
        if name in STAGE_OF_STATE_READ:
            return STAGE_OF_STATE_READ[name]
        if name in BUILD_STEP_OF_STATE:
            return "build"
    return "unknown"
