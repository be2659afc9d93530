"""The release record, one DynamoDB item per release, and the status it is in."""

from enum import StrEnum, nonmember

from pydantic import ConfigDict, Field

from chalicelib.core.arch import Arch
from chalicelib.models.abort import AbortRequest, Cleanup
from chalicelib.models.base import Model
from chalicelib.models.build import BuiltImage
from chalicelib.models.marketplace import ProductChange, without_version
from chalicelib.models.regions import RegionOutcome, missing_regions
from chalicelib.models.release import ArchCommit
from chalicelib.models.signature import summary_of


class ReleaseStatus(StrEnum):
    """Where a release stands; the groups below (tuples of values, not members) are the
    questions the code asks of a status."""

    RUNNING = "RUNNING"
    PUBLISHED = "PUBLISHED"  # out, its run still following Marketplace
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    MARKETPLACE_FAILED = "MARKETPLACE_FAILED"
    # Out and announced, but a stage after Announce failed (failed_stage and failure say which
    # and why): the documents name its images, so nothing of it was removed.
    PUBLISHED_WITH_ERRORS = "PUBLISHED_WITH_ERRORS"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    TIMED_OUT = "TIMED_OUT"
    RETIRED = "RETIRED"

    # Out, but missing regions, a Marketplace version or what a failed stage did not finish: what
    # a fill-in run takes over.
    FILLABLE = nonmember((PARTIAL, MARKETPLACE_FAILED, PUBLISHED_WITH_ERRORS))
    # Ended unreleased: its leftovers are removed, and a rerun starts it again.
    ENDED_UNRELEASED = nonmember((FAILED, ABORTED, TIMED_OUT))
    # Out, its run ended.
    RELEASED = nonmember((SUCCEEDED, PARTIAL, MARKETPLACE_FAILED, PUBLISHED_WITH_ERRORS))
    # Out, whether or not its run still follows Marketplace: what retention keeps or retires by age.
    OUT = nonmember((SUCCEEDED, PARTIAL, MARKETPLACE_FAILED, PUBLISHED_WITH_ERRORS, PUBLISHED))
    # A run still owns the release: nothing about it is settled.
    UNSETTLED = nonmember((RUNNING, PUBLISHED))


class ReleaseRecord(Model):
    model_config = ConfigDict(extra="ignore")

    release_id: str
    stream: str
    version: str
    trigger: str
    status: ReleaseStatus
    execution_arn: str
    commits: dict[Arch, ArchCommit]
    regions: list[str]
    created_at: str
    updated_at: str
    images: dict[str, dict[str, str]] = Field(default_factory=dict)
    missing_arches: list[str] = Field(default_factory=list)
    metadata_url: str | None = None
    failed_stage: str | None = None
    failure: str | None = None
    built_images: list[BuiltImage] = Field(default_factory=list, description="the base region's images, which a "
                                                                              "fill-in run copies again")
    region_states: dict[str, RegionOutcome] = Field(default_factory=dict)
    attempt: int = 0
    rerun: int = Field(default=0, description="how many times the release ran again from the start after it failed")
    notified: dict[str, dict] = Field(default_factory=dict, description="attempt -> the SNS message and "
                                                                         "EventBridge event that announced it")
    marketplace: dict[str, ProductChange] = Field(default_factory=dict, description="arch -> the change set of the "
                                                                                     "arch's Marketplace product")
    status_before_fill_in: ReleaseStatus | None = Field(default=None, description="what a running fill-in run's "
                                                        "release was, and is again should the run fail")
    marketplace_arches: list[str] = Field(default_factory=list, description="whose Marketplace products the "
                                                                             "release sends a version to")
    abort: AbortRequest | None = Field(default=None, description="a maintainer's abort of a run: why, and where "
                                                                 "it stopped")
    cleanup: Cleanup | None = Field(default=None, description="what the end of a run that ended without its "
                                                              "Catch paths removed")
    signatures_required: bool | None = Field(default=None, description="whether the stream required its commits "
                                             "signed by a trusted key when the release was prepared (each commit's "
                                             "signature says who signed it); None: recorded before signatures "
                                             "were checked")

    def abort_of(self, execution_arn: str) -> AbortRequest | None:
        """The abort kept in the record, when it was of that run."""
        return self.abort if self.abort and self.abort.execution_arn == execution_arn else None

    def cleanup_of(self, execution_arn: str) -> Cleanup | None:
        """The cleanup kept in the record, when it was after that run."""
        return self.cleanup if self.cleanup and self.cleanup.execution_arn == execution_arn else None

    def signature_note(self, arch: Arch) -> str:
        """Who signed the architecture's commit, or why it is not signed and, where the stream
        did not require a signature, that it was released unsigned because of that."""
        check = self.commits[arch].signature
        note = summary_of(check)
        if check is not None and not check.verified and self.signatures_required is False:
            note += f" (released unsigned: stream {self.stream} does not require signatures)"
        return note

    @property
    def missing_regions(self) -> dict[str, str]:
        return missing_regions(self.region_states)

    @property
    def missing_products(self) -> list[str]:
        """One line per planned Marketplace product without a successful change set of the release
        (a version refused because a newer one is on the product is not missing)."""
        return [self.marketplace[arch].describe if arch in self.marketplace else f"{arch}: not sent"
                for arch in without_version(self.marketplace_arches, self.marketplace)]
