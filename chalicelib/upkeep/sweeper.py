"""What no Catch path can clean up. An aborted or timed-out execution runs no Catch, so its
end (an EventBridge "Step Functions Execution Status Change") removes what the release
created, its staged files too; a scheduled sweep removes whatever a release that is no longer
running left past its deadline, in every region of every stream and under the staging prefix."""

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from chalicelib.aws import ec2, s3, stepfunctions
from chalicelib.aws.ec2 import LIVE_INSTANCE_STATES, Removed, outlives_its_instance, remove_release_resources
from chalicelib.aws.errors import describe, ignoring
from chalicelib.core.config import load_streams
from chalicelib.core.observability import SWEEP_ERRORS, fail_loudly, logger
from chalicelib.core.tags import RELEASE, as_dict
from chalicelib.models.abort import AbortRequest, Cleanup
from chalicelib.models.failure import Failure
from chalicelib.models.record import ReleaseRecord, ReleaseStatus
from chalicelib.models.release import ReleaseInput
from chalicelib.stages import artifacts
from chalicelib.stages.failure import published_failure
from chalicelib.store import records
from chalicelib.triggers.starter import execution_arn, state_machine_arn

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import FilterTypeDef, ImageTypeDef, InstanceTypeDef, SnapshotTypeDef, VolumeTypeDef
    from mypy_boto3_s3.type_defs import MultipartUploadTypeDef, ObjectTypeDef

ENDED_WITHOUT_CATCH = ("ABORTED", "TIMED_OUT")
# Only a release that ended unreleased has no use for its private images. A released one's are
# a partial release's built images and copies (for the fill-in run), or public images AWS made
# private after deprecation, which retention makes public again or retires.
# Past the builder's own deadline (it powers itself off at 2 h), with room for its image.
SWEEP_AFTER = timedelta(hours=3)
STAGING = "staging"  # where a failure to sweep the staged files is reported, beside the regions


class Swept(BaseModel):
    releases: dict[str, dict[str, list[str]]]  # release id -> kind -> removed "region:id"
    kept_running: list[str]


def all_regions() -> list[str]:
    return sorted({region for stream in load_streams().streams.values() for region in stream.regions.all})


def on_execution_ended(event: dict) -> dict:
    """Clean up after an execution that ended without its Catch paths running (an abort through
    the API ends here too); what it did, or why it did nothing, is kept in the record."""
    detail = event.get("detail") or {}
    status, release, release_id = detail.get("status"), _release_input(detail), ended_release_id(detail)
    if detail.get("stateMachineArn") != state_machine_arn():
        return {"release_id": release_id, "cleaned": False, "reason": "not an execution of the release state machine"}
    if status not in ENDED_WITHOUT_CATCH or not release_id:
        return {"release_id": release_id, "cleaned": False, "reason": f"status {status} needs no cleanup here"}
    arn = detail.get("executionArn", "")
    result = _clean_up_after(release_id, release, arn, status)
    records.mark_cleanup(release_id, Cleanup(execution_arn=arn, status=status, cleaned=result["cleaned"],
                                             removed=result.get("removed", {}), reason=result.get("reason", ""),
                                             at=records.now()))
    return result


def _clean_up_after(release_id: str, release: ReleaseInput | None, arn: str, status: str) -> dict:
    record = records.get(release_id)
    if record and (record.execution_arn != arn or record.status not in ReleaseStatus.UNSETTLED):
        # handled already (this rule delivered twice), or a later run (a retry) owns the release
        # now: what that run made is not this end's to remove
        return {"release_id": release_id, "cleaned": False,
                "reason": f"the release is {record.status}, owned by {record.execution_arn.rsplit(':', 1)[-1]}"}
    abort = record.abort_of(arn) if record else None
    if record and record.status == ReleaseStatus.PUBLISHED:
        failure = _ended_after_announce(status, abort)
        records.mark_ended(release_id, ReleaseStatus.PUBLISHED_WITH_ERRORS, published_failure(failure), owner=arn,
                           failed_stage=failure.stage)
        return {"release_id": release_id, "cleaned": False, "reason": "the release was published: nothing to clean"}
    if release and release.attempt:
        records.mark_fill_in_failed(release_id, arn, abort.stage if abort else "fill-in",
                                    f"fill-in run {release.attempt}: execution {status}"
                                    + (f" ({_aborted(abort)})" if abort else ""))
        return {"release_id": release_id, "cleaned": False, "reason": "a fill-in run launches no instance, and "
                "the images and copies it found or made are what the next fill-in run uses"}
    removed = Removed()
    for region in (record.regions if record else all_regions()):
        removed.add(remove_release_resources(region, release_id, keep_public_images=True))
    staged = artifacts.remove_staged(release_id)  # after the builders are gone: no upload lands later
    if record:
        records.mark_ended(release_id, ReleaseStatus(status),
                           (f"{_aborted(abort)}; " if abort else f"execution {status}: ") + "cleaned up what it had "
                           "created", owner=arn, failed_stage=abort.stage if abort else None)
    logger.warning("release ended without its catch paths; cleaned up",
                   extra={"release_id": release_id, "status": status, **removed.as_dict(), **staged})
    return {"release_id": release_id, "cleaned": True, "removed": {**removed.as_dict(), **staged}}


def _ended_after_announce(status: str, abort: AbortRequest | None) -> Failure:
    """A run that ended while it followed Marketplace (recorded PUBLISHED): as FailPublishedRelease
    would have recorded it, had the run ended through its Catch paths."""
    cause = "the run ended while following Marketplace; a fill-in run follows its change sets again"
    return Failure(stage=abort.stage if abort else "marketplace", error=f"execution {status}",
                   cause=f"{cause} ({_aborted(abort)})" if abort else cause)


def ended_release_id(detail: dict) -> str | None:
    """The release an execution-status event is about: a fill-in run's execution has a name of its own."""
    release = _release_input(detail)
    return release.release_id if release else detail.get("name")


def _aborted(abort: AbortRequest) -> str:
    return f"aborted in {abort.stage}: {abort.reason}"


def _release_input(detail: dict) -> ReleaseInput | None:
    """The execution's input: a fill-in run's execution has a name of its own, not the release id."""
    try:
        return ReleaseInput.model_validate_json(detail["input"])
    except (KeyError, TypeError, ValidationError):
        return None


def _is_running(release_id: str, record: ReleaseRecord | None) -> bool:
    arn = record.execution_arn if record else execution_arn(state_machine_arn(), release_id)
    return stepfunctions.execution_status(arn) == "RUNNING"


def _old(when: datetime, now: datetime) -> bool:
    return now - when > SWEEP_AFTER


def _leftovers(region: str, now: datetime) -> dict[str, dict[str, list]]:
    """Per release, its old instances, volumes, and private images and snapshots, in a region."""
    tagged: list[FilterTypeDef] = [{"Name": "tag-key", "Values": [RELEASE]}]
    instances = ec2.instances_where(region, [*tagged, {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}])
    return leftovers(instances, ec2.volumes_where(region, tagged), ec2.own_images_where(region, tagged),
                     ec2.own_snapshots_where(region, tagged), now)


def leftovers(instances: list["InstanceTypeDef"], volumes: list["VolumeTypeDef"], images: list["ImageTypeDef"],
              snapshots: list["SnapshotTypeDef"], now: datetime) -> dict[str, dict[str, list]]:
    """Of what EC2 describes with a release's tag, per release and kind, the ids of what is past
    the sweep: instances, volumes that outlive their instance, private images not protected from
    deregistration (Announce protects those it names), and snapshots."""
    found: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for instance in instances:
        if _old(instance["LaunchTime"], now):
            found[as_dict(instance.get("Tags"))[RELEASE]]["instances"].append(instance["InstanceId"])
    for volume in filter(outlives_its_instance, volumes):
        if _old(volume["CreateTime"], now):
            found[as_dict(volume.get("Tags"))[RELEASE]]["volumes"].append(volume["VolumeId"])
    for image in images:
        created = datetime.fromisoformat(image["CreationDate"].replace("Z", "+00:00"))
        if not image.get("Public") and not ec2.is_protected(image) and _old(created, now):
            found[as_dict(image.get("Tags"))[RELEASE]]["images"].append(image["ImageId"])
    for snapshot in snapshots:
        if _old(snapshot["StartTime"], now):
            found[as_dict(snapshot.get("Tags"))[RELEASE]]["snapshots"].append(snapshot["SnapshotId"])
    return found


def _remove(region: str, kinds: dict[str, list]) -> dict[str, list[str]]:
    ec2.terminate(region, kinds.get("instances", []))
    for volume in kinds.get("volumes", []):
        ec2.delete_volume(region, volume)
    for image in kinds.get("images", []):
        ec2.deregister_image(region, image)
    removed = {kind: [f"{region}:{i}" for i in ids] for kind, ids in kinds.items() if kind != "snapshots"}
    removed["snapshots"] = []
    for snapshot in kinds.get("snapshots", []):
        with ignoring("InvalidSnapshot.InUse"):  # behind a public image: kept
            ec2.delete_snapshot(region, snapshot)
            removed["snapshots"].append(f"{region}:{snapshot}")
    return removed


def stale_staging(objects: list["ObjectTypeDef"], uploads: list["MultipartUploadTypeDef"],
                  now: datetime) -> dict[str, dict[str, list]]:
    """Of what is under the staging prefix, per release, the files and the incomplete multipart
    uploads past the sweep. Announce empties a release's staging, FailRelease and the end of an
    execution do too: what is left is a cleanup's that failed, or an upload that landed after it."""
    found: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for stored in objects:
        if _old(stored["LastModified"], now):
            found[artifacts.staged_release_id(stored["Key"])]["files"].append(stored["Key"])
    for upload in uploads:
        if _old(upload["Initiated"], now):
            found[artifacts.staged_release_id(upload["Key"])]["uploads"].append(upload)
    return found


def _remove_staged(kinds: dict[str, list]) -> dict[str, list[str]]:
    uploads = kinds.get("uploads", [])
    for upload in uploads:
        s3.abort_upload(artifacts.bucket(), upload["Key"], upload["UploadId"])
    s3.delete_objects(artifacts.bucket(), kinds.get("files", []))
    return {"files": kinds.get("files", []), "uploads": [f"{u['Key']} ({u['UploadId']})" for u in uploads]}


def sweep(now: datetime | None = None) -> Swept:
    now = now or datetime.now(UTC)
    swept: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    running: set[str] = set()

    def still_running(release_id: str, record: ReleaseRecord | None) -> bool:
        if release_id in running or _is_running(release_id, record):
            running.add(release_id)
            return True
        return False

    def sweep_region(region: str) -> None:
        for release_id, kinds in _leftovers(region, now).items():
            record = records.get(release_id)
            if still_running(release_id, record):
                continue
            if record and record.status not in ReleaseStatus.ENDED_UNRELEASED:
                kinds = {kind: ids for kind, ids in kinds.items() if kind not in ("images", "snapshots")}
            for kind, ids in _remove(region, kinds).items():
                swept[release_id][kind].extend(ids)

    def sweep_staging() -> None:
        staged = stale_staging(s3.objects_under(artifacts.bucket(), artifacts.STAGING),
                               s3.uploads_under(artifacts.bucket(), artifacts.STAGING), now)
        for release_id, kinds in staged.items():
            if not still_running(release_id, records.get(release_id)):  # whatever its status: staging is scratch
                for kind, ids in _remove_staged(kinds).items():
                    swept[release_id][kind].extend(ids)

    failures = {}
    jobs: list[tuple[str, Callable[[], None]]] = [(r, partial(sweep_region, r)) for r in all_regions()]
    for where, sweep_one in [*jobs, (STAGING, sweep_staging)]:
        try:
            sweep_one()
        except Exception as error:  # noqa: BLE001 - one region's failure, reported once every other is swept
            logger.exception("could not sweep", extra={"where": where})
            failures[where] = describe(error)
    result = Swept(releases={r: dict(k) for r, k in swept.items()}, kept_running=sorted(running))
    if result.releases:
        logger.warning("swept leftovers of releases no longer running", extra=result.model_dump())
    fail_loudly("the sweep", SWEEP_ERRORS, "region", failures)
    return result
