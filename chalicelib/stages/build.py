"""Build stage, per architecture: builder instance -> image -> QA instance -> verdict."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError, WaiterError

from chalicelib.aws import ec2 as ec2_resources
from chalicelib.aws import ssm
from chalicelib.aws.clients import client_token
from chalicelib.aws.errors import code_of, describe, message_of
from chalicelib.core.arch import Arch, ostree_arch
from chalicelib.core.config import Stream, load_streams
from chalicelib.core.errors import (
    ArchitectureFailed,
    BuilderLaunchFailed,
    ImageRegistrationFailed,
    QAFailed,
    ResourceNotReady,
)
from chalicelib.core.observability import logger
from chalicelib.core.settings import settings
from chalicelib.core.tags import as_dict, image_tags, release_filters, release_tags, tag_specifications
from chalicelib.guest.user_data import (
    TARGET_DEVICE,
    Role,
    UserDataTooLarge,
    builder_user_data,
    render_qa,
    token_fingerprint,
)
from chalicelib.models.artifacts import FORMATS, file_name, staging_prefix
from chalicelib.models.build import (
    ArchTask,
    BuiltImage,
    BuiltImages,
    CallbackTask,
    CheckBuildTask,
    CleanupArchTask,
    EvaluateTask,
    LaunchedGuest,
    QATask,
    RegisterTask,
    image_description,
)
from chalicelib.models.failure import CaughtInStage, ErrorToRaise
from chalicelib.stages import artifacts

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import WaiterName
    from mypy_boto3_ec2.type_defs import InstanceTypeDef, VolumeTypeDef

BUILDER_DEADLINE_MINUTES = 120
REGISTER_BUDGET_S = 780  # of the task Lambda's 900 s
WAIT_DELAY_S = 15
HEARTBEAT_SECONDS = 300  # the state machine allows 900 between heartbeats
QA_DEADLINE_MINUTES = 60
ROOT_DEVICE = "/dev/xvda"
TOKEN_TAG = "atomic-release:token"
BOOT_MODE = {"x86_64": "uefi-preferred", "arm64": "uefi"}
# Errors that say "not here, not now": another instance type or zone may well work.
CAPACITY_ERRORS = {"InsufficientInstanceCapacity", "Unsupported", "InstanceLimitExceeded"}


def _stream(task: ArchTask) -> Stream:
    return load_streams().stream(task.stream)


def _launch_guest(task: CallbackTask, role: Role, image_id: str, user_data: Callable[[dict], str | bytes], params: dict,
                  block_devices: list[dict]) -> LaunchedGuest:
    """Launch one guest, unless this very task attempt launched it already. A live guest of
    an earlier attempt holds a dead task token: it is terminated and replaced."""
    fingerprint = token_fingerprint(task.task_token)
    own, stale = attempts_guest(ec2_resources.find_instances(task.region, task.release_id, task.arch, role),
                                fingerprint)
    if own:
        logger.info("guest already launched by this attempt", extra={"instance_id": own["InstanceId"]})
        return LaunchedGuest(instance_id=own["InstanceId"])
    _remove_guests(task.region, stale)

    stream = _stream(task)
    tags = [*release_tags(task.release_id, task.stream, task.arch, role), {"Key": TOKEN_TAG, "Value": fingerprint}]
    try:
        rendered = user_data({"task_token": task.task_token, "region": task.region, **settings().guest_endpoints(),
                              **params})
    except UserDataTooLarge as error:
        raise BuilderLaunchFailed(f"{role} for {task.arch} in {task.region}: {error}",
                                  region=task.region, arch=task.arch) from None
    attempts = []
    for instance_type, subnet in placements(stream, task.arch):
        try:
            instance_id = ec2_resources.run_instance(
                task.region, ImageId=image_id, InstanceType=instance_type,
                UserData=rendered, BlockDeviceMappings=block_devices,
                MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
                InstanceInitiatedShutdownBehavior="terminate",
                TagSpecifications=tag_specifications(tags, "instance", "volume"),
                IamInstanceProfile={"Name": instance_profile(role)},
                ClientToken=client_token(task.release_id, task.arch, role, fingerprint, instance_type, subnet or ""),
                **({"SubnetId": subnet} if subnet else {}),
            )
        except ClientError as error:
            attempts.append(f"{instance_type} in {subnet or 'the default subnet'}: {describe(error)}")
            if code_of(error) not in CAPACITY_ERRORS:
                raise BuilderLaunchFailed(f"{role} for {task.arch} in {task.region}: " + "; ".join(attempts),
                                          region=task.region, arch=task.arch) from None
            continue
        logger.info("guest launched", extra={"role": role, "instance_id": instance_id,
                                             "instance_type": instance_type, "subnet": subnet})
        return LaunchedGuest(instance_id=instance_id)
    raise BuilderLaunchFailed(f"{role} for {task.arch} in {task.region}: every placement failed: "
                              + "; ".join(attempts), region=task.region, arch=task.arch)


def attempts_guest(guests: list[InstanceTypeDef], fingerprint: str
                   ) -> tuple[InstanceTypeDef | None, list[InstanceTypeDef]]:
    """Of the live guests of the role, the one this task attempt launched (tagged with its
    token's fingerprint), and the others, launched by earlier attempts."""
    own = next((g for g in guests if as_dict(g.get("Tags")).get(TOKEN_TAG) == fingerprint), None)
    return own, [g for g in guests if g is not own]


def instance_profile(role: Role) -> str:
    """Each guest's profile allows only what that guest does: report through its task token."""
    return settings().instance_profile(role)


def placements(stream: Stream, arch: Arch) -> list[tuple[str, str | None]]:
    """Where to try a guest, in order: each instance type in preference order, in every subnet
    (so every zone) before the next, less preferred, type."""
    subnets: Sequence[str | None] = stream.subnets or [None]
    return [(instance_type, subnet) for instance_type in stream.instance_types[arch] for subnet in subnets]


def _volumes(instance: InstanceTypeDef) -> list[str]:
    return [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]


def _kept_volumes(instance: InstanceTypeDef) -> list[str]:
    """The volumes that outlive the instance. The others go with it, and deleting one that is
    gone is refused as unauthorized, not as not found, under a role whose deletes need the
    release's tag (a volume that no longer exists has none)."""
    return [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", [])
            if "Ebs" in m and not m["Ebs"].get("DeleteOnTermination")]


def _remove_guests(region: str, instances: list[InstanceTypeDef]) -> None:
    """Terminate guests and delete the volumes they kept (a builder's target disk survives
    its instance on purpose)."""
    volumes = [volume for instance in instances for volume in _kept_volumes(instance)]
    ec2_resources.terminate(region, [i["InstanceId"] for i in instances])
    for volume in volumes:
        ec2_resources.delete_volume(region, volume)


def builder_image(stream: Stream, arch: Arch, region: str) -> str:
    name = stream.builder_image_parameter[arch]
    try:
        return ssm.parameter(region, name)
    except ClientError as error:
        raise BuilderLaunchFailed(f"builder image parameter {name} in {region}: {message_of(error)}",
                                  region=region, arch=arch) from None


def launch_builder(task: CallbackTask) -> LaunchedGuest:
    stream = _stream(task)
    params = {
        "repo_url": stream.repo_url, "ref": task.commit.ref, "commit": task.commit.checksum,
        "target_device": TARGET_DEVICE, "arch": ostree_arch(task.arch), "install_method": stream.install_method,
        "osname": stream.osname, "container_image": stream.container_image,
        "kernel_arguments": stream.kernel_arguments, "firstboot": stream.qa_user_data,
        # The builder checks the commit's signature again, as it pulls: what changed since is refused.
        "verify_signatures": stream.signatures.required,
        "trusted_keys": stream.signatures.keys if stream.signatures.required else [],
        # The disk's downloadable images, uploaded privately until the release is published.
        "artifact_bucket": settings().metadata_bucket, "staging_prefix": staging_prefix(task.release_id, task.arch),
        "artifact_files": {fmt: file_name(stream.osname, task.version, task.arch, fmt) for fmt in FORMATS},
    }
    target_disk = {"DeviceName": TARGET_DEVICE, "Ebs": {
        "VolumeSize": stream.disk_size_gib, "VolumeType": "gp3", "DeleteOnTermination": False, "Encrypted": False,
    }}
    return _launch_guest(task, "builder", builder_image(stream, task.arch, task.region),
                         lambda p: builder_user_data(p, BUILDER_DEADLINE_MINUTES, HEARTBEAT_SECONDS), params,
                         [target_disk])


def _wait(waiter: WaiterName, region: str, what: str, until: float, **ids) -> None:
    """Wait, but no later than ``until`` (a monotonic time within the task Lambda's 15 minutes),
    so a slow snapshot or image fails with a named error, which the state machine retries,
    rather than a Lambda timeout."""
    attempts = max(1, int((until - time.monotonic()) // WAIT_DELAY_S))
    try:
        ec2_resources.wait_for(region, waiter, WAIT_DELAY_S, attempts, **ids)
    except WaiterError as error:
        raise ResourceNotReady(f"{what} in {region}: {error}", region=region) from None


def _snapshot(task: RegisterTask, until: float) -> str:
    tags = image_tags(task.release_id, task.stream, task.arch, _stream(task).tags)
    existing = ec2_resources.own_snapshots_where(task.region, [
        {"Name": "volume-id", "Values": [task.builder.volume_id]}, *release_filters(task.release_id, task.arch),
    ])
    if existing:
        snapshot_id = existing[0]["SnapshotId"]
    else:
        snapshot_id = ec2_resources.create_snapshot(
            task.region, VolumeId=task.builder.volume_id, Description=f"{task.release_id} {task.arch}",
            TagSpecifications=tag_specifications(tags, "snapshot"),
        )
    _wait("snapshot_completed", task.region, f"snapshot {snapshot_id}", until, SnapshotIds=[snapshot_id])
    return snapshot_id


def register_image(task: RegisterTask) -> BuiltImage:
    """Turn the builder's target disk into an image; an image of that name is reused once it is
    available. Every builder of the architecture is gone afterwards, with the disks of any that
    did not report, live or gone already."""
    if task.builder.commit != task.commit.checksum:
        raise ImageRegistrationFailed(
            f"{task.arch}: builder wrote commit {task.builder.commit}, not the requested {task.commit.checksum}",
            region=task.region, arch=task.arch)
    until = time.monotonic() + REGISTER_BUDGET_S
    name = _stream(task).ami_name(task.version, task.arch)
    builders = ec2_resources.find_instances(task.region, task.release_id, task.arch, "builder")
    reported = [i for i in builders if task.builder.volume_id in _volumes(i)]
    ec2_resources.terminate(task.region, [i["InstanceId"] for i in reported])
    _remove_guests(task.region, [i for i in builders if i not in reported])
    _remove_stray_disks(task)
    existing = ec2_resources.images_by_name(task.region, [name], task.release_id).get(name)
    if existing:
        image_id, snapshot_id = existing["ImageId"], existing["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        logger.info("image exists, reused", extra={"image_id": image_id})
    else:
        _wait("volume_available", task.region, f"volume {task.builder.volume_id}", until,
              VolumeIds=[task.builder.volume_id])
        snapshot_id = _snapshot(task, until)
        image_id = _register(task, name, snapshot_id)
    _wait("image_available", task.region, f"image {image_id}", until, ImageIds=[image_id])
    ec2_resources.delete_volume(task.region, task.builder.volume_id)
    logger.info("image registered", extra={"image_id": image_id, "snapshot_id": snapshot_id})
    return BuiltImage(arch=task.arch, image_id=image_id, snapshot_id=snapshot_id, name=name,
                      artifacts=task.builder.artifacts)


def _remove_stray_disks(task: RegisterTask) -> None:
    """Delete the target disks of builders already gone (one that powered off after reporting
    to the token of a launch attempt that was then retried), which no instance lists."""
    volumes = ec2_resources.volumes_where(task.region, release_filters(task.release_id, task.arch, "builder"))
    for volume_id in stray_builder_disks(volumes, task.builder.volume_id):
        ec2_resources.delete_volume(task.region, volume_id)
        logger.info("stray builder disk deleted", extra={"volume_id": volume_id})


def stray_builder_disks(volumes: list[VolumeTypeDef], reported_volume_id: str) -> list[str]:
    """Of an architecture's builder disks, those no builder uses and no image needs: every one
    detached but the disk of the builder that reported, which stays until its image exists.
    One still attached is left: EC2 refuses to delete a volume in use, and the builders found
    live have been removed with their disks already."""
    return [v["VolumeId"] for v in volumes if v["VolumeId"] != reported_volume_id and v.get("State") == "available"]


def _register(task: RegisterTask, name: str, snapshot_id: str) -> str:
    return ec2_resources.register_image(
        task.region, Name=name, Description=image_description(task.stream, task.version, task.arch, task.commit.checksum),
        Architecture=task.arch, BootMode=BOOT_MODE[task.arch], EnaSupport=True, SriovNetSupport="simple",
        VirtualizationType="hvm", RootDeviceName=ROOT_DEVICE, ImdsSupport="v2.0",
        BlockDeviceMappings=[{"DeviceName": ROOT_DEVICE, "Ebs": {
            "SnapshotId": snapshot_id, "VolumeType": "gp3", "DeleteOnTermination": True,
        }}],
        TagSpecifications=tag_specifications(image_tags(task.release_id, task.stream, task.arch, _stream(task).tags),
                                             "image"),
    )


def launch_qa(task: QATask) -> LaunchedGuest:
    form = _stream(task).qa_user_data
    params = {"commit": task.commit.checksum, "arch": ostree_arch(task.arch), "image_id": task.image.image_id}
    return _launch_guest(task, "qa", task.image.image_id, lambda p: render_qa(p, form, QA_DEADLINE_MINUTES),
                         params, [])


def evaluate_qa(task: EvaluateTask) -> BuiltImage:
    """Remove the QA instance, then pass the image only if every check passed."""
    _remove_guests(task.region, ec2_resources.find_instances(task.region, task.release_id, task.arch, "qa"))
    failed = [c for c in task.qa.checks if not c.passed]
    if failed:
        raise QAFailed(f"{task.arch}: " + "; ".join(
            f"{c.name}: expected {c.expected!r}, got {c.actual!r}" for c in failed),
            region=task.region, arch=task.arch, image_id=task.image.image_id)
    return task.image


def cleanup_arch(task: CleanupArchTask) -> ErrorToRaise:
    """Remove everything this architecture created, its staged files too, and hand the failure on
    to the Fail state.
    A public image stays: a rerun reuses by name the image an earlier run published, which
    ``latest`` may name; retention retires it."""
    removed = ec2_resources.remove_release_resources(task.region, task.release_id, task.arch,
                                                     keep_public_images=True)
    staged = artifacts.remove_staged(task.release_id, task.arch)  # after its builder is gone: no upload lands later
    logger.warning("architecture failed, cleaned up", extra={"failure": task.failure.model_dump(), **removed.as_dict(),
                                                             **staged})
    return ErrorToRaise(error=task.failure.rethrowable_error, cause=task.failure.model_dump_json())


def check_build(task: CheckBuildTask) -> BuiltImages:
    """After every architecture has ended: the images, or the first failure, raised."""
    for outcome in task.results:
        failed = outcome.failed
        if isinstance(failed, CaughtInStage):  # CleanupArch itself failed: the stage's own failure
            raise ArchitectureFailed(failed.caught.in_stage(failed.stage, outcome.arch).model_dump_json(),
                                     arch=outcome.arch)
        if failed:
            # CleanupArch made the cause the failure itself, as JSON: FailRelease reads it from there
            raise ArchitectureFailed(failed.cause or failed.error, arch=outcome.arch)
    return BuiltImages([BuiltImage(arch=o.arch, image_id=o.image_id, snapshot_id=o.snapshot_id, name=o.name,
                                   artifacts=o.artifacts) for o in task.results])
