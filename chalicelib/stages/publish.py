"""Publish, per region: the stream's launch permissions on each image (``all`` when it is public,
and the accounts, organizations and OUs it is shared with) and create-volume permissions on its
snapshots (``all`` and the accounts: AWS shares a snapshot with no organization), a deprecation
time from the stream's policy, and the SSM parameter of the version. What is shared already is
looked up first and not asked for again. Validate (``validate``) then checks what was promised
before anything points at it: ``latest`` moves only in Announce, and only to validated images."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.aws import ssm
from chalicelib.aws.ec2 import (
    deprecate_image,
    image_launch_permissions,
    image_snapshots,
    own_images,
    share_image,
    share_snapshot,
)
from chalicelib.aws.errors import describe
from chalicelib.core.arch import Arch
from chalicelib.core.config import Stream, load_streams
from chalicelib.core.errors import PublishFailed
from chalicelib.models.regions import PublishTask, RegionOutcome

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import ImageTypeDef


def deprecation_time(created: str, stream: Stream) -> str:
    """The stream's policy counted from the image's creation, to the minute, as EC2 takes it."""
    when = datetime.fromisoformat(created.replace("Z", "+00:00")) + timedelta(days=stream.deprecate_after_days)
    return when.replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _share(region: str, image_ids: list[str], stream: Stream) -> dict[str, ImageTypeDef]:
    for image_id in image_ids:
        share_image(region, image_id, stream.sharing.launch_permissions)
    for image in own_images(region, image_ids).values():
        for snapshot in image_snapshots(image):
            share_snapshot(region, snapshot, stream.sharing.volume_permissions)
        deprecate_image(region, image["ImageId"], deprecation_time(image["CreationDate"], stream))
    return own_images(region, image_ids)


def unshared(region: str, image: ImageTypeDef, stream: Stream) -> str:
    """What of the stream's sharing the image lacks after Publish, or ''."""
    if stream.sharing.public and not image.get("Public"):
        return "still private after sharing"
    granted = image_launch_permissions(region, image["ImageId"]) if stream.sharing.targets else []
    missing = [next(iter(p.values())) for p in stream.sharing.targets if p not in granted]
    return f"not shared with {', '.join(missing)}" if missing else ""


def version_parameter(stream: Stream, arch: Arch, version: str) -> str:
    return stream.ssm_parameter(arch, version)


def publish_region(task: PublishTask) -> RegionOutcome:
    stream = load_streams().stream(task.stream)
    region = task.region.region
    try:
        described = _share(region, [i.image_id for i in task.region.images], stream)
        published = []
        for image in task.region.images:
            found = described.get(image.image_id)
            if wrong := unshared(region, found, stream) if found else "gone after sharing":
                raise PublishFailed(f"{image.arch} {image.image_id} in {region} is {wrong}",
                                    region=region, arch=image.arch, image_id=image.image_id)
            name = version_parameter(stream, image.arch, task.version)
            ssm.put_image_parameter(region, name, image.image_id, f"{task.stream} {task.version} {image.arch}")
            published.append(image.model_copy(update={"public": stream.sharing.public, "parameters": [name]}))
    except ClientError as error:
        raise PublishFailed(f"{region}: {describe(error)}", region=region) from None
    return task.region.model_copy(update={"status": "published", "stage": "publish", "images": published})
