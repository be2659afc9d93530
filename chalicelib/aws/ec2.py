"""EC2 adapter: find what a release created by its tags, and remove it."""

from dataclasses import dataclass, field

from botocore.exceptions import ClientError, WaiterError

from chalicelib.aws.clients import client
from chalicelib.core.arch import Arch
from chalicelib.core.errors import ImageNameTaken, ResourceNotReady
from chalicelib.core.tags import RELEASE, as_dict, release_filters

LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


def find_instances(region: str, release_id: str, arch: Arch | None = None, role: str | None = None) -> list[dict]:
    filters = release_filters(release_id, arch, role)
    filters.append({"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES})
    pages = client("ec2", region).get_paginator("describe_instances").paginate(Filters=filters)
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def images_by_name(region: str, names: list[str], release_id: str) -> dict[str, dict]:
    """This account's images of these names in a region. An image of one of the names that
    another release made is an error: the same version built from another commit must never
    be shipped under this release's name."""
    images = client("ec2", region).describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": names}])["Images"]
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


def image_snapshots(image: dict) -> list[str]:
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]


def own_images(region: str, image_ids: list[str]) -> dict[str, dict]:
    """This account's images of these ids in a region, by id; an id EC2 does not know is absent
    (asking by ImageIds would fail the whole call instead)."""
    paginator = client("ec2", region).get_paginator("describe_images")
    return {image["ImageId"]: image for chunk in chunks(image_ids)
            for page in paginator.paginate(Owners=["self"], Filters=[{"Name": "image-id", "Values": chunk}])
            for image in page["Images"]}


def share_image_publicly(region: str, image_id: str) -> None:
    client("ec2", region).modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})


def share_snapshot_publicly(region: str, snapshot_id: str) -> None:
    client("ec2", region).modify_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission",
                                                    OperationType="add", GroupNames=["all"])


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


def outlives_its_instance(volume: dict) -> bool:
    """A volume of DescribeVolumes that is not going with an instance. One that is (attached with
    DeleteOnTermination, or deleting already) must not be deleted again: once it is gone it has
    no tags, and a role whose deletes need the release's tag is refused (UnauthorizedOperation)."""
    return volume.get("State") != "deleting" and not any(
        attachment.get("DeleteOnTermination") for attachment in volume.get("Attachments", []))


def delete_volume(region: str, volume_id: str) -> None:
    try:
        client("ec2", region).delete_volume(VolumeId=volume_id)
    except ClientError as error:
        if error.response["Error"]["Code"] != "InvalidVolume.NotFound":
            raise


@dataclass
class Removed:
    """What a cleanup removed, per kind, as ``region:id``."""

    instances: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)

    def add(self, other: "Removed") -> None:
        for name in ("instances", "volumes", "images", "snapshots"):
            getattr(self, name).extend(getattr(other, name))

    def as_dict(self) -> dict[str, list[str]]:
        return {"instances": self.instances, "volumes": self.volumes, "images": self.images, "snapshots": self.snapshots}


def remove_release_resources(
    region: str, release_id: str, arch: Arch | None = None, keep_public_images: bool = False
) -> Removed:
    """Terminate instances, delete volumes, deregister images and delete snapshots that carry
    the release's tags in one region. Public images (and their snapshots) stay when asked:
    once something may point at them, removing them is retention's decision, not cleanup's."""
    ec2 = client("ec2", region)
    removed = Removed()
    instances = [i["InstanceId"] for i in find_instances(region, release_id, arch)]
    terminate(region, instances)
    removed.instances = [f"{region}:{i}" for i in instances]

    filters = release_filters(release_id, arch)
    for volume in filter(outlives_its_instance, ec2.describe_volumes(Filters=filters)["Volumes"]):
        delete_volume(region, volume["VolumeId"])
        removed.volumes.append(f"{region}:{volume['VolumeId']}")

    kept_snapshots: set[str] = set()
    for image in ec2.describe_images(Owners=["self"], Filters=filters)["Images"]:
        snapshots = set(image_snapshots(image))
        if keep_public_images and image.get("Public"):
            kept_snapshots |= snapshots
            continue
        ec2.deregister_image(ImageId=image["ImageId"])
        removed.images.append(f"{region}:{image['ImageId']}")

    for snapshot in ec2.describe_snapshots(OwnerIds=["self"], Filters=filters)["Snapshots"]:
        if snapshot["SnapshotId"] in kept_snapshots:
            continue
        ec2.delete_snapshot(SnapshotId=snapshot["SnapshotId"])
        removed.snapshots.append(f"{region}:{snapshot['SnapshotId']}")
    return removed
