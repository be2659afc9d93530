"""Publish, per region: launch permission ``all`` on each image and create-volume permission
``all`` on its snapshots, a deprecation time from the stream's policy, and the SSM parameter
of the version. Validate (``validate``) then checks what was promised before anything points at
it: ``latest`` moves only in Announce, and only to validated images."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.aws import ssm
from chalicelib.aws.ec2 import (
    deprecate_image,
    image_snapshots,
    own_images,
    share_image_publicly,
    share_snapshot_publicly,
)
from chalicelib.aws.errors import describe
from chalicelib.core.arch import Arch
from chalicelib.core.config import Stream, load_streams
from chalicelib.core.errors import PublishFailed
from chalicelib.models.regions import PublishTask, RegionOutcome

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import ImageTypeDef

REGIONS_AT_ONCE = 8


def deprecation_time(created: str, stream: Stream) -> str:
    """The stream's policy counted from the image's creation, to the minute, as EC2 takes it."""
    when = datetime.fromisoformat(created.replace("Z", "+00:00")) + timedelta(days=stream.deprecate_after_days)
    return when.replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _share_publicly(region: str, image_ids: list[str], stream: Stream) -> dict[str, ImageTypeDef]:
    for image_id in image_ids:
        share_image_publicly(region, image_id)
    for image in own_images(region, image_ids).values():
        for snapshot in image_snapshots(image):
            share_snapshot_publicly(region, snapshot)
        deprecate_image(region, image["ImageId"], deprecation_time(image["CreationDate"], stream))
    return own_images(region, image_ids)


def version_parameter(stream: Stream, arch: Arch, version: str) -> str:
    return stream.ssm_parameter(arch, version)


def publish_region(task: PublishTask) -> RegionOutcome:
    stream = load_streams().stream(task.stream)
    region = task.region.region
    try:
        described = _share_publicly(region, [i.image_id for i in task.region.images], stream)
        published = []
        for image in task.region.images:
            if not described.get(image.image_id, {}).get("Public"):
                raise PublishFailed(f"{image.arch} {image.image_id} in {region} is still private after sharing",
                                    region=region, arch=image.arch, image_id=image.image_id)
            name = version_parameter(stream, image.arch, task.version)
            ssm.put_image_parameter(region, name, image.image_id, f"{task.stream} {task.version} {image.arch}")
            published.append(image.model_copy(update={"public": True, "parameters": [name]}))
    except ClientError as error:
        raise PublishFailed(f"{region}: {describe(error)}", region=region) from None
    return task.region.model_copy(update={"status": "published", "stage": "publish", "images": published})
