"""The release's start and end as the state machine sees them: prepare, finalize, fail."""

import json

from botocore.exceptions import ClientError

from chalicelib import records
from chalicelib.announce import images_by_arch
from chalicelib.config import load_streams
from chalicelib.ec2 import Removed, remove_release_resources
from chalicelib.models import FailTask, Failure, FinalizeTask, ReleaseInput
from chalicelib.observability import logger

# Once images may be public and named in SSM, a failure must not take them away.
STAGES_AFTER_PUBLICATION_BEGAN = {"publish", "announce", "finalize"}


def prepare(release: ReleaseInput, execution_arn: str) -> dict:
    """Check the input against its stream, claim the release record, plan the work."""
    stream = load_streams().stream(release.stream)
    release.check_against(stream)
    regions = release.regions_for(stream)
    records.create(release, execution_arn, regions)
    return {
        "release_id": release.release_id,
        "stream": release.stream,
        "version": release.version,
        "base_region": stream.regions.base,
        "regions": regions,
        "arches": [{"arch": arch, "commit": commit.model_dump(mode="json")}
                   for arch, commit in sorted(release.commits.items())],
    }


def finalize(task: FinalizeTask) -> dict:
    images = images_by_arch(task)
    records.mark_succeeded(task.release_id, images, task.announcement.metadata_url)
    return {"release_id": task.release_id, "status": "SUCCEEDED", "images": images,
            "metadata_url": task.announcement.metadata_url}


def fail_release(task: FailTask) -> dict:
    """Remove what the release created in every region, then record the failure."""
    keep_public = task.failure.stage in STAGES_AFTER_PUBLICATION_BEGAN
    removed, unclean = Removed(), []
    for region in task.regions:
        try:
            removed.add(remove_release_resources(region, task.release_id, keep_public_images=keep_public))
        except Exception as error:  # noqa: BLE001 - every other region is still cleaned; the sweeper returns here
            message = error.response["Error"]["Message"] if isinstance(error, ClientError) else str(error)
            unclean.append(f"{region}: {message or type(error).__name__}")
    failure = innermost(task.failure)
    sentence = describe(failure)
    if unclean:
        sentence += f" (cleanup incomplete, left to the sweeper: {'; '.join(unclean)})"
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
