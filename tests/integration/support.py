"""Task inputs and AWS look-ups shared by the integration tests.

Each test calls one task Lambda through its handler in ``functions/``, with the JSON the state
machine would hand it, against the moto account a ``runtime`` fixture provisioned."""

import base64
import os
from types import ModuleType

from atomic_release.local.patches import LambdaContext
from atomic_release.local.runtime import ACCOUNT
from chalicelib.aws import client
from chalicelib.ec2 import LIVE_INSTANCE_STATES
from chalicelib.guest import read_user_data
from chalicelib.models import ReleaseInput
from chalicelib.tags import RELEASE, as_dict, release_tags, tag_specifications

STREAM = "developer"
VERSION = "43.20261125.dev.1"
OTHER_VERSION = "43.20261126.dev.1"
BASE = "us-east-1"
COPY = "us-east-2"
ARCHES = ("x86_64", "arm64")
REFS = {"x86_64": "fedora/x86_64/coreos/testing-devel", "arm64": "fedora/aarch64/coreos/testing-devel"}
CHECKSUMS = {"x86_64": "1f" * 32, "arm64": "2e" * 32}
TIMESTAMP = "2026-11-25T08:00:00Z"
EXECUTION_ARN = f"arn:aws:states:{BASE}:{ACCOUNT}:execution:atomic-release-local-release:first"
IMAGE_NAMES = {arch: f"atomic-{STREAM}-{VERSION}-{arch}" for arch in ARCHES}


def invoke(task: ModuleType, event: dict):
    """Call a task's handler as Lambda would, with a context naming the deployed function."""
    name = f"atomic-release-local-{task.__name__.rsplit('.', 1)[-1]}"
    return task.handler(event, LambdaContext(name, f"arn:aws:lambda:{BASE}:{ACCOUNT}:function:{name}"))


def commit(arch: str) -> dict:
    return {"ref": REFS[arch], "checksum": CHECKSUMS[arch], "timestamp": TIMESTAMP}


def release_input(version: str = VERSION, **changes) -> dict:
    """A release input as a trigger sends it: x86_64 listed before arm64."""
    return {"stream": STREAM, "version": version, "commits": {arch: commit(arch) for arch in ARCHES},
            "trigger": "cli", **changes}


def release_id_of(version: str = VERSION) -> str:
    return ReleaseInput.model_validate(release_input(version)).release_id


RELEASE_ID = release_id_of(VERSION)
OTHER_RELEASE_ID = release_id_of(OTHER_VERSION)


def arch_task(arch: str, release_id: str = RELEASE_ID, **extra) -> dict:
    """One architecture's share of the release, as the Build map hands it to a task."""
    return {"release_id": release_id, "stream": STREAM, "version": VERSION, "arch": arch,
            "commit": commit(arch), "region": BASE, **extra}


def region_task(region: str, images: list[dict], **extra) -> dict:
    """One region's share, as the Distribute map hands it to copy_to_region and check_copies."""
    return {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION, "region": region,
            "base_region": BASE, "images": images, **extra}


def builder_report(arch: str, volume_id: str, checksum: str | None = None) -> dict:
    return {"instance_id": "i-0b1d000000000000f", "volume_id": volume_id, "commit": checksum or CHECKSUMS[arch]}


def builder_volume(arch: str, release_id: str = RELEASE_ID, region: str = BASE) -> str:
    """A detached volume tagged as a builder's target disk, as a builder leaves it."""
    return client("ec2", region).create_volume(
        AvailabilityZone=f"{region}a", Size=10, VolumeType="gp3",
        TagSpecifications=tag_specifications(release_tags(release_id, STREAM, arch, "builder"), "volume"),
    )["VolumeId"]


def tags(resource: dict) -> dict[str, str]:
    return as_dict(resource.get("Tags"))


def instance(region: str, instance_id: str) -> dict:
    reservations = client("ec2", region).describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]


def live_instances(region: str, release_id: str = RELEASE_ID) -> list[dict]:
    reservations = client("ec2", region).describe_instances(Filters=[
        {"Name": f"tag:{RELEASE}", "Values": [release_id]},
        {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES},
    ])["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def volume_exists(region: str, volume_id: str) -> bool:
    volumes = client("ec2", region).describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume_id]}])
    return bool(volumes["Volumes"])


def image(region: str, image_id: str) -> dict:
    return client("ec2", region).describe_images(ImageIds=[image_id])["Images"][0]


def snapshot(region: str, snapshot_id: str) -> dict:
    return client("ec2", region).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]


def own_image_ids(region: str) -> set[str]:
    return {i["ImageId"] for i in client("ec2", region).describe_images(Owners=["self"])["Images"]}


def own_snapshot_ids(region: str) -> set[str]:
    return {s["SnapshotId"] for s in client("ec2", region).describe_snapshots(OwnerIds=["self"])["Snapshots"]}


def guest_params(region: str, instance_id: str) -> dict | None:
    """The parameters in an instance's user-data, read as its guest reads them."""
    encoded = client("ec2", region).describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    return read_user_data(base64.b64decode(encoded["UserData"]["Value"]).decode())


def record_count() -> int:
    return client("dynamodb").scan(TableName=os.environ["RELEASES_TABLE"], Select="COUNT")["Count"]
