"""Task inputs and AWS look-ups shared by the integration tests.

Each test calls one task Lambda through its handler in ``functions/``, with the JSON the state
machine would hand it, against the moto account a ``runtime`` fixture provisioned."""

import base64
import json
import os
from types import ModuleType

from botocore.exceptions import ClientError
from moto.ec2.models import ec2_backends

from atomic_release.local.patches.awslambda import LambdaContext
from atomic_release.local.runtime import ACCOUNT
from chalicelib.aws.clients import client
from chalicelib.aws.ec2 import LIVE_INSTANCE_STATES
from chalicelib.core.tags import RELEASE, as_dict, release_tags, tag_specifications
from chalicelib.guest.user_data import read_user_data, user_data_text
from chalicelib.models.regions import PublishTask, RegionOutcome
from chalicelib.models.release import ReleaseInput
from chalicelib.stages.publish import publish_region

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
    """One region's share, as the Distribute map hands it to copy_to_region and follow_copies."""
    return {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION, "region": region,
            "base_region": BASE, "images": images, "arches": plan_arches(), **extra}


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
    return read_user_data(user_data_text(base64.b64decode(encoded["UserData"]["Value"])))


def record_count() -> int:
    return client("dynamodb").scan(TableName=os.environ["RELEASES_TABLE"], Select="COUNT")["Count"]


# The distribution stages: copy, preflight, publish, validate, announce.

OTHER_TIMESTAMP = "2026-11-26T08:00:00Z"


def plan_arches(timestamp: str = TIMESTAMP) -> list[dict]:
    """Prepare's plan of the architectures, each with its commit, sorted by name."""
    return [{"arch": arch, "commit": {**commit(arch), "timestamp": timestamp}} for arch in sorted(ARCHES)]


def copies_of(outcome: dict) -> dict[str, str]:
    """A region outcome's image ids by architecture."""
    return {i["arch"]: i["image_id"] for i in outcome["images"]}


def outcome(region: str, status: str, stage: str, images: dict[str, str] | None = None, reason: str = "",
            **image_fields) -> dict:
    """A region outcome as the state machine carries it, with one image per architecture given."""
    return {"region": region, "status": status, "stage": stage, "reason": reason,
            "images": [{"arch": arch, "image_id": image_id, **image_fields} for arch, image_id in (images or {}).items()]}


def lambda_error(error_type: str, message: str) -> str:
    """The Cause a Catch hands on for a task Lambda that raised: Lambda's error document, as JSON."""
    return json.dumps({"errorType": error_type, "errorMessage": message,
                       "stackTrace": ['  File "/var/task/chalicelib/distribute.py", line 1, in copy_to_region\n']})


def caught(region: str, stage: str, error_type: str, message: str) -> dict:
    """What a Map's Catch Pass state makes of a region whose task raised."""
    return {"region": region, "status": "failed", "stage": stage, "reason": lambda_error(error_type, message)}


def set_image_state(region: str, image_id: str, state: str) -> None:
    """Where moto has every copy available at once, put one back to where AWS may have it."""
    ec2_backends[ACCOUNT][region].amis[image_id].state = state


def image_snapshots(region: str, image_id: str) -> list[str]:
    return [m["Ebs"]["SnapshotId"] for m in image(region, image_id)["BlockDeviceMappings"] if "Ebs" in m]


def make_private(region: str, image_id: str) -> None:
    client("ec2", region).modify_image_attribute(ImageId=image_id, LaunchPermission={"Remove": [{"Group": "all"}]})


def make_public(region: str, image_id: str) -> None:
    client("ec2", region).modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})


def ssm_name(arch: str, label: str) -> str:
    return f"/atomic-release/{STREAM}/{arch}/{label}"


def parameter(region: str, name: str) -> dict | None:
    """An SSM parameter, or None where there is none of that name."""
    try:
        return client("ssm", region).get_parameter(Name=name)["Parameter"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ParameterNotFound":
            return None
        raise


def parameter_names(region: str) -> list[str]:
    return sorted(p["Name"] for p in client("ssm", region).describe_parameters()["Parameters"])


def publish(region: dict) -> dict:
    """A region whose copies are available, published as FollowCopies publishes it."""
    task = PublishTask(release_id=RELEASE_ID, stream=STREAM, version=VERSION, region=RegionOutcome.model_validate(region))
    return publish_region(task).model_dump(mode="json")


def available(copied: dict) -> dict:
    """A region as copy_to_region returned it, once its copies are available."""
    return {**copied, "status": "copied", "images": [{**i, "state": "available"} for i in copied["images"]]}


def foreign_image(region: str, name: str) -> str:
    """An image of the account that no release made (no tags), registered in ``region``."""
    return client("ec2", region).register_image(Name=name, RootDeviceName="/dev/xvda", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 10}}])["ImageId"]


ARTIFACT_SIGNING_SECRET = f"atomic-release/artifact-signing/{STREAM}"


def keep_signing_key(armored: str) -> None:
    """The stream's artifact signing key, kept where Announce reads it."""
    client("secretsmanager").create_secret(Name=ARTIFACT_SIGNING_SECRET, SecretString=armored)
