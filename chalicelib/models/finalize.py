"""The tasks that end a release: Finalize, which records it released, partial,
Marketplace-failed or published with errors, and FailRelease."""

from pydantic import Field, ValidationInfo, field_validator

from chalicelib.models.announce import Announcement, AnnounceTask
from chalicelib.models.base import Model
from chalicelib.models.build import BuiltImage
from chalicelib.models.failure import Caught, Failure
from chalicelib.models.marketplace import ChangeSetStatus, MarketplaceProgress
from chalicelib.models.record import ReleaseStatus


class FinalizeTask(AnnounceTask):
    images: list[BuiltImage] = Field(min_length=1)
    announcement: Announcement
    marketplace: MarketplaceProgress


class FinalizeResult(Model):
    """What Finalize recorded: a released execution's output."""

    release_id: str
    status: ReleaseStatus
    images: dict[str, dict[str, str]] = Field(description="arch -> region -> image id")
    missing: dict[str, str] = Field(description="region -> the stage and why it is not validated")
    marketplace: dict[str, ChangeSetStatus] = Field(description="arch -> its product's change set status")
    marketplace_failed: list[str]
    metadata_url: str
    latest_moved: bool


class FailTask(Model):
    release_id: str
    stream: str
    attempt: int = Field(default=0, ge=0)
    regions: list[str] = Field(description="none in a fill-in run that only retries Marketplace")
    stage: str
    caught: Caught
    execution_arn: str = ""
    published: FinalizeTask | None = Field(default=None, description="what Finalize reads, when the failure came "
                                                                      "after Announce: the release is out")

    @field_validator("regions")
    @classmethod
    def _first_run_has_regions(cls, regions: list[str], info: ValidationInfo) -> list[str]:
        if not regions and not info.data.get("attempt"):
            raise ValueError("a first run has at least its base region")
        return regions

    @property
    def failure(self) -> Failure:
        return self.caught.in_stage(self.stage)
