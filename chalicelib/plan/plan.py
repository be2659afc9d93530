"""The plan of a stream's next release, before it runs: the commits it would take, its
architectures and regions, what preflight says of each region now, how long each stage should
take with the critical path to the public release, and what it would cost.

Nothing is started and nothing is written: the repository is read as the poller reads it, the
regions are asked as Preflight asks them."""

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, field_validator

from chalicelib.aws.errors import describe
from chalicelib.core.config import Stream, load_streams
from chalicelib.core.errors import ConfigError, ReleaseError, StreamNotFound
from chalicelib.core.regions import aws_regions, first_regions
from chalicelib.models.signature import SignatureCheck
from chalicelib.plan.cost import Cost, UsageHints, release_cost
from chalicelib.plan.latency import (
    AFTER_PUBLIC,
    ONCE_AFTER,
    ONCE_BEFORE,
    ONCE_BETWEEN,
    PER_ARCH,
    CriticalPath,
    LatencyModel,
    critical_path,
)
from chalicelib.plan.prices import MissingPrice, price_book
from chalicelib.stages.preflight import reasons_to_skip
from chalicelib.store import records
from chalicelib.triggers import detect
from chalicelib.triggers.trust import require_signed

MONTH = timedelta(days=30)


class PlanQuery(BaseModel):
    model_config = {"extra": "forbid"}
    regions: int | None = Field(default=None, ge=1,
                                description="the base region plus copies to the first N-1 other regions, instead of "
                                            "the stream's")

    @field_validator("regions")
    @classmethod
    def _at_most_every_region(cls, value: int | None) -> int | None:
        """Checked when asked, not when the module is imported: every Lambda imports it."""
        if value is not None and value > len(aws_regions()):
            raise ValueError(f"at most {len(aws_regions())}: that is every AWS region")
        return value


class PlannedCommit(BaseModel):
    arch: str
    ref: str
    checksum: str
    version: str | None
    signature: SignatureCheck | None


class NextRelease(BaseModel):
    """What the stream's repository holds now, and what a release of it would be."""
    outcome: str = Field(description="would-start, already-released, waiting, refused or unreadable")
    reason: str
    version: str | None = None
    release_id: str | None = None
    commits: list[PlannedCommit] = []


class RegionNow(BaseModel):
    region: str
    ready: bool
    reason: str | None = None


class StageTime(BaseModel):
    stage: str
    where: str | None = Field(default=None, description="the region, for a region's own copy time")
    median_s: float
    p90_s: float
    samples: int
    source: str


class PathStep(BaseModel):
    stage: str
    where: str | None
    seconds: float


class Timing(BaseModel):
    stages: list[StageTime]
    critical_path: list[PathStep] = Field(description="at the median of every stage")
    commit_to_public_median_s: float
    commit_to_public_p90_s: float = Field(description="the critical path with every stage at its p90: a "
                                                      "pessimistic figure, neither the p90 of the total nor a bound")
    after_public: list[StageTime] = Field(description="what follows the public release (Marketplace)")


class Plan(BaseModel):
    stream: str
    planned_at: datetime
    next_release: NextRelease
    arches: list[str]
    regions: list[str]
    preflight: list[RegionNow]
    timing: Timing
    cost: dict | None = Field(description="cost.Cost.as_dict(): the release's line items at the stages' medians, "
                                          "the kept releases' storage, the steady monthly cost, and the prices' "
                                          "source and date")
    cost_unavailable: str | None = Field(default=None, description="why there is no cost: a price not found")


def _stream(name: str) -> Stream:
    try:
        return load_streams().stream(name)
    except ConfigError as error:
        raise StreamNotFound(str(error)) from None


def next_release(stream: Stream) -> NextRelease:
    """The release the stream's newest commits would make, judged as the poller judges them."""
    try:
        heads = detect.read_refs(stream)
    except (ReleaseError, OSError) as error:
        return NextRelease(outcome="unreadable", reason=f"the repository {stream.repo_url} cannot be read: {error}")
    commits = [PlannedCommit(arch=arch, ref=head.name, checksum=head.checksum, version=head.version,
                             signature=head.signature) for arch, head in heads.items()]
    release, missing = detect.candidate(stream, heads, "api")
    if release is None:
        return NextRelease(outcome="waiting", reason=f"waiting for {', '.join(missing)} at the newest version",
                           commits=commits)
    planned = {"version": release.version, "release_id": release.release_id, "commits": commits}
    try:
        require_signed(stream, release)
    except ReleaseError as refusal:
        return NextRelease(outcome="refused", reason=str(refusal), **planned)
    recorded = records.get(release.release_id)
    if recorded is not None:
        return NextRelease(outcome="already-released", reason=f"release {release.release_id} is {recorded.status}",
                           **planned)
    return NextRelease(outcome="would-start", reason=f"the commits of {release.version} make release "
                                                     f"{release.release_id}", **planned)


def preflight_now(stream: Stream, regions: list[str], next_up: NextRelease) -> list[RegionNow]:
    """What Preflight would say of each region now, for the release's image names."""
    version = next_up.version or "next"
    names = [stream.ami_name(version, arch) for arch in stream.arches]
    try:
        reasons = reasons_to_skip(regions, names, next_up.release_id or "", stream.sharing.public)
    except (ClientError, BotoCoreError) as error:
        reasons = {region: f"cannot check the region: {describe(error)}" for region in regions}
    return [RegionNow(region=region, ready=reason is None, reason=reason) for region, reason in reasons.items()]


def _time(model: LatencyModel, stage: str, region: str | None = None) -> StageTime:
    e = model.estimate(stage, region)
    return StageTime(stage=stage, where=region, median_s=e.median_s, p90_s=e.p90_s, samples=e.samples,
                     source=e.source)


def _times(model: LatencyModel, stages: tuple[str, ...]) -> list[StageTime]:
    return [_time(model, stage) for stage in stages]


def timing(model: LatencyModel, arches: list[str], regions: list[str], base_region: str) -> Timing:
    median_path = critical_path(model.durations(arches, regions, base_region, "median"))
    p90_path = critical_path(model.durations(arches, regions, base_region, "p90"))
    own_copies = [_time(model, "copy", region) for region in regions if region in model.copy_by_region]
    stages = [*_times(model, (*ONCE_BEFORE, *PER_ARCH, *ONCE_BETWEEN, "copy")), *own_copies,
              *_times(model, ("publish", *ONCE_AFTER))]
    return Timing(stages=stages, critical_path=_steps(median_path), commit_to_public_median_s=median_path.total_s,
                  commit_to_public_p90_s=p90_path.total_s, after_public=_times(model, AFTER_PUBLIC))


def _steps(path: CriticalPath) -> list[PathStep]:
    return [PathStep(stage=step.stage, where=step.where, seconds=step.seconds) for step in path.steps]


def releases_last_month(stream: Stream, now: datetime) -> int:
    """How many releases of the stream were created in the 30 days before ``now``, this one
    counted: an every-commit stream's pace."""
    since = (now - MONTH).isoformat(timespec="seconds")
    recent = itertools.takewhile(lambda record: record.created_at >= since,
                                 records.listing(stream.name, None, None, page_size=100))
    return sum(1 for _ in recent) + 1


def predicted_cost(stream: Stream, model: LatencyModel, regions: list[str], now: datetime) -> Cost:
    """What the release costs at its stages' median times, and the stream's policy each month."""
    durations = model.durations(stream.arches, regions, stream.regions.base, "median")
    prices = price_book(regions, [types[0] for types in stream.instance_types.values()])
    every_commit = Decimal(releases_last_month(stream, now)) if stream.cadence == "every-commit" else None
    return release_cost(stream, durations, regions, prices, UsageHints(every_commit_per_month=every_commit))


def plan(stream_name: str, query: PlanQuery, model_of: Callable[[str], LatencyModel]) -> Plan:
    """``model_of``: the latency model of a stream, asked once the stream is known."""
    stream = _stream(stream_name)
    model = model_of(stream.name)
    regions = first_regions(stream.regions.base, query.regions) if query.regions else stream.regions.all
    now = datetime.now(UTC).replace(microsecond=0)
    next_up = next_release(stream)
    try:
        cost, unavailable = predicted_cost(stream, model, regions, now).as_dict(), None
    except MissingPrice as missing:
        cost, unavailable = None, str(missing)
    return Plan(stream=stream.name, planned_at=now, next_release=next_up, arches=list(stream.arches),
                regions=regions, preflight=preflight_now(stream, regions, next_up),
                timing=timing(model, list(stream.arches), regions, stream.regions.base), cost=cost,
                cost_unavailable=unavailable)
