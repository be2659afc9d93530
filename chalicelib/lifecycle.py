"""The release's start and end as the state machine sees them: prepare, finalize, fail."""

import json

from botocore.exceptions import ClientError

from chalicelib import records
from chalicelib.announce import images_by_arch
from chalicelib.config import Stream, load_streams
from chalicelib.ec2 import Removed, remove_release_resources
from chalicelib.errors import ReleaseNotPartial
from chalicelib.models import (
    FILLABLE_STATUSES,
    FailTask,
    Failure,
    FinalizeTask,
    ProductChange,
    ReleaseInput,
    ReleaseRecord,
    missing_regions,
    without_version,
)
from chalicelib.observability import logger


def _marketplace_plan(stream: Stream, arches: list[str], earlier: dict[str, ProductChange]) -> dict:
    """The Marketplace stage's starting point; an earlier run's change sets come along, so one
    still in flight is followed rather than sent again."""
    plan = {"arches": arches, "pending": bool(arches), "wait_seconds": stream.marketplace.check_every_minutes * 60}
    return {**plan, "products": [earlier[arch].model_dump(mode="json", exclude_none=True)
                                 for arch in arches if arch in earlier]}


def prepare(release: ReleaseInput, execution_arn: str) -> dict:
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
        "arches": [{"arch": arch, "commit": commit.model_dump(mode="json")}
                   for arch, commit in sorted(release.commits.items())],
    }
    if not release.attempt:
        regions = release.regions_for(stream)
        arches = [arch for arch in stream.marketplace_arches if arch in release.commits]
        claim = records.claim_rerun if release.rerun else records.create
        claim(release, execution_arn, regions, arches)
        return {**plan, "regions": regions, "marketplace": _marketplace_plan(stream, arches, {})}
    earlier = records.get(release.release_id)
    if earlier and earlier.status in FILLABLE_STATUSES and nothing_to_fill_in(stream, earlier):
        raise ReleaseNotPartial(f"release {release.release_id} misses no region and no Marketplace version: "
                                "nothing to fill in")
    record = records.claim_fill_in(release, execution_arn)
    missing = [region for region in record.regions if region in record.missing_regions]
    arches = _unsent(stream, record)
    logger.info("fill-in run", extra={"attempt": release.attempt, "regions": missing, "marketplace": arches})
    return {**plan, "regions": missing, "images": record.built_images,
            "marketplace": _marketplace_plan(stream, arches, record.marketplace)}


def nothing_to_fill_in(stream: Stream, record: ReleaseRecord) -> bool:
    return not (record.missing_regions or _unsent(stream, record))


def _unsent(stream: Stream, record: ReleaseRecord) -> list[str]:
    """The architectures the release planned a Marketplace version for (and the stream still
    publishes) whose product has no successful change set of the release."""
    return without_version([arch for arch in stream.marketplace_arches if arch in record.marketplace_arches],
                           record.marketplace)


def _merged_images(earlier: dict[str, dict[str, str]], now: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {arch: {**earlier.get(arch, {}), **now.get(arch, {})} for arch in sorted({*earlier, *now})}


def settled_status(missing_regions: dict[str, str], marketplace_unsuccessful: list[str]) -> str:
    """Published everywhere and on Marketplace, published with regions missing, or published
    with a Marketplace version missing (the more urgent to retry, so it wins)."""
    if marketplace_unsuccessful:
        return "MARKETPLACE_FAILED"
    return "PARTIAL" if missing_regions else "SUCCEEDED"


def finalize(task: FinalizeTask) -> dict:
    """Record the release complete, or what it misses: regions, each with why, and Marketplace
    versions. A fill-in run's regions and change sets are merged into what the release had.
    Called first before Marketplace is followed (PUBLISHED: out, Marketplace pending), and again
    once every change set has settled."""
    record = records.get(task.release_id)
    earlier = record if record and task.attempt else None
    region_states = dict(earlier.region_states) if earlier else {}
    region_states.update({o.region: o.model_dump(mode="json", exclude_none=True) for o in task.outcomes})
    images = _merged_images(earlier.images if earlier else {}, images_by_arch(task))
    marketplace = {**(earlier.marketplace if earlier else {}), **{c.arch: c for c in task.marketplace.products}}
    missing = missing_regions(region_states)
    unsuccessful = task.marketplace.unsuccessful
    status = "PUBLISHED" if task.marketplace.following else settled_status(missing, unsuccessful)
    records.mark_finished(task.release_id, status, images, task.announcement.metadata_url,
                          [i.model_dump(mode="json") for i in task.images], region_states,
                          {arch: change.model_dump(mode="json", exclude_none=True) for arch, change in marketplace.items()})
    if missing:
        logger.warning("release partial", extra={"missing": missing})
    if unsuccessful:
        logger.warning("published, Marketplace failed", extra={"marketplace": unsuccessful})
    return {"release_id": task.release_id, "status": status, "images": images, "missing": missing,
            "marketplace": {arch: change.status for arch, change in marketplace.items()},
            "marketplace_failed": unsuccessful,
            "metadata_url": task.announcement.metadata_url, "latest_moved": task.announcement.latest_moved}


def fail_release(task: FailTask) -> dict:
    """Remove what the release created in every region, then record the failure.

    A failed fill-in run removes nothing and leaves the release partial: it launched no
    instance, CheckCopies removed the copies that failed, and the copies it made and the
    images the release built are what the next fill-in run uses. A run that failed after it
    recorded the release PUBLISHED removes nothing either: the release is out, and only its
    Marketplace versions are in doubt. Public images always stay (something may name them
    already, this run's or an earlier run's that a rerun reused): retention retires them."""
    record = records.get(task.release_id)
    if record and record.status == "PUBLISHED" and record.execution_arn == task.execution_arn:
        sentence = describe(innermost(task.failure))
        records.mark_ended(task.release_id, "MARKETPLACE_FAILED", f"{sentence}; the release is out",
                           owner=task.execution_arn)
        logger.error("release failed after it was published", extra={"failure": sentence})
        return {"error": innermost(task.failure).rethrowable_error, "cause": sentence}
    removed, unclean = Removed(), []
    for region in ([] if task.attempt else task.regions):
        try:
            removed.add(remove_release_resources(region, task.release_id, keep_public_images=True))
        except Exception as error:  # noqa: BLE001 - every other region is still cleaned; the sweeper returns here
            message = error.response["Error"]["Message"] if isinstance(error, ClientError) else str(error)
            unclean.append(f"{region}: {message or type(error).__name__}")
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
    logger.error("release failed", extra={"failure": failure.model_dump(), "unclean": unclean, **removed.as_dict()})
    return {"error": failure.rethrowable_error, "cause": sentence}


_TIMEOUTS = {
    "States.Timeout": "no report before the task's deadline",
    "States.HeartbeatTimeout": "no heartbeat within the heartbeat interval",
}


def innermost(failure: Failure) -> Failure:
    """The failure where it happened: a cause may wrap a failure of an inner stage (the Build
    map's) or a Lambda error document."""
    try:
        inner = json.loads(failure.cause)
    except (TypeError, ValueError):
        return failure
    if isinstance(inner, dict) and {"stage", "error"} <= inner.keys():
        return innermost(Failure.model_validate(inner))
    if isinstance(inner, dict) and "errorMessage" in inner:
        return innermost(failure.model_copy(update={"cause": inner["errorMessage"]}))
    return failure


def describe(failure: Failure) -> str:
    """One sentence naming the failed stage and its cause."""
    where = f"{failure.stage} ({failure.arch})" if failure.arch else failure.stage
    cause = failure.cause or _TIMEOUTS.get(failure.error, "no cause given")
    return f"{where} failed: {failure.error}: {cause}"


def describe_cause(stage: str, error: str | None, cause: str | None) -> str:
    """The sentence for an execution that failed in ``stage`` before FailRelease could speak."""
    return describe(innermost(Failure(stage=stage, error=error or "unknown error", cause=cause or "")))
