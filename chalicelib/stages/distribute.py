"""Distribute: copy each architecture's image to a destination region (looked up by name
first, so a rerun copies nothing twice), then follow every region's copies from one task, which
publishes each region as soon as its copies are available and says when to look again."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws import ec2
from chalicelib.aws.clients import client_token
from chalicelib.aws.errors import code_of, describe, ignoring
from chalicelib.core import clock
from chalicelib.core.config import load_streams
from chalicelib.core.errors import CopyFailed, CopyThrottled
from chalicelib.core.observability import logger
from chalicelib.core.regions import REGIONS_AT_ONCE
from chalicelib.core.tags import image_tags, tag_specifications
from chalicelib.models.build import BuiltImage, image_description
from chalicelib.models.regions import Copies, CopiesTask, PublishTask, RegionalImage, RegionOutcome, RegionTask
from chalicelib.plan import latency
from chalicelib.stages.publish import publish_region
from chalicelib.store import records

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import ImageTypeDef

# CopyImage has no stated duration: 30 minutes and more per region are normal.
COPY_DEADLINE = timedelta(hours=6)
THROTTLING_ERRORS = {"RequestLimitExceeded", "ResourceLimitExceeded"}
BROKEN_STATES = {"failed", "error", "invalid", "deregistered", "missing"}

# The wait between two follows of the copies (docs/flow.md#when-the-copies-are-followed): one
# early look at EARLY_LOOK of the pending regions' expected copy time, so that a copy faster than
# expected is seen (and measured) sooner than its due time; until the earliest pending region is
# due; then a backstop of BACKSTOP_SHARE of the time the run has taken, between the floor and the cap.
EARLY_LOOK = 0.5
FOLLOW_FLOOR_S = 10
FOLLOW_CAP_S = 300
BACKSTOP_SHARE = 0.0175


def _now() -> datetime:
    return clock.now()


def copies_pending(region: str) -> int:
    """The account's copies (images still pending) in a region: AWS allows 20 at once."""
    return len(ec2.own_images_where(region, [{"Name": "state", "Values": ["pending"]}]))


def deregister(region: str, image: ImageTypeDef) -> None:
    """Remove a copy that failed or ran out of time (deregistering a pending copy cancels it)."""
    ec2.deregister_image(region, image["ImageId"])
    for snapshot in ec2.image_snapshots(image):
        with ignoring("InvalidSnapshot.NotFound"):
            ec2.delete_snapshot(region, snapshot)


def _copy(task: RegionTask, image: BuiltImage, replacing: str = "") -> str:
    """``replacing``: the broken copy this one replaces. EC2 answers a repeated ClientToken with
    the first answer, which would be the broken copy again."""
    # CopyImageTags brings the source image's tags; the copy's snapshot has only these.
    tags = image_tags(task.release_id, task.stream, image.arch, load_streams().stream(task.stream).tags)
    try:
        return ec2.copy_image(
            task.region, SourceImageId=image.image_id, SourceRegion=task.base_region, Name=image.name,
            Description=image_description(task.stream, task.version, image.arch, task.commits[image.arch].checksum),
            ClientToken=client_token(task.release_id, image.arch, task.region, str(task.attempt), replacing),
            CopyImageTags=True, TagSpecifications=tag_specifications(tags, "image", "snapshot"),
        )
    except ClientError as error:
        if code_of(error) in THROTTLING_ERRORS:
            raise CopyThrottled(f"{image.arch} to {task.region}: {describe(error)}",
                                region=task.region, arch=image.arch, image_id=image.image_id) from None
        raise CopyFailed(f"{image.arch} {image.image_id} to {task.region}: {describe(error)}",
                         region=task.region, arch=image.arch, image_id=image.image_id) from None


def _existing_copies(task: RegionTask) -> tuple[dict[str, str], dict[str, str]]:
    """Copies already in the region by name, and the broken ones removed so they are copied again."""
    found = ec2.images_by_name(task.region, [i.name for i in task.images], task.release_id)
    broken = {name: image for name, image in found.items() if image["State"] in BROKEN_STATES}
    for image in broken.values():
        deregister(task.region, image)
    return ({name: image["ImageId"] for name, image in found.items() if name not in broken},
            {name: image["ImageId"] for name, image in broken.items()})


def copy_to_region(task: RegionTask) -> RegionOutcome:
    """Request the region's copies, no more at once than the stream lets be pending there."""
    if task.region == task.base_region:
        images = {image.arch: image.image_id for image in task.images}
    else:
        existing, broken = _existing_copies(task)
        needed = [image for image in task.images if image.name not in existing]
        if needed:
            limit = load_streams().stream(task.stream).copies_in_flight_per_region
            room = limit - copies_pending(task.region)
            for image in needed[: max(room, 0)]:
                existing[image.name] = _copy(task, image, broken.get(image.name, ""))
            if room < len(needed):
                raise CopyThrottled(f"{task.region} has {limit - room} copies pending, the stream allows {limit}: "
                                    f"{len(needed) - max(room, 0)} of this release's copies wait", region=task.region)
        images = {image.arch: existing[image.name] for image in task.images}
    logger.info("copies requested", extra={"region": task.region, "images": images})
    return RegionOutcome(region=task.region, status="copying", stage="copy", requested_at=_now(),
                         images=[RegionalImage(arch=arch, image_id=iid) for arch, iid in images.items()])


def followed(region: RegionOutcome, described: dict[str, ImageTypeDef], now: datetime
             ) -> tuple[RegionOutcome, list[ImageTypeDef]]:
    """One region's copies as EC2 describes them (image id -> image) at ``now``, and the copies
    to remove: broken or overdue copies fail the region, and those of them EC2 still has go."""
    images = [image.model_copy(update={"state": described.get(image.image_id, {}).get("State", "missing")})
              for image in region.images]
    broken = [i for i in images if i.state in BROKEN_STATES]
    overdue = region.requested_at is not None and now - region.requested_at > COPY_DEADLINE
    if broken or (overdue and any(i.state != "available" for i in images)):
        doomed = [described[i.image_id] for i in images if i.image_id in described and i.state != "available"]
        why = (", ".join(f"{i.arch} {i.image_id} is {i.state}" for i in broken) if broken
               else f"still pending after {COPY_DEADLINE}")
        return region.model_copy(update={"status": "failed", "images": images, "reason": why}), doomed
    done = all(i.state == "available" for i in images)
    return region.model_copy(update={"status": "copied" if done else "copying", "images": images}), []


def _follow(region: RegionOutcome, now: datetime) -> RegionOutcome:
    """One region's copies as EC2 sees them now; the broken or overdue ones are removed. A region
    EC2 does not answer for stays copying, and the next follow asks again: its error is its own,
    and other regions may be public already. The copy deadline still ends it."""
    try:
        outcome, doomed = followed(region, ec2.own_images(region.region, [i.image_id for i in region.images]), now)
        for image in doomed:
            deregister(region.region, image)
    except (ClientError, BotoCoreError) as error:
        logger.warning("copies not followed: asking again at the next follow",
                       extra={"region": region.region, "error": describe(error)})
        return _unanswered(region, now, describe(error))
    return outcome


def _unanswered(region: RegionOutcome, now: datetime, error: str) -> RegionOutcome:
    """A region whose follow failed: still copying, or failed once past the copy deadline (its
    copies, which could not be removed then, are the sweeper's)."""
    if region.requested_at is not None and now - region.requested_at > COPY_DEADLINE:
        return region.model_copy(update={"status": "failed",
                                         "reason": f"still not followed after {COPY_DEADLINE}: {error}"})
    return region


class CopyWindow(NamedTuple):
    """A pending region's copies: when they were requested, and when the model expects them."""
    requested: datetime
    due: datetime

    @property
    def early_look(self) -> datetime:
        return self.requested + EARLY_LOOK * (self.due - self.requested)


def next_follow_in(pending: list[CopyWindow], now: datetime, started_at: datetime) -> int:
    """Seconds until the next follow of the copies still ``pending``. Before any is due: once,
    until the latest of their early looks (after it, every pending region's early look is past:
    one extra follow at most); until the earliest is due. Once one is overdue: a backstop that
    grows with the time the run has taken (so the polls grow with its logarithm), and never past
    the next region's due time."""
    early_look = max((window.early_look for window in pending), default=now)
    until_early_look = (early_look - now).total_seconds() if early_look > now else math.inf
    until_next_due = min(((window.due - now).total_seconds() for window in pending if window.due > now),
                         default=math.inf)
    backstop = (min(max(BACKSTOP_SHARE * (now - started_at).total_seconds(), FOLLOW_FLOOR_S), FOLLOW_CAP_S)
                if any(window.due <= now for window in pending) else math.inf)
    wait = min(until_early_look, until_next_due, backstop)
    # rounded to the millisecond first: 3600 x 0.0175 is 63.00000000000001, which is 63 s, not 64
    return FOLLOW_FLOOR_S if wait == math.inf else max(math.ceil(round(wait, 3)), FOLLOW_FLOOR_S)


def copy_window(region: RegionOutcome, expected_s: dict[str, float], now: datetime) -> CopyWindow:
    """The region's copies, due when Preflight expects them, else at the default model's median."""
    expected = expected_s.get(region.region, latency.DEFAULT_MODEL.estimate("copy", region.region).median_s)
    requested = region.requested_at or now
    return CopyWindow(requested, requested + timedelta(seconds=expected))


def _publish(task: CopiesTask, region: RegionOutcome) -> RegionOutcome:
    """The region published, or failed in the publish stage: its failure is its own. A run
    aborted meanwhile leaves it copied: a Lambda goes on after StopExecution, so the abort is read
    before each region (one GetItem) rather than once per follow."""
    if _aborted(task):
        logger.warning("run aborted: region not published", extra={"region": region.region})
        return region
    try:
        return publish_region(PublishTask(release_id=task.release_id, stream=task.stream, version=task.version,
                                          region=region))
    except Exception as error:  # noqa: BLE001 - any error fails the region only, as a Catch would record it
        logger.warning("publish failed", extra={"region": region.region, "error": str(error)})
        return RegionOutcome(region=region.region, status="failed", stage="publish",
                             reason=f"{type(error).__name__}: {error}")


def _aborted(task: CopiesTask) -> bool:
    """A maintainer aborted the run (the abort is recorded before the run is stopped): a follow
    still running then publishes no further region."""
    record = records.get(task.release_id) if task.execution_arn else None
    return bool(record and record.abort_of(task.execution_arn))


def follow_copies(task: CopiesTask) -> Copies:
    """Every region's copies from one task, once per wait: the cost in state transitions is
    the same for 3 regions as for 30. A region whose copies are available is published in the
    same follow; regions already failed or published are not looked at again."""
    now = _now()
    waiting = [region for region in task.copies if region.status == "copying"]
    with ThreadPoolExecutor(max_workers=REGIONS_AT_ONCE) as pool:
        followed = {r.region: r for r in pool.map(lambda region: _follow(region, now), waiting)}
        landed = [region for region in (followed.get(r.region, r) for r in task.copies) if region.status == "copied"]
        published = {r.region: r for r in pool.map(lambda region: _publish(task, region), landed)}
    copies = [published.get(r.region) or followed.get(r.region, r) for r in task.copies]
    failed = [r for r in copies if not r.usable and r.stage == "copy"]
    if failed:
        logger.warning("copies failed", extra={"failed": {r.region: r.reason for r in failed}})
    pending = [r for r in copies if r.status == "copying"]
    # the Wait starts when this task ends: counted from then, publishing does not delay the next follow
    ended = _now()
    wait = next_follow_in([copy_window(r, task.expected_copy_s, ended) for r in pending], ended,
                          task.execution_started_at or ended)
    return Copies(pending=bool(pending), copies=copies, published=[r for r in copies if r.stage == "publish"],
                  failed=failed, wait_seconds=wait if pending else 0)
