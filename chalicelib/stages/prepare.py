"""Prepare: check the release against its stream, claim its record, plan arches, regions and
Marketplace products. A fill-in run plans only what the release still misses."""



from collections.abc import Mapping

from chalicelib.core.arch import Arch
from chalicelib.core.config import Stream, load_streams
from chalicelib.core.errors import ReleaseNotPartial
from chalicelib.core.observability import logger
from chalicelib.models.marketplace import MarketplaceProgress, ProductChange, without_version
from chalicelib.models.prepare import ReleasePlan
from chalicelib.models.record import ReleaseRecord, ReleaseStatus
from chalicelib.models.release import PlannedArch, ReleaseInput
from chalicelib.store import records


def _marketplace_plan(stream: Stream, arches: list[Arch], earlier: Mapping[str, ProductChange]) -> MarketplaceProgress:
    """The Marketplace stage's starting point; an earlier run's change sets come along, so one
    still in flight is followed rather than sent again."""
    return MarketplaceProgress(arches=arches, pending=bool(arches),
                               wait_seconds=stream.marketplace.check_every_minutes * 60,
                               products=[earlier[arch] for arch in arches if arch in earlier])


def prepare(release: ReleaseInput, execution_arn: str) -> ReleasePlan:
    """Check the input against its stream, claim the release record, plan the work. A fill-in
    run plans what the release still misses: regions, with the images it built, and Marketplace
    versions that did not succeed."""
    stream = load_streams().stream(release.stream)
    release.check_against(stream)
    plan = {
        "release_id": release.release_id,
        "stream": release.stream,
        "version": release.version,
        "attempt": release.attempt,
        "base_region": stream.regions.base,
        "copy_concurrency": stream.copy_concurrency,
        "arches": [PlannedArch(arch=arch, commit=commit) for arch, commit in sorted(release.commits.items())],
    }
    if not release.attempt:
        regions = release.regions_for(stream)
        arches = [arch for arch in stream.marketplace_arches if arch in release.commits]
        claim = records.claim_rerun if release.rerun else records.create
        claim(release, execution_arn, regions, arches, signatures_required=stream.signatures.required)
        _log_unsigned(stream, release)
        return ReleasePlan(**plan, regions=regions, marketplace=_marketplace_plan(stream, arches, {}))
    earlier = records.get(release.release_id)
    if earlier and earlier.status in ReleaseStatus.FILLABLE and nothing_to_fill_in(stream, earlier):
        raise ReleaseNotPartial(f"release {release.release_id} misses no region and no Marketplace version: "
                                "nothing to fill in", release_id=release.release_id)
    record = records.claim_fill_in(release, execution_arn)
    missing = [region for region in record.regions if region in record.missing_regions]
    arches = _unsent(stream, record)
    logger.info("fill-in run", extra={"attempt": release.attempt, "regions": missing, "marketplace": arches})
    return ReleasePlan(**plan, regions=missing, images=record.built_images,
                       marketplace=_marketplace_plan(stream, arches, record.marketplace))


def _log_unsigned(stream: Stream, release: ReleaseInput) -> None:
    """A stream that does not require signatures says which commits it releases unsigned, and why."""
    if stream.signatures.required:
        return
    for arch, commit in sorted(release.commits.items()):
        if commit.signature is not None and not commit.signature.verified:
            logger.warning("releasing an unsigned commit: the stream does not require signatures",
                           extra={"stream": stream.name, "arch": arch, "ref": commit.ref, "commit": commit.checksum,
                                  "reason": commit.signature.reason})


def nothing_to_fill_in(stream: Stream, record: ReleaseRecord) -> bool:
    """Whether a fill-in run would find nothing to do. A release published with errors always has
    something: the stage that failed after Announce (Finalize, which records how it settled)."""
    if record.status == ReleaseStatus.PUBLISHED_WITH_ERRORS:
        return False
    return not (record.missing_regions or _unsent(stream, record))


def _unsent(stream: Stream, record: ReleaseRecord) -> list[Arch]:
    """The architectures the release planned a Marketplace version for (and the stream still
    publishes) whose product has no successful change set of the release."""
    return without_version([arch for arch in stream.marketplace_arches if arch in record.marketplace_arches],
                           record.marketplace)
