"""Distribution, per region: Preflight, the copies, Publish and Validate, and where each region
of a release stands (its RegionOutcome)."""

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from chalicelib.core.arch import Arch
from chalicelib.models.base import Model
from chalicelib.models.build import BuiltImage
from chalicelib.models.failure import readable_cause
from chalicelib.models.release import PlannedArches


class RegionTask(PlannedArches):
    """One destination region's share of the Distribute map, with each architecture's commit: a copy's
    description names it."""

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

    @property
    def shortfall(self) -> str:
        """Why the region is not validated: the stage, and the reason or else the status."""
        return f"{self.stage}: {self.reason or self.status}"


def missing_regions(outcomes: dict[str, RegionOutcome]) -> dict[str, str]:
    """Each region not validated (region -> its outcome), with the stage and why."""
    return {region: outcome.shortfall for region, outcome in sorted(outcomes.items())
            if outcome.status != "validated"}


class PreflightTask(Model):
    release_id: str
    stream: str
    version: str
    regions: list[str] = Field(description="none in a fill-in run that only retries Marketplace")
    images: list[BuiltImage] = Field(min_length=1)


class Expected(Model):
    """When the release's slow steps should be done, from the stream's latency model (its own
    history, else the documented defaults): the follows and Marketplace checks wait for them."""

    copy_s: dict[str, float] = Field(default_factory=dict, description="per destination region, its median copy "
                                                                      "time in seconds")
    marketplace_s: float = Field(ge=0, description="the median time of a Marketplace change set, in seconds")


class Preflight(Model):
    ready: list[str]
    skipped: list[RegionOutcome]
    expected: Expected


class CopiesTask(Model):
    release_id: str
    stream: str
    version: str
    copies: list[RegionOutcome]
    execution_started_at: datetime | None = Field(default=None, description="the run's start: how long it has run "
                                                                            "sets the wait once a copy is overdue")
    execution_arn: str = Field(default="", description="the run: once it is aborted, nothing more is published")
    expected_copy_s: dict[str, float] = Field(default_factory=dict, description="Preflight's expected copy times")


class Copies(Model):
    pending: bool
    copies: list[RegionOutcome] = Field(description="every region as it stands, for the next follow")
    published: list[RegionOutcome] = Field(description="each region whose copies landed, published or failed in "
                                                       "the publish stage")
    failed: list[RegionOutcome] = Field(description="the regions whose copies failed")
    wait_seconds: int = Field(default=0, ge=0, description="until the next follow, while a copy is pending")


class PublishTask(Model):
    """A region whose copies are available, as the copy-follow task publishes it."""

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
