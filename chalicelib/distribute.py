"""Distribute and publish, per destination region: copy each architecture's image (looked up
by name first), wait for it, then make it public and record it in SSM."""

from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError

from chalicelib.aws import client, client_token
from chalicelib.config import load_streams
from chalicelib.ec2 import images_by_name
from chalicelib.errors import CopyFailed, PublishFailed
from chalicelib.models import (
    BuiltImage,
    PublishTask,
    RegionalImage,
    RegionResult,
    RegionTask,
)
from chalicelib.observability import logger
from chalicelib.tags import release_tags, tag_specifications

# CopyImage has no stated duration: 30 minutes and more per region are normal.
COPY_DEADLINE = timedelta(hours=6)


def _image_ids_by_name(task: RegionTask) -> dict[str, str]:
    found = images_by_name(task.region, [i.name for i in task.images], task.release_id)
    return {name: image["ImageId"] for name, image in found.items()}


def _copy_one(task: RegionTask, image: BuiltImage, existing: dict[str, str]) -> str:
    if task.region == task.base_region:
        return image.image_id
    if image.name in existing:
        return existing[image.name]
    tags = release_tags(task.release_id, task.stream, image.arch, "image")
    try:
        return client("ec2", task.region).copy_image(
            SourceImageId=image.image_id, SourceRegion=task.base_region, Name=image.name,
            Description=f"{task.stream} {task.version} {image.arch}",
            ClientToken=client_token(task.release_id, image.arch, task.region),
            CopyImageTags=True, TagSpecifications=tag_specifications(tags, "image", "snapshot"),
        )["ImageId"]
    except ClientError as error:
        raise CopyFailed(f"{image.arch} {image.image_id} to {task.region}: {error.response['Error']['Message']}") from None


def _states(region: str, image_ids: list[str]) -> dict[str, str]:
    images = client("ec2", region).describe_images(ImageIds=image_ids)["Images"]
    return {i["ImageId"]: i["State"] for i in images}


def region_state(task: RegionTask, image_ids: dict[str, str]) -> RegionResult:
    """Where each copy stands; a copy that failed, or is still pending past the deadline, is an
    error naming the region."""
    states = _states(task.region, list(image_ids.values()))
    images = [RegionalImage(arch=arch, image_id=iid, state=states.get(iid, "missing"))
              for arch, iid in image_ids.items()]
    broken = [i for i in images if i.state in ("failed", "deregistered", "missing", "error")]
    if broken:
        raise CopyFailed("; ".join(f"{i.arch} {i.image_id} in {task.region} is {i.state}" for i in broken))
    pending = any(i.state != "available" for i in images)
    now = datetime.now(timezone.utc)
    since = task.waiting_since or now
    if pending and now - since > COPY_DEADLINE:
        raise CopyFailed(f"copies to {task.region} still pending after {COPY_DEADLINE}: "
                         + ", ".join(f"{i.arch} {i.image_id} {i.state}" for i in images))
    return RegionResult(region=task.region, images=images, pending=pending, waiting_since=since if pending else None)


def copy_to_region(task: RegionTask) -> RegionResult:
    """Copy each image unless a copy of that name is there already (a rerun copies nothing twice)."""
    existing = _image_ids_by_name(task) if task.region != task.base_region else {}
    image_ids = {image.arch: _copy_one(task, image, existing) for image in task.images}
    result = region_state(task, image_ids)
    logger.info("copies requested", extra={"region": task.region, "images": image_ids, "pending": result.pending})
    return result


def check_copies(task: RegionTask) -> RegionResult:
    """Look again at copies already requested (by name, as copy_to_region left them)."""
    if task.region == task.base_region:
        return region_state(task, {image.arch: image.image_id for image in task.images})
    by_name = _image_ids_by_name(task)
    vanished = [i.name for i in task.images if i.name not in by_name]
    if vanished:
        raise CopyFailed(f"copies {', '.join(vanished)} vanished from {task.region}")
    return region_state(task, {image.arch: by_name[image.name] for image in task.images})


def _share_publicly(region: str, images: list[RegionalImage]) -> dict[str, dict]:
    """Launch permission ``all`` on each image and create-volume permission ``all`` on its
    snapshots; returns each image as EC2 describes it afterwards."""
    ec2 = client("ec2", region)
    for image in images:
        ec2.modify_image_attribute(ImageId=image.image_id, LaunchPermission={"Add": [{"Group": "all"}]})
    described = {i["ImageId"]: i for i in ec2.describe_images(ImageIds=[i.image_id for i in images])["Images"]}
    for image in described.values():
        for mapping in image.get("BlockDeviceMappings", []):
            if "Ebs" in mapping:
                ec2.modify_snapshot_attribute(SnapshotId=mapping["Ebs"]["SnapshotId"],
                                              Attribute="createVolumePermission",
                                              OperationType="add", GroupNames=["all"])
    return described


def _record_in_ssm(task: PublishTask, arch: str, image_id: str) -> list[str]:
    stream = load_streams().stream(task.stream)
    ssm = client("ssm", task.region.region)
    names = [stream.ssm_parameter(arch, task.version), stream.ssm_parameter(arch, "latest")]
    for name in names:
        ssm.put_parameter(Name=name, Value=image_id, Type="String", DataType="aws:ec2:image", Overwrite=True,
                          Description=f"{task.stream} {task.version} {arch}")
    return names


def publish_region(task: PublishTask) -> RegionResult:
    """Public first, then SSM: ``latest`` never points at an image that is not public."""
    region = task.region.region
    try:
        described = _share_publicly(region, task.region.images)
        published = []
        for image in task.region.images:
            if not described.get(image.image_id, {}).get("Public"):
                raise PublishFailed(f"{image.arch} {image.image_id} in {region} is still private after sharing")
            parameters = _record_in_ssm(task, image.arch, image.image_id)
            published.append(image.model_copy(update={"public": True, "parameters": parameters}))
    except ClientError as error:
        raise PublishFailed(f"{region}: {error.response['Error']['Message']}") from None
    return RegionResult(region=region, images=published)
