"""Plays the guests of builder and QA instances, as the real ones would act on EC2.

A builder guest reads its parameters from user-data, writes the commit to its target volume
(here: remembers which commit the volume holds), uploads the disk's images (a small disk made
from the commit, as raw.xz and qcow2.xz) to the staging prefix, reports them through its task
token and powers off. Where the stream's repository is served (a local release, the demo), it first reads the
commit's signature there, as the real builder's pull does, and refuses one that no key it was
given made; a synthetic release's commits exist in no repository, and are not read. A QA guest
boots an image, finds the commit on the image's disk, and reports its checks. Faults make a
guest fail, stay silent, or report a failed check."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError

from atomic_release.local.disk_images import compressed_artifact, qcow2, simulated_disk
from chalicelib.aws.clients import client
from chalicelib.aws.errors import code_of
from chalicelib.core.arch import ARCHES, ec2_arch, ostree_arch
from chalicelib.core.errors import OstreeError
from chalicelib.core.tags import ROLE, as_dict
from chalicelib.core.trusted_keys import Trust
from chalicelib.guest.user_data import TARGET_DEVICE, read_user_data, user_data_text
from chalicelib.models.artifacts import FORMATS, DiskArtifact
from chalicelib.ostree.repository import Repository

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef


def kind_and_arch(text: str, kinds: tuple[str, ...], what: str = "fault") -> tuple[str, str | None]:
    """``KIND`` or ``KIND:ARCH`` -> (kind, arch or None for every architecture)."""
    kind, _, arch = text.partition(":")
    if kind not in kinds:
        raise ValueError(f"unknown {what} {kind!r}; one of {', '.join(kinds)}")
    if arch and arch not in ARCHES:
        raise ValueError(f"fault {text!r}: architecture must be one of {', '.join(ARCHES)}")
    return kind, arch or None


FaultKind = Literal["builder-fails", "builder-silent", "builder-hangs", "qa-fails"]
FAULT_KINDS: tuple[str, ...] = ("builder-fails", "builder-silent", "builder-hangs", "qa-fails")


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    arch: str | None = None  # None: every architecture

    @classmethod
    def parse(cls, text: str) -> Fault:
        """``KIND`` or ``KIND:ARCH``, e.g. ``qa-fails:arm64``."""
        return cls(*kind_and_arch(text, FAULT_KINDS))  # type: ignore[arg-type]

    def applies(self, kind: str, arch: str) -> bool:
        return self.kind == kind and self.arch in (None, arch)


def guest_user_data(region: str, instance_id: str) -> tuple[str, dict | None]:
    """An instance's user-data, and the atomic-release guest parameters in it (None: not a guest)."""
    encoded = client("ec2", region).describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    user_data = user_data_text(base64.b64decode(encoded.get("UserData", {}).get("Value", "")))
    return user_data, read_user_data(user_data)


def pull_refusal(params: dict) -> str | None:
    """Why a builder pulling with gpg-verify would refuse its commit, read from the repository
    with the keys it was given; None when it would pull it (or does not verify)."""
    if not params.get("verify_signatures", True):
        return None
    name = f"{params['ref']} {params['commit']}"
    try:
        found = Repository(params["repo_url"], trust=Trust.of(params.get("trusted_keys") or [])).signature(
            params["commit"])
    except OstreeError as error:
        return f"ostree pull {name} from {params['repo_url']} failed: {error}"
    if found.verified:
        return None
    return f"the signature of {name} did not verify against the stream's trusted keys: {found.reason}"


def upload_images(region: str, params: dict, arch: str) -> list[DiskArtifact]:
    """The disk's images, uploaded where the builder's parameters say, as the real builder does."""
    disk = simulated_disk(params["osname"], params["commit"], arch)
    images = {"raw.xz": disk, "qcow2.xz": qcow2(disk)}
    artifacts = []
    for artifact_format in FORMATS:
        key = params["staging_prefix"] + params["artifact_files"][artifact_format]
        payload, artifact = compressed_artifact(artifact_format, key, images[artifact_format])
        client("s3", region).put_object(Bucket=params["artifact_bucket"], Key=key, Body=payload,
                                        ContentType="application/x-xz")
        artifacts.append(artifact)
    return artifacts


def image_volume(region: str, image_id: str) -> str:
    """The volume whose blocks the image's root snapshot holds: locally, what a guest booting the
    image finds on its disk."""
    ec2 = client("ec2", region)
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    root = next(m for m in image["BlockDeviceMappings"] if m["DeviceName"] == image["RootDeviceName"])
    return ec2.describe_snapshots(SnapshotIds=[root["Ebs"]["SnapshotId"]])["Snapshots"][0]["VolumeId"]


@dataclass
class InstanceSimulator:
    faults: list[Fault] = field(default_factory=list)
    reads_repository: bool = False   # builders read the served repository for the commit's signature
    disk_contents: dict[str, str] = field(default_factory=dict)
    unheard_reports: list[str] = field(default_factory=list)
    _launches: list[tuple[str, str]] = field(default_factory=list)
    _launches_lock: threading.Lock = field(default_factory=threading.Lock)
    _hung: list[tuple[str, InstanceTypeDef, dict]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _faulty(self, kind: str, arch: str) -> bool:
        return any(f.applies(kind, arch) for f in self.faults)

    def launched(self, region: str, instance_ids: list[str]) -> None:
        """Instances a RunInstances call made; their guests boot after the launching task."""
        with self._launches_lock:
            self._launches.extend((region, instance_id) for instance_id in instance_ids)

    def boot_new_instances(self) -> None:
        """Run the guest of every atomic-release instance launched since the last call."""
        with self._lock:
            with self._launches_lock:
                launches, self._launches = self._launches, []
            for region in sorted({region for region, _ in launches}):
                ids = [instance_id for r, instance_id in launches if r == region]
                for instance in self._guests(region, ids):
                    self._run_guest(region, instance)

    def _guests(self, region: str, instance_ids: list[str]) -> list[InstanceTypeDef]:
        reservations = client("ec2", region).describe_instances(InstanceIds=instance_ids, Filters=[
            {"Name": "tag-key", "Values": [ROLE]}])["Reservations"]
        return [i for r in reservations for i in r["Instances"]]

    def _run_guest(self, region: str, instance: InstanceTypeDef) -> None:
        _, params = guest_user_data(region, instance["InstanceId"])
        if params is None:
            return
        role = as_dict(instance.get("Tags")).get(ROLE)
        if role == "builder":
            self._builder(region, instance, params)
        elif role == "qa":
            self._qa(region, instance, params)

    @property
    def guests_working(self) -> bool:
        """A hung guest is still working: its task token may yet be answered."""
        return bool(self._hung)

    def finish_hung_guests(self) -> None:
        """Let hung builders finish, as they would after a long install. A guest counts as working
        until its report is in: a task-token wait that saw no guest working would end at once."""
        with self._lock:
            while self._hung:
                region, instance, params = self._hung[0]
                self._builder(region, instance, params, hang=False)
                self._hung.pop(0)

    def _builder(self, region: str, instance: InstanceTypeDef, params: dict, hang: bool = True) -> None:
        arch = ec2_arch(instance["Architecture"])
        sfn = client("stepfunctions", region)
        if self._faulty("builder-silent", arch):
            return
        if hang and self._faulty("builder-hangs", arch):
            self._hung.append((region, instance, params))
            return
        if self._faulty("builder-fails", arch):
            sfn.send_task_failure(taskToken=params["task_token"], error="BuilderFailed",
                                  cause=f"ostree pull {params['ref']} from {params['repo_url']} failed: "
                                        "error: Server returned HTTP 404 (last lines of the builder's log)")
        elif self.reads_repository and (refusal := pull_refusal(params)):
            sfn.send_task_failure(taskToken=params["task_token"], error="BuilderFailed", cause=refusal)
        else:
            volume_id = next(m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]
                             if m["DeviceName"] == params["target_device"] == TARGET_DEVICE)
            self.disk_contents[volume_id] = params["commit"]
            artifacts = upload_images(region, params, arch)
            try:
                sfn.send_task_success(taskToken=params["task_token"], output=json.dumps(
                    {"instance_id": instance["InstanceId"], "volume_id": volume_id, "commit": params["commit"],
                     "artifacts": [artifact.model_dump() for artifact in artifacts]}))
            except ClientError as error:  # the execution is gone: nobody is listening any more
                self.unheard_reports.append(f"{instance['InstanceId']}: {code_of(error)}")
        # The guest powers off; InstanceInitiatedShutdownBehavior=terminate ends the instance.
        client("ec2", region).terminate_instances(InstanceIds=[instance["InstanceId"]])

    def booted_commit(self, region: str, image_id: str) -> str:
        return self.disk_contents.get(image_volume(region, image_id), "(no ostree deployment on this disk)")

    def _qa(self, region: str, instance: InstanceTypeDef, params: dict) -> None:
        arch = ec2_arch(instance["Architecture"])
        booted = self.booted_commit(region, instance["ImageId"])
        state = "degraded (failed units: NetworkManager-wait-online.service)" \
            if self._faulty("qa-fails", arch) else "running"
        checks = [
            {"name": "booted-commit", "passed": booted == params["commit"], "expected": params["commit"], "actual": booted},
            {"name": "system-state", "passed": state == "running", "expected": "running", "actual": state},
            {"name": "architecture", "passed": ostree_arch(arch) == params["arch"], "expected": params["arch"],
             "actual": ostree_arch(arch)},
        ]
        client("stepfunctions", region).send_task_success(
            taskToken=params["task_token"], output=json.dumps({"instance_id": instance["InstanceId"], "checks": checks}))
