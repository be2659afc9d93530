"""The release's end as the state machine sees it: Finalize records it released, partial,
Marketplace-failed or published with errors; FailRelease removes what a failed release created
and records why, or, when the release was announced already, records it published with errors."""


from botocore.exceptions import ClientError

from chalicelib.aws import s3
from chalicelib.aws.ec2 import Removed, remove_release_resources
from chalicelib.aws.errors import message_of
from chalicelib.core.arch import Arch
from chalicelib.core.observability import MISSING_REGIONS, count, logger
from chalicelib.core.settings import settings
from chalicelib.models.artifacts import SIGNATURE_SUFFIX, builds_prefix
from chalicelib.models.failure import ErrorToRaise, Failure
from chalicelib.models.finalize import FailTask, FinalizeResult, FinalizeTask
from chalicelib.models.marketplace import ProductChange
from chalicelib.models.record import ReleaseStatus
from chalicelib.models.regions import missing_regions
from chalicelib.stages import artifacts
from chalicelib.stages.announce import images_by_arch, public_url, read_document, release_key, stream_metadata_key
from chalicelib.stages.failure import describe, innermost, published_failure
from chalicelib.store import records
from chalicelib.upkeep.retention import downloads_named


def _merged_images(earlier: dict[str, dict[str, str]], now: dict[Arch, dict[str, str]]) -> dict[str, dict[str, str]]:
    merged = dict(earlier)
    for arch, regions in now.items():
        merged[arch] = {**merged.get(arch, {}), **regions}
    return dict(sorted(merged.items()))


def settled_status(missing_regions: dict[str, str], marketplace_unsuccessful: list[str]) -> ReleaseStatus:
    """Published everywhere and on Marketplace, published with regions missing, or published
    with a Marketplace version missing (the more urgent to retry, so it wins)."""
    if marketplace_unsuccessful:
        return ReleaseStatus.MARKETPLACE_FAILED
    return ReleaseStatus.PARTIAL if missing_regions else ReleaseStatus.SUCCEEDED


def finalize(task: FinalizeTask) -> FinalizeResult:
    """Record the release complete, or what it misses: regions, each with why, and Marketplace
    versions. A fill-in run's regions and change sets are merged into what the release had.
    Called first before Marketplace is followed (PUBLISHED: out, Marketplace pending), and again
    once every change set has settled, or once the Marketplace task failed (PUBLISHED_WITH_ERRORS:
    out, and the record says why Marketplace is not followed to its end)."""
    caught = task.marketplace.caught
    if caught:
        failure = innermost(caught.in_stage("marketplace"))
        return _record(task, ReleaseStatus.PUBLISHED_WITH_ERRORS, (failure.stage, published_failure(failure)))
    return _record(task, ReleaseStatus.PUBLISHED if task.marketplace.following else None)


def _record(task: FinalizeTask, status: ReleaseStatus | None,
            failed: tuple[str, str] | None = None) -> FinalizeResult:
    """Record what the release published with ``status`` (None: as it settled) and, after a
    failure, the stage that failed and why."""
    record = records.get(task.release_id)
    earlier = record if record and task.attempt else None
    region_states = dict(earlier.region_states) if earlier else {}
    region_states.update({o.region: o for o in task.outcomes})
    images = _merged_images(earlier.images if earlier else {}, images_by_arch(task))
    marketplace: dict[str, ProductChange] = {**(earlier.marketplace if earlier else {}),
                                             **{c.arch: c for c in task.marketplace.products}}
    missing = missing_regions(region_states)
    unsuccessful = task.marketplace.unsuccessful
    status = status or settled_status(missing, unsuccessful)
    records.mark_finished(task.release_id, status, images, task.announcement.metadata_url, task.images, region_states,
                          marketplace, failed)
    if missing:
        logger.warning("release partial", extra={"missing": missing})
        if status != ReleaseStatus.PUBLISHED:  # settled: counted once, not again when Marketplace ends
            count(MISSING_REGIONS, len(missing), stream=task.stream)
    if unsuccessful:
        logger.warning("published, Marketplace failed", extra={"marketplace": unsuccessful})
    return FinalizeResult(release_id=task.release_id, status=status, images=images, missing=missing,
                          marketplace={arch: change.status for arch, change in marketplace.items()},
                          marketplace_failed=unsuccessful, metadata_url=task.announcement.metadata_url,
                          latest_moved=task.announcement.latest_moved)


def fail_published(task: FinalizeTask, failure: Failure) -> ErrorToRaise:
    """A stage after Announce failed: the documents name the release's images already, so
    nothing is removed; the record takes what the release published, as Finalize would, with
    PUBLISHED_WITH_ERRORS and the failure. A fill-in run retries what is missing.
    An Announce that failed after the metadata named the release said nothing of what it sent."""
    if task.announcement.caught:
        task = task.model_copy(update={"announcement": task.announcement.model_copy(update={
            "metadata_url": public_url(stream_metadata_key(task.stream)), "latest_moved": False})})
    sentence = published_failure(failure)
    _record(task, ReleaseStatus.PUBLISHED_WITH_ERRORS, (failure.stage, sentence))
    logger.error("release failed after it was announced", extra={"failure": failure.model_dump()})
    return ErrorToRaise(error=failure.rethrowable_error, cause=sentence)


def fail_release(task: FailTask) -> ErrorToRaise:
    """Remove what the release created in every region, the files its builders staged (with
    their incomplete uploads) and those Announce made public before it failed (unless a published
    document names them), then record the failure.

    A failed fill-in run removes nothing and leaves the release partial: it launched no
    instance, FollowCopies removed the copies that failed, and the copies it made and the
    images the release built are what the next fill-in run uses. A run that failed after it
    recorded the release PUBLISHED removes nothing either: the release is out, and only its
    Marketplace versions are in doubt. Public images always stay (something may name them
    already, this run's or an earlier run's that a rerun reused): retention retires them.

    A failure after Announce comes with what Finalize reads (``published``): the release is
    recorded PUBLISHED_WITH_ERRORS, never FAILED, and nothing is removed."""
    if task.published:
        return fail_published(task.published, innermost(task.failure))
    record = records.get(task.release_id)
    if record and record.status == ReleaseStatus.PUBLISHED and record.execution_arn == task.execution_arn:
        failure = innermost(task.failure)  # a run of a definition without FailPublishedRelease
        sentence = published_failure(failure)
        records.mark_ended(task.release_id, ReleaseStatus.PUBLISHED_WITH_ERRORS, sentence, owner=task.execution_arn,
                           failed_stage=failure.stage)
        logger.error("release failed after it was published", extra={"failure": sentence})
        return ErrorToRaise(error=failure.rethrowable_error, cause=sentence)
    removed, unclean, staged = Removed(), [], {}
    for region in ([] if task.attempt else task.regions):
        try:
            removed.add(remove_release_resources(region, task.release_id, keep_public_images=True))
        except Exception as error:  # noqa: BLE001 - every other region is still cleaned; the sweeper returns here
            unclean.append(f"{region}: {_reason(error)}")
    if not task.attempt:  # a fill-in run builds nothing, so stages nothing, and published nothing new
        try:
            staged = artifacts.remove_staged(task.release_id)
        except Exception as error:  # noqa: BLE001 - the sweeper returns here too
            unclean.append(f"staged files: {_reason(error)}")
        try:
            staged["unannounced"] = remove_unannounced(task.stream, record.version) if record else []
        except Exception as error:  # noqa: BLE001 - retention retires them with the release
            unclean.append(f"published files: {_reason(error)}")
    failure = innermost(task.failure)
    sentence = describe(failure)
    if unclean:
        sentence += f" (cleanup incomplete, left to the sweeper: {'; '.join(unclean)})"
    if task.attempt:
        if not records.mark_fill_in_failed(task.release_id, task.execution_arn, failure.stage, sentence):
            logger.warning("the failed fill-in run does not own the release record; left as it is",
                           extra={"execution_arn": task.execution_arn})
    else:
        records.mark_failed(task.release_id, failure.stage, sentence)
    logger.error("release failed", extra={"failure": failure.model_dump(), "unclean": unclean, **removed.as_dict(),
                                          **staged})
    return ErrorToRaise(error=failure.rethrowable_error, cause=sentence)


def remove_unannounced(stream: str, version: str) -> list[str]:
    """The version's public files that no published document names (an Announce that failed
    after it copied them): every version of them goes, as retention removes files, so nothing
    stays downloadable for a failed release and a rerun of the version can publish its own."""
    if version in downloads_named(stream):
        return []
    bucket, named = settings().metadata_bucket, named_by_release_document(stream, version)
    versions = [(key, v) for key, v in s3.versions_under(bucket, builds_prefix(stream, version)) if key not in named]
    s3.delete_versions(bucket, versions)
    return sorted({key for key, _ in versions})


def named_by_release_document(stream: str, version: str) -> set[str]:
    """The keys of the files (and their signatures) the version's release document lists."""
    base, named = settings().public_base_url, set()
    for entry in (read_document(release_key(stream, version)) or {}).get("architectures", {}).values():
        for platform in entry.get("media", {}).values():
            for image_format in (platform or {}).get("artifacts", {}).values():
                location = (image_format.get("disk") or {}).get("location", "")
                if location.startswith(base):
                    key = location.removeprefix(base)
                    named |= {key, key + SIGNATURE_SUFFIX}
    return named


def _reason(error: Exception) -> str:
    message = message_of(error) if isinstance(error, ClientError) else str(error)
    return message or type(error).__name__
