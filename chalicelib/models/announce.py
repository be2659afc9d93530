"""Announce: its task, which names every region's outcome, and what it sent."""

from datetime import datetime

from pydantic import Field

from chalicelib.models.base import Model
from chalicelib.models.build import BuiltImage
from chalicelib.models.failure import Caught
from chalicelib.models.regions import RegionOutcome
from chalicelib.models.release import PlannedArches


class AnnounceTask(PlannedArches):
    release_id: str
    stream: str
    version: str
    regions: list[RegionOutcome] = Field(description="the regions that reached publication, validated or not")
    skipped: list[RegionOutcome] = Field(default_factory=list)
    copy_failed: list[RegionOutcome] = Field(default_factory=list)
    attempt: int = Field(default=0, ge=0)
    images: list[BuiltImage] | None = Field(default=None, description="the release's images with their downloads; "
                                                                       "None: from before Announce was given them")

    @property
    def validated(self) -> list[RegionOutcome]:
        return [r for r in self.regions if r.status == "validated"]

    @property
    def outcomes(self) -> list[RegionOutcome]:
        return [*self.skipped, *self.copy_failed, *self.regions]

    @property
    def missing(self) -> dict[str, str]:
        return {r.region: r.shortfall for r in self.outcomes if r.status != "validated"}

    @property
    def commit_time(self) -> datetime:
        return max(commit.timestamp for commit in self.commits.values())


class Announcement(Model):
    """What Announce sent; or, when it failed after the stream metadata named the release, only
    what its Catch caught (AnnouncedThenFailed), the rest unknown."""

    metadata_url: str = ""
    message_id: str = ""
    event_id: str = ""
    latest_moved: bool = True
    caught: Caught | None = Field(default=None, exclude=True, description="read from the state machine, never sent")
