"""Models at every boundary of the release flow: the release input, each task's input and
output, and the release record. Field names here are the JSON the state machine carries."""

import hashlib
import json
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.core.arch import Arch
from chalicelib.core.config import Stream
from chalicelib.core.errors import InvalidReleaseInput
from chalicelib.core.regions import COMMERCIAL_REGIONS

EXECUTION_NAME_MAX = 80
_HASH_LEN = 12
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArchCommit(Model):
    ref: str = Field(min_length=1, max_length=255)
    checksum: str = Field(description="the ostree commit checksum: 64 lowercase hex digits")
    timestamp: datetime

    @field_validator("checksum")
    @classmethod
    def _sha256_hex(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be 64 lowercase hex digits (an ostree SHA-256 commit checksum)")
        return value


class ReleaseInput(Model):
    """What starts a release: a stream, a version and per architecture the commit to ship."""

    stream: str = Field(min_length=1)
    version: str = Field(pattern=VERSION_PATTERN)
    commits: dict[Arch, ArchCommit] = Field(min_length=1)
    trigger: Literal["cli", "api", "webhook", "poller", "event", "schedule", "retry"] = "cli"
    regions: list[str] | None = Field(
        default=None, description="base region then copy targets, instead of the stream's own list"
    )
    missing_arches: list[Arch] = Field(default_factory=list, description="architectures the stream builds that "
                                                                          "this release goes without")
    attempt: int = Field(default=0, ge=0, description="0: the release itself; N: its N-th fill-in run, which "
                                                      "distributes the images already built to the regions missing")
    rerun: int = Field(default=0, ge=0, description="N: the N-th run of a release that failed, from the start")

    @property
    def release_id(self) -> str:
        return execution_name(self.stream, self.version, {a: c.checksum for a, c in self.commits.items()})

    @property
    def execution_name(self) -> str:
        """The release id, and for a fill-in run or a rerun the id with its number: each run is
        an execution of its own, and two requests for the same run start one."""
        return run_name(self.release_id, self.attempt, self.rerun)

    def check_against(self, stream: Stream) -> None:
        """Raise InvalidReleaseInput unless every architecture and ref is one the stream builds."""
        problems = []
        for arch, commit in self.commits.items():
            if arch not in stream.refs:
                problems.append(f"commits.{arch}: stream {stream.name!r} does not build {arch}")
            elif commit.ref != stream.refs[arch]:
                problems.append(f"commits.{arch}.ref: {commit.ref!r} is not the stream's ref {stream.refs[arch]!r}")
        for arch in self.missing_arches:
            if arch in self.commits or arch not in stream.refs:
                problems.append(f"missing_arches: {arch} is {'in commits' if arch in self.commits else 'not built'}")
        if self.regions is not None:
            if not self.regions or self.regions[0] != stream.regions.base:
                problems.append(f"regions: must start with the stream's base region {stream.regions.base!r}")
            if len(set(self.regions)) != len(self.regions):
                problems.append("regions: a region is listed twice")
            unknown = [r for r in self.regions if r not in COMMERCIAL_REGIONS]
            if unknown:
                problems.append(f"regions: {', '.join(map(repr, unknown))} not a commercial AWS region")
        if problems:
            raise InvalidReleaseInput("; ".join(problems))

    def regions_for(self, stream: Stream) -> list[str]:
        return list(self.regions) if self.regions else stream.regions.all


def run_name(release_id: str, attempt: int = 0, rerun: int = 0) -> str:
    """The execution name of one run of a release: the release, its N-th fill-in run or rerun."""
    if not (attempt or rerun):
        return release_id
    suffix = f"-fill{attempt}" if attempt else f"-retry{rerun}"
    return release_id[: EXECUTION_NAME_MAX - len(suffix)] + suffix


def execution_name(stream: str, version: str, checksums: dict[str, str]) -> str:
    """``<stream>-<version>-<hash of the checksums>``, within Step Functions' name rules.

    The same stream, version and commits always give the same name, so Step Functions itself
    refuses a second release of them for 90 days; the release record refuses it after that.
    """
    digest = hashlib.sha256(
        "\n".join(f"{arch}={checksums[arch]}" for arch in sorted(checksums)).encode()
    ).hexdigest()[:_HASH_LEN]
    room = EXECUTION_NAME_MAX - len(stream) - len(digest) - 2
    safe_version = re.sub(r"[^A-Za-z0-9_-]", "_", version)[:room]
    return f"{stream}-{safe_version}-{digest}"


class ArchTask(Model):
    """One architecture's share of a release: the Build map's item."""

    release_id: str
    stream: str
    version: str
    arch: Arch
    commit: ArchCommit
    region: str


class CallbackTask(ArchTask):
    task_token: str = Field(min_length=1)


class BuilderReport(Model):
    """What the builder guest sends through its task token."""

    instance_id: str = Field(pattern=r"^i-[0-9a-f]+$")
    volume_id: str = Field(pattern=r"^vol-[0-9a-f]+$")
    commit: str


class RegisterTask(ArchTask):
    builder: BuilderReport


class BuiltImage(Model):
    arch: Arch
    image_id: str
    snapshot_id: str
    name: str


class QATask(ArchTask):
    image: BuiltImage
    task_token: str = Field(min_length=1)


class QACheck(Model):
    name: str
    passed: bool
    expected: str = ""
    actual: str = ""


class QAReport(Model):
    instance_id: str
    checks: list[QACheck] = Field(min_length=1)


class EvaluateTask(ArchTask):
    image: BuiltImage
    qa: QAReport


def readable_cause(cause: str) -> str:
    """A Catch hands on a Lambda error document as the cause: keep its type and message."""
    if cause.startswith("{"):
        try:
            document = json.loads(cause)
        except ValueError:
            return cause
        if isinstance(document, dict) and "errorMessage" in document:
            return f"{document.get('errorType', 'Error')}: {document['errorMessage']}"
    return cause


class Caught(BaseModel):
    """What a Catch hands on: Step Functions' own field names."""

    model_config = ConfigDict(extra="ignore")
    Error: str
    Cause: str | None = None


_RESERVED_ERRORS = {"States.Timeout": "TaskTimedOut", "States.HeartbeatTimeout": "HeartbeatTimedOut"}


class Failure(Model):
    """A caught error with the stage (and architecture) it happened in."""

    stage: str
    arch: Arch | None = None
    error: str
    cause: str = ""

    @property
    def rethrowable_error(self) -> str:
        """The error name a Fail state may raise: names beginning ``States.`` are reserved."""
        return _RESERVED_ERRORS.get(self.error, self.error.removeprefix("States."))


class CleanupArchTask(ArchTask):
    stage: str
    caught: Caught

    @property
    def failure(self) -> Failure:
        return Failure(stage=self.stage, arch=self.arch, error=self.caught.Error, cause=self.caught.Cause or "")


class ArchOutcome(BaseModel):
    """A Build map iteration's result: the image, or what failed."""

    model_config = ConfigDict(extra="forbid")
    arch: Arch
    image_id: str | None = None
    snapshot_id: str | None = None
    name: str | None = None
    failed: dict | None = None


class CheckBuildTask(Model):
    release_id: str
    results: list[ArchOutcome] = Field(min_length=1)


class RegionTask(Model):
    """One destination region's share of the Copy map."""

    release_id: str
    stream: str
    version: str
    region: str
    base_region: str
    images: list[BuiltImage] = Field(min_length=1)
    attempt: int = Field(default=0, ge=0)


class RegionalImage(Model):
    arch: Arch
    image_id: str
    state: str = "pending"
    public: bool = False
    parameters: list[str] = Field(default_factory=list)


RegionStatus = Literal["skipped", "copying", "copied", "published", "validated", "failed"]


class RegionOutcome(Model):
    """Where one region of a release stands. A region that is ``skipped`` or ``failed`` says in
    which stage and why; the release then finishes partial, and a fill-in run retries it."""

    region: str
    status: RegionStatus
    stage: Literal["preflight", "copy", "publish", "validate"]
    images: list[RegionalImage] = Field(default_factory=list)
    reason: str = ""
    requested_at: datetime | None = None

    @field_validator("reason", mode="before")
    @classmethod
    def _lambda_error_message(cls, value):
        return readable_cause(value) if isinstance(value, str) else value or ""

    @property
    def usable(self) -> bool:
        return self.status not in ("skipped", "failed")


class PreflightTask(Model):
    release_id: str
    stream: str
    version: str
    regions: list[str] = Field(description="none in a fill-in run that only retries Marketplace")
    images: list[BuiltImage] = Field(min_length=1)


class Preflight(Model):
    ready: list[str]
    skipped: list[RegionOutcome]


class CopiesTask(Model):
    release_id: str
    stream: str
    version: str
    copies: list[RegionOutcome]


class Copies(Model):
    pending: bool
    copies: list[RegionOutcome] = Field(description="every region as it stands, for the next check")
    copied: list[RegionOutcome]
    failed: list[RegionOutcome]


class PublishTask(Model):
    release_id: str
    stream: str
    version: str
    region: RegionOutcome


class ValidateTask(Model):
    release_id: str
    stream: str
    version: str
    attempt: int = Field(default=0, ge=0)
    published: list[RegionOutcome]
    skipped: list[RegionOutcome] = Field(default_factory=list)
    copy_failed: list[RegionOutcome] = Field(default_factory=list)

    @property
    def not_published(self) -> list[RegionOutcome]:
        return [*self.skipped, *self.copy_failed]


class Check(Model):
    """One promise about one image, compared with what is."""

    region: str
    arch: Arch
    check: str
    expected: str
    actual: str

    @property
    def verdict(self) -> Literal["correct", "incorrect", "missing"]:
        if self.actual == self.expected:
            return "correct"
        return "missing" if self.actual == "missing" else "incorrect"


class Validation(Model):
    regions: list[RegionOutcome]
    problems: list[dict] = Field(default_factory=list, description="each check not correct, with its verdict")
    verdicts: dict[str, dict[str, int]] = Field(default_factory=dict, description="region -> how many checks were "
                                                                                  "correct, incorrect, missing")


class PlannedArches(Model):
    arches: list[dict] = Field(min_length=1, description="Prepare's plan: each arch with its commit")

    @property
    def commits(self) -> dict[str, ArchCommit]:
        return {a["arch"]: ArchCommit.model_validate(a["commit"]) for a in self.arches}


class AnnounceTask(PlannedArches):
    release_id: str
    stream: str
    version: str
    regions: list[RegionOutcome] = Field(description="the regions that reached publication, validated or not")
    skipped: list[RegionOutcome] = Field(default_factory=list)
    copy_failed: list[RegionOutcome] = Field(default_factory=list)
    attempt: int = Field(default=0, ge=0)

    @property
    def validated(self) -> list[RegionOutcome]:
        return [r for r in self.regions if r.status == "validated"]

    @property
    def outcomes(self) -> list[RegionOutcome]:
        return [*self.skipped, *self.copy_failed, *self.regions]

    @property
    def missing(self) -> dict[str, str]:
        return {r.region: f"{r.stage}: {r.reason or r.status}" for r in self.outcomes if r.status != "validated"}

    @property
    def commit_time(self) -> datetime:
        return max(commit.timestamp for commit in self.commits.values())


class Announcement(Model):
    metadata_url: str
    message_id: str
    event_id: str = ""
    latest_moved: bool = True


ChangeSetStatus = Literal["NOT_SENT", "WAITING", "PREPARING", "APPLYING", "SUCCEEDED", "FAILED", "CANCELLED",
                          "OVERDUE"]
CHANGE_SET_SETTLED = ("SUCCEEDED", "FAILED", "CANCELLED", "OVERDUE")


class ProductChange(Model):
    """One Marketplace product's change set for the release, as it stands. ``WAITING``: another
    change set holds the product; ``OVERDUE``: still running when the release stopped following it."""

    arch: Arch
    product_id: str
    image_id: str
    intent: Literal["APPLY", "VALIDATE"]
    attempt: int = Field(default=0, ge=0, description="the run that sends it: 0 the release, N its N-th retry")
    change_set_name: str
    change_set_id: str | None = None
    status: ChangeSetStatus = "NOT_SENT"
    reason: str = Field(default="", description="Marketplace's errors, or what the change set waits for")
    sent_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def settled(self) -> bool:
        return self.status in CHANGE_SET_SETTLED

    @property
    def describe(self) -> str:
        change_set = f"change set {self.change_set_id}" if self.change_set_id else "no change set"
        status = f"{self.status}, a dry run" if self.intent == "VALIDATE" else self.status
        return f"{self.arch} {self.product_id}: {status} ({change_set}){': ' + self.reason if self.reason else ''}"


class MarketplaceProgress(Model):
    """The release's Marketplace stage: Prepare plans it, each Marketplace task moves it on."""

    arches: list[Arch] = Field(default_factory=list, description="whose products get a version in this run")
    pending: bool
    wait_seconds: int = Field(default=600, ge=1)
    started_at: datetime | None = None
    products: list[ProductChange] = Field(default_factory=list)
    caught: Caught | None = Field(default=None, description="the Marketplace task failed: the state machine's Catch")

    @property
    def following(self) -> bool:
        """Change sets still to be sent or settled, and the task that follows them working."""
        return self.pending and self.caught is None

    @property
    def unsuccessful(self) -> list[str]:
        """One line per planned product that has no successful change set, and why."""
        by_arch = {p.arch: p for p in self.products}
        lines = []
        for arch in without_version(self.arches, by_arch):
            change = by_arch.get(arch)
            line = change.describe if change else f"{arch}: not sent"
            if self.caught and not (change and change.settled):
                line += f" (the Marketplace task failed: {readable_cause(self.caught.Cause or self.caught.Error)})"
            lines.append(line)
        return lines


def without_version(arches: list[str], changes: dict[str, ProductChange]) -> list[str]:
    """The planned architectures whose product has no successful change set."""
    return [arch for arch in arches if not (arch in changes and changes[arch].status == "SUCCEEDED")]


class MarketplaceTask(PlannedArches):
    release_id: str
    stream: str
    version: str
    attempt: int = Field(default=0, ge=0)
    execution_started_at: datetime | None = None
    images: list[BuiltImage] = Field(min_length=1, description="the base region's images")
    marketplace: MarketplaceProgress


class FinalizeTask(AnnounceTask):
    images: list[BuiltImage] = Field(min_length=1)
    announcement: Announcement
    marketplace: MarketplaceProgress


class FailTask(Model):
    release_id: str
    stream: str
    regions: list[str] = Field(min_length=1)
    stage: str
    caught: Caught
    attempt: int = Field(default=0, ge=0)
    execution_arn: str = ""

    @property
    def failure(self) -> Failure:
        return Failure(stage=self.stage, error=self.caught.Error, cause=self.caught.Cause or "")


def missing_regions(region_states: dict[str, dict]) -> dict[str, str]:
    """Each region not validated (region -> RegionOutcome as JSON), with the stage and why."""
    return {region: f"{state['stage']}: {state.get('reason') or state['status']}"
            for region, state in sorted(region_states.items()) if state["status"] != "validated"}


# A release that is out but misses regions or a Marketplace version: what a fill-in run takes over.
FILLABLE_STATUSES = ("PARTIAL", "MARKETPLACE_FAILED")
# A release that ended unreleased: its leftovers are removed, and a rerun starts it again.
ENDED_UNRELEASED = ("FAILED", "ABORTED", "TIMED_OUT")
# A release that is out, its run ended. PUBLISHED: out, its run still following Marketplace.
RELEASED_STATUSES = ("SUCCEEDED", *FILLABLE_STATUSES)


class ReleaseRecord(Model):
    model_config = ConfigDict(extra="ignore")

    release_id: str
    stream: str
    version: str
    trigger: str
    status: Literal["RUNNING", "PUBLISHED", "SUCCEEDED", "PARTIAL", "MARKETPLACE_FAILED", "FAILED", "ABORTED",
                    "TIMED_OUT", "RETIRED"]
    execution_arn: str
    commits: dict[str, dict]
    regions: list[str]
    created_at: str
    updated_at: str
    images: dict[str, dict[str, str]] = Field(default_factory=dict)
    missing_arches: list[str] = Field(default_factory=list)
    metadata_url: str | None = None
    failed_stage: str | None = None
    failure: str | None = None
    built_images: list[dict] = Field(default_factory=list, description="the base region's images, which a "
                                                                        "fill-in run copies again")
    region_states: dict[str, dict] = Field(default_factory=dict, description="region -> RegionOutcome")
    attempt: int = 0
    rerun: int = Field(default=0, description="how many times the release ran again from the start after it failed")
    notified: dict[str, dict] = Field(default_factory=dict, description="attempt -> the SNS message and "
                                                                         "EventBridge event that announced it")
    marketplace: dict[str, ProductChange] = Field(default_factory=dict, description="arch -> the change set of the "
                                                                                     "arch's Marketplace product")
    status_before_fill_in: str | None = Field(default=None, description="what a running fill-in run's release was, "
                                                                        "and is again should the run fail")
    marketplace_arches: list[str] = Field(default_factory=list, description="whose Marketplace products the "
                                                                             "release sends a version to")

    @property
    def missing_regions(self) -> dict[str, str]:
        return missing_regions(self.region_states)

    @property
    def missing_products(self) -> list[str]:
        """One line per planned Marketplace product without a successful change set of the release."""
        return [self.marketplace[arch].describe if arch in self.marketplace else f"{arch}: not sent"
                for arch in without_version(self.marketplace_arches, self.marketplace)]


class PrepareTask(Model):
    release: ReleaseInput
    execution_arn: str
