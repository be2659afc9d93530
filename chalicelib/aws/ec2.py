"""EC2 adapter: images, snapshots, instances and volumes as the pipeline needs them; what a
release created, found by its tags and removed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import WaiterError

from chalicelib.aws.clients import client
from chalicelib.aws.errors import ignoring
from chalicelib.core.arch import Arch
from chalicelib.core.errors import ImageNameTaken, ResourceNotReady
from chalicelib.core.tags import RELEASE, as_dict, release_filters

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import WaiterName
    from mypy_boto3_ec2.type_defs import FilterTypeDef, ImageTypeDef, InstanceTypeDef, SnapshotTypeDef, VolumeTypeDef

LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


def find_instances(region: str, release_id: str, arch: Arch | None = None,
                   role: str | None = None) -> list[InstanceTypeDef]:
    filters = release_filters(release_id, arch, role)
    filters.append({"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES})
    return instances_where(region, filters)


def images_by_name(region: str, names: list[str], release_id: str) -> dict[str, ImageTypeDef]:
    """This account's images of these names in a region. An image of one of the names that
    another release made is an error: the same version built from another commit must never
    be shipped under this release's name."""
    images = own_images_where(region, [{"Name": "name", "Values": names}])
    for image in images:
        owner = as_dict(image.get("Tags")).get(RELEASE)
        if owner != release_id:
            raise ImageNameTaken(f"an image named {image['Name']} ({image['ImageId']}) already exists in {region}, "
                                 f"made by {'release ' + owner if owner else 'something other than atomic-release'}",
                                 region=region, image_id=image["ImageId"])
    return {image["Name"]: image for image in images}


FILTER_VALUES_AT_ONCE = 100  # EC2 takes at most 200 values in one filter


def chunks(values: list[str]) -> list[list[str]]:
    """Values in groups one EC2 filter takes."""
    return [values[i:i + FILTER_VALUES_AT_ONCE] for i in range(0, len(values), FILTER_VALUES_AT_ONCE)]


def image_snapshots(image: ImageTypeDef) -> list[str]:
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]


def own_images(region: str, image_ids: list[str]) -> dict[str, ImageTypeDef]:
    """This account's images of these ids in a region, by id; an id EC2 does not know is absent
    (asking by ImageIds would fail the whole call instead)."""
    return {image["ImageId"]: image for chunk in chunks(image_ids)
            for image in own_images_paged(region, [{"Name": "image-id", "Values": chunk}])}


def own_images_where(region: str, filters: Sequence[FilterTypeDef]) -> list[ImageTypeDef]:
    """This account's images that match the filters (one DescribeImages call)."""
    return client("ec2", region).describe_images(Owners=["self"], Filters=filters)["Images"]


def own_images_paged(region: str, filters: Sequence[FilterTypeDef]) -> list[ImageTypeDef]:
    """This account's images that match the filters, every page."""
    pages = client("ec2", region).get_paginator("describe_images").paginate(Owners=["self"], Filters=filters)
    return [image for page in pages for image in page["Images"]]


def own_snapshots_where(region: str, filters: Sequence[FilterTypeDef]) -> list[SnapshotTypeDef]:
    return client("ec2", region).describe_snapshots(OwnerIds=["self"], Filters=filters)["Snapshots"]


def own_snapshots_paged(region: str, filters: Sequence[FilterTypeDef]) -> list[SnapshotTypeDef]:
    pages = client("ec2", region).get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=filters)
    return [snapshot for page in pages for snapshot in page["Snapshots"]]


def instances_where(region: str, filters: Sequence[FilterTypeDef]) -> list[InstanceTypeDef]:
    pages = client("ec2", region).get_paginator("describe_instances").paginate(Filters=filters)
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def volumes_where(region: str, filters: Sequence[FilterTypeDef]) -> list[VolumeTypeDef]:
    return client("ec2", region).describe_volumes(Filters=filters)["Volumes"]


def opt_in_statuses() -> dict[str, str]:
    """Every region of the partition -> the account's OptInStatus there, asked in this function's region."""
    return {r["RegionName"]: r["OptInStatus"] for r in client("ec2").describe_regions(AllRegions=True)["Regions"]}


def block_public_access_state(region: str) -> str:
    return client("ec2", region).get_image_block_public_access_state()["ImageBlockPublicAccessState"]


def share_image_publicly(region: str, image_id: str) -> None:
    client("ec2", region).modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})


def share_snapshot_publicly(region: str, snapshot_id: str) -> None:
    client("ec2", region).modify_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission",
                                                    OperationType="add", GroupNames=["all"])


def image_launch_permissions(region: str, image_id: str) -> list[dict[str, str]]:
    return [{k: str(v) for k, v in permission.items()} for permission in client("ec2", region).describe_image_attribute(
        ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]]


def snapshot_volume_permissions(region: str, snapshot_id: str) -> list[dict[str, str]]:
    return [{k: str(v) for k, v in permission.items()} for permission in client("ec2", region).describe_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission")["CreateVolumePermissions"]]


def snapshot_is_public(region: str, snapshot_id: str) -> bool:
    return {"Group": "all"} in snapshot_volume_permissions(region, snapshot_id)


def share_image(region: str, image_id: str, permissions: list[dict[str, str]]) -> list[dict[str, str]]:
    """Add the launch permissions (UserId, OrganizationArn, OrganizationalUnitArn or Group) the
    image lacks; those added."""
    granted = image_launch_permissions(region, image_id)
    missing = [p for p in permissions if p not in granted]
    if missing:
        client("ec2", region).modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": missing})  # type: ignore[typeddict-item]
    return missing


def share_snapshot(region: str, snapshot_id: str, permissions: list[dict[str, str]]) -> list[dict[str, str]]:
    """Add the create-volume permissions (UserId or Group) the snapshot lacks; those added."""
    granted = snapshot_volume_permissions(region, snapshot_id)
    missing = [p for p in permissions if p not in granted]
    if missing:
        client("ec2", region).modify_snapshot_attribute(
            SnapshotId=snapshot_id, Attribute="createVolumePermission", OperationType="add",
            UserIds=[p["UserId"] for p in missing if "UserId" in p],
            GroupNames=[p["Group"] for p in missing if "Group" in p])
    return missing


def protect_from_deregistration(region: str, image_ids: list[str]) -> list[str]:
    """Turn deregistration protection on for those of this account's images in the region that
    lack it; the ids it was turned on for. Without the cooldown: retention turns protection off
    just before it deregisters, and a cooldown would hold the image for another 24 hours."""
    unprotected = sorted(image_id for image_id, image in own_images(region, image_ids).items()
                         if not is_protected(image))
    for image_id in unprotected:
        client("ec2", region).enable_image_deregistration_protection(ImageId=image_id, WithCooldown=False)
    return unprotected


def unprotect_from_deregistration(region: str, image_id: str) -> None:
    client("ec2", region).disable_image_deregistration_protection(ImageId=image_id)


def is_protected(image: ImageTypeDef) -> bool:
    """Whether DescribeImages says the image is protected from deregistration."""
    return image.get("DeregistrationProtection", "disabled").startswith("enabled")


def deprecate_image(region: str, image_id: str, at: str) -> None:
    client("ec2", region).enable_image_deprecation(ImageId=image_id, DeprecateAt=at)


def copy_image(region: str, **request) -> str:
    """Request a copy into ``region``; the new image's id."""
    return client("ec2", region).copy_image(**request)["ImageId"]


def run_instance(region: str, **request) -> str:
    """Launch one instance; its id."""
    return client("ec2", region).run_instances(MinCount=1, MaxCount=1, **request)["Instances"][0]["InstanceId"]


def create_snapshot(region: str, **request) -> str:
    return client("ec2", region).create_snapshot(**request)["SnapshotId"]


def register_image(region: str, **request) -> str:
    return client("ec2", region).register_image(**request)["ImageId"]


def wait_for(region: str, waiter: WaiterName, delay_s: int, attempts: int, **ids) -> None:
    """Wait with one of EC2's waiters (raises botocore's WaiterError when it gives up)."""
    client("ec2", region).get_waiter(waiter).wait(**ids, WaiterConfig={"Delay": delay_s, "MaxAttempts": attempts})


def deregister_image(region: str, image_id: str) -> None:
    client("ec2", region).deregister_image(ImageId=image_id)


def delete_snapshot(region: str, snapshot_id: str) -> None:
    client("ec2", region).delete_snapshot(SnapshotId=snapshot_id)


def terminate(region: str, instance_ids: list[str]) -> None:
    """Terminate and wait, so volumes that outlive the instances can be deleted next."""
    if not instance_ids:
        return
    ec2 = client("ec2", region)
    ec2.terminate_instances(InstanceIds=instance_ids)
    try:
        ec2.get_waiter("instance_terminated").wait(InstanceIds=instance_ids, WaiterConfig={"Delay": 5})
    except WaiterError as error:
        raise ResourceNotReady(f"instances {', '.join(instance_ids)} in {region}: {error}", region=region) from None


def outlives_its_instance(volume: VolumeTypeDef) -> bool:
    """A volume of DescribeVolumes that is not going with an instance. One that is (attached with
    DeleteOnTermination, or deleting already) must not be deleted again: once it is gone it has
    no tags, and a role whose deletes need the release's tag is refused (UnauthorizedOperation)."""
    return volume.get("State") != "deleting" and not any(
        attachment.get("DeleteOnTermination") for attachment in volume.get("Attachments", []))


def delete_volume(region: str, volume_id: str) -> None:
    with ignoring("InvalidVolume.NotFound"):
        client("ec2", region).delete_volume(VolumeId=volume_id)


@dataclass
class Removed:
    """What a cleanup removed, per kind, as ``region:id``."""

    instances: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)

    def add(self, other: Removed) -> None:
        for name in ("instances", "volumes", "images", "snapshots"):
            getattr(self, name).extend(getattr(other, name))

    def as_dict(self) -> dict[str, list[str]]:
        return {"instances": self.instances, "volumes": self.volumes, "images": self.images, "snapshots": self.snapshots}


def _terminate_instances(region: str, release_id: str, arch: Arch | None,
                         filters: list[FilterTypeDef]) -> tuple[list[str], list[VolumeTypeDef]]:
    """Terminate the release's instances; then its volumes that outlive them. A volume attached
    to an instance not terminated came with a guest launched after the instances were listed (a
    launch task in flight when the release was aborted): that guest is terminated too, as EC2
    refuses to delete a volume in use."""
    instances = [i["InstanceId"] for i in find_instances(region, release_id, arch)]
    terminate(region, instances)
    volumes = [v for v in volumes_where(region, filters) if outlives_its_instance(v)]
    latecomers = sorted({a["InstanceId"] for v in volumes for a in v.get("Attachments", [])} - set(instances))
    if latecomers:
        terminate(region, latecomers)
        instances += latecomers
        volumes = [v for v in volumes_where(region, filters) if outlives_its_instance(v)]
    return instances, volumes


def remove_release_resources(
    region: str, release_id: str, arch: Arch | None = None, keep_public_images: bool = False
) -> Removed:
    """Terminate instances, delete volumes, deregister images and delete snapshots that carry
    the release's tags in one region. Public images and those protected from deregistration
    (Announce named them) stay with their snapshots when asked: once something may point at them,
    removing them is retention's decision, not cleanup's."""
    removed = Removed()
    filters = release_filters(release_id, arch)
    instances, volumes = _terminate_instances(region, release_id, arch, filters)
    removed.instances = [f"{region}:{i}" for i in instances]

    for volume in volumes:
        delete_volume(region, volume["VolumeId"])
        removed.volumes.append(f"{region}:{volume['VolumeId']}")

    kept_snapshots: set[str] = set()
    for image in own_images_where(region, filters):
        snapshots = set(image_snapshots(image))
        if keep_public_images and (image.get("Public") or is_protected(image)):
            kept_snapshots |= snapshots
            continue
        deregister_image(region, image["ImageId"])
        removed.images.append(f"{region}:{image['ImageId']}")

    for snapshot in own_snapshots_where(region, filters):
        if snapshot["SnapshotId"] in kept_snapshots:
            continue
        delete_snapshot(region, snapshot["SnapshotId"])
        removed.snapshots.append(f"{region}:{snapshot['SnapshotId']}")
    return removed
