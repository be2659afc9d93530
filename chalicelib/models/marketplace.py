"""The Marketplace stage: each product's change set for the release, and the stage's progress."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, TypeVar

from pydantic import Field

from chalicelib.core.arch import Arch
from chalicelib.models.base import Model
from chalicelib.models.build import BuiltImage
from chalicelib.models.failure import Caught, readable_cause
from chalicelib.models.release import PlannedArches

ChangeSetStatus = Literal["NOT_SENT", "WAITING", "PREPARING", "APPLYING", "SUCCEEDED", "FAILED", "CANCELLED",
                          "OVERDUE", "REFUSED"]
CHANGE_SET_SETTLED = ("SUCCEEDED", "FAILED", "CANCELLED", "OVERDUE", "REFUSED")
# What a product is not to be sent again: it has the release's version, or a newer release's
# version is on it already (REFUSED: an older one is never added after it).
NOTHING_TO_SEND = ("SUCCEEDED", "REFUSED")


class ProductChange(Model):
    """One Marketplace product's change set for the release, as it stands. ``WAITING``: another
    change set holds the product; ``OVERDUE``: still running when the release stopped following it;
    ``REFUSED``: not sent, the product has a newer release's version already (``reason`` names it)."""

    arch: Arch
    product_id: str
    image_id: str
    intent: Literal["APPLY", "VALIDATE"]
    attempt: int = Field(default=0, ge=0, description="the run that sends it: 0 the release, N its N-th retry")
    change_set_name: str
    change_set_id: str | None = None
    status: ChangeSetStatus = "NOT_SENT"
    reason: str = Field(default="", description="Marketplace's errors, or what the change set waits for")
    sent_at: datetime | None = Field(default=None, description="when the change set started: Marketplace's "
                                                              "StartTime once a check has read it")
    ended_at: datetime | None = Field(default=None, description="when it ended: Marketplace's EndTime, or when "
                                                               "the release settled it (not sent, refused)")

    @property
    def settled(self) -> bool:
        return self.status in CHANGE_SET_SETTLED

    @property
    def names_its_image(self) -> bool:
        """A version of the product offers the image, or may come to (a change set in flight or not sent yet)."""
        return self.intent == "APPLY" and self.status not in ("FAILED", "CANCELLED", "REFUSED")

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
        by_arch: dict[str, ProductChange] = {p.arch: p for p in self.products}
        lines = []
        for arch in without_version(self.arches, by_arch):
            change = by_arch.get(arch)
            line = change.describe if change else f"{arch}: not sent"
            if self.caught and not (change and change.settled):
                line += f" (the Marketplace task failed: {readable_cause(self.caught.Cause or self.caught.Error)})"
            lines.append(line)
        return lines


ArchName = TypeVar("ArchName", bound=str)


def without_version(arches: Sequence[ArchName], changes: Mapping[str, ProductChange]) -> list[ArchName]:
    """The planned architectures whose product has no successful change set and was not refused
    the version (a newer one is on it): what is still to be sent."""
    return [arch for arch in arches if not (arch in changes and changes[arch].status in NOTHING_TO_SEND)]


class MarketplaceTask(PlannedArches):
    release_id: str
    stream: str
    version: str
    attempt: int = Field(default=0, ge=0)
    execution_started_at: datetime | None = None
    expected_s: float | None = Field(default=None, ge=0, description="Preflight's expected change set time: the "
                                                                     "first check waits for it")
    images: list[BuiltImage] = Field(min_length=1, description="the base region's images")
    marketplace: MarketplaceProgress
