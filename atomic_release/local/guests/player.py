"""Real guests for the local runtime (``--guests qemu``): every builder instance a task launches
runs the rendered builder script against a loop-backed file standing in for its target volume,
and every QA instance boots, in QEMU, the very disk behind its image's snapshot.

Each guest runs in its own thread, so the state machine really waits on its task token; its
reports reach the waiting execution through the Step Functions endpoint on 127.0.0.1, signed
with the credentials its own metadata service handed it."""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from atomic_release.local.guests import machine
from atomic_release.local.guests.credentials import CredentialRegistry
from atomic_release.local.guests.metadata import MetadataServer
from atomic_release.local.guests.s3 import S3Endpoint
from atomic_release.local.guests.states import StatesEndpoint, fingerprint
from atomic_release.local.simulator import guest_user_data, image_volume
from chalicelib.aws.clients import client
from chalicelib.core.arch import ec2_arch
from chalicelib.core.tags import ROLE, as_dict
from chalicelib.guest.user_data import TARGET_DEVICE, builder_tools

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

QA_BOOT_TIMEOUT_S = 900
BUILDER_TIMEOUT_S = 3600  # the install, then xz over the whole disk twice on this machine's cores
_TARGET_LINK = Path(TARGET_DEVICE)
_BUILDER_LOCK = Path("/run/atomic-release-builder.lock")


def guest_endpoints(states_port: int, s3_port: int) -> dict[str, str]:
    """What the deployed stack would set for guests: where they reach Step Functions and S3 (here,
    the addresses the guest network relays to the local endpoints)."""
    return {"GUEST_STATES_ENDPOINT": f"http://{machine.SERVICES_ADDRESS}:{states_port}/",
            "GUEST_S3_ENDPOINT": f"http://{machine.SERVICES_ADDRESS}:{s3_port}"}


@dataclass
class RealGuests:
    work: Path
    repo_url: str
    account: str   # moto's account, which the instances' identity documents name
    registry: CredentialRegistry = field(default_factory=CredentialRegistry)
    failures: list[str] = field(default_factory=list)
    _launches: list[tuple[str, str]] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _starting: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.states = StatesEndpoint(self.registry)
        self.s3 = S3Endpoint(self.registry)

    def __enter__(self) -> RealGuests:
        self.states.__enter__()
        try:
            self.s3.__enter__()
        except BaseException:
            self.states.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        """A QA guest still booting is stopped; a builder finishes (its disk is in use until then)."""
        self._stopping.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=BUILDER_TIMEOUT_S)
        self.s3.__exit__(*exc)
        self.states.__exit__(*exc)

    @property
    def states_port(self) -> int:
        return int(urlsplit(self.states.url).port or 0)

    @property
    def s3_port(self) -> int:
        return int(urlsplit(self.s3.url).port or 0)

    # -- what the runtime calls -------------------------------------------------------------
    def launched(self, region: str, instance_ids: list[str]) -> None:
        with self._lock:
            self._launches.extend((region, instance_id) for instance_id in instance_ids)

    def boot_new_instances(self) -> None:
        with self._lock:
            launches, self._launches = self._launches, []
            self._starting += len(launches)
        for region, instance_id in launches:
            thread = threading.Thread(target=self._play, args=(region, instance_id), daemon=True,
                                      name=f"guest-{instance_id}")
            # Started before it is listed: a thread listed but not yet alive would look finished
            # to guests_working, which runs on the interpreter's threads, and be forgotten.
            try:
                thread.start()
            finally:
                with self._lock:
                    self._threads.append(thread)
                    self._starting -= 1

    @property
    def guests_working(self) -> bool:
        """A guest launched and not yet booted counts: its task token is about to be waited on."""
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            return bool(self._threads or self._launches or self._starting)

    @property
    def reports(self) -> list[dict]:
        """Every call the guests made to Step Functions, as the endpoint heard it."""
        return [asdict(call) for call in self.states.calls]

    @property
    def uploads(self) -> list[dict]:
        """Every call the builders made to S3, as the endpoint heard it."""
        return [asdict(call) for call in self.s3.calls]

    # -- the guests -------------------------------------------------------------------------
    def _play(self, region: str, instance_id: str) -> None:
        instance = client("ec2", region).describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        user_data, params = guest_user_data(region, instance_id)
        role = as_dict(instance.get("Tags")).get(ROLE)
        if params is None or role not in ("builder", "qa"):
            return
        try:
            if role == "builder":
                self._builder(region, instance, params, user_data)
            else:
                self._qa(region, instance, params, user_data)
        except Exception as error:  # a guest that breaks is silent, as a real one would be
            self.failures.append(f"{role} {instance_id}: {error}")

    def _metadata(self, region: str, instance: InstanceTypeDef, user_data: str, role: str) -> MetadataServer:
        return MetadataServer(
            instance_id=instance["InstanceId"], region=region, availability_zone=f"{region}a",
            arch=ec2_arch(instance["Architecture"]), image_id=instance["ImageId"],
            instance_type=instance["InstanceType"], account_id=self.account, role_name=f"atomic-release-{role}",
            registry=self.registry, user_data=user_data, local_ipv4="169.254.169.15")

    def _states_forward(self) -> machine.Forward:
        return machine.Forward(machine.SERVICES_ADDRESS, self.states_port, self.states_port)

    def _s3_forward(self) -> machine.Forward:
        """Where the builder uploads the disk's images (path-style, at GUEST_S3_ENDPOINT)."""
        return machine.Forward(machine.SERVICES_ADDRESS, self.s3_port, self.s3_port)

    def _repo_forwards(self) -> list[machine.Forward]:
        """A repository on this machine's 127.0.0.1, where the builder finds it at the same URL."""
        repo = urlsplit(self.repo_url)
        return [machine.Forward("127.0.0.1", repo.port, repo.port)] if repo.hostname == "127.0.0.1" and repo.port \
            else []

    def _builder(self, region: str, instance: InstanceTypeDef, params: dict, user_data: str) -> None:
        volume_id = next(m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]
                         if m["DeviceName"] == params["target_device"])
        size = client("ec2", region).describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Size"]
        work = self.work / instance["InstanceId"]
        work.mkdir(parents=True, exist_ok=True)
        disk = self._disk(volume_id)
        arch = ec2_arch(instance["Architecture"])
        with (_one_builder_on_this_machine(), machine.loop_disk(disk, size) as loop, _linked(_TARGET_LINK, loop),
              self._metadata(region, instance, user_data, "builder") as imds):
            forwards = [machine.Forward(machine.IMDS_ADDRESS, 80, _port(imds.url)), self._states_forward(),
                        self._s3_forward(), *self._repo_forwards()]
            machine.run_builder(user_data, disk=loop, volume_id=volume_id, work=work,
                                tools=builder_tools(params["install_method"], arch), forwards=forwards,
                                timeout=BUILDER_TIMEOUT_S)
        # The guest powered off; InstanceInitiatedShutdownBehavior=terminate ends the instance.
        client("ec2", region).terminate_instances(InstanceIds=[instance["InstanceId"]])

    def _qa(self, region: str, instance: InstanceTypeDef, params: dict, user_data: str) -> None:
        disk = self._disk(image_volume(region, instance["ImageId"]))
        work = self.work / instance["InstanceId"]
        token = fingerprint(params["task_token"])
        with (self._metadata(region, instance, user_data, "qa") as imds,
              machine.booted(disk, ec2_arch(instance["Architecture"]), work, imds_port=_port(imds.url),
                             forwards=[self._states_forward()]) as vm):
            reported = vm.wait_for(lambda: self._stopping.is_set() or any(
                call.token_fingerprint == token and call.outcome == "Success" for call in self.states.calls),
                QA_BOOT_TIMEOUT_S)
        if not reported:
            self.failures.append(f"qa {instance['InstanceId']} never reported; QEMU said: "
                                 f"{_tail(work / 'qemu.log') or 'nothing'}; its console ended: {_tail(vm.console)}")

    def _disk(self, volume_id: str) -> Path:
        """The file holding a volume's blocks: a builder's target, later the snapshot behind an image."""
        return self.work / f"{volume_id}.raw"

    def remove_disks(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


@contextlib.contextmanager
def _one_builder_on_this_machine():
    """Builders take turns, in this process and in any other: each needs the device name."""
    with open(_BUILDER_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _linked(link: Path, target: str):
    """The device name the instance was given, linked to the disk, as EC2's udev rules do."""
    if link.exists() or link.is_symlink():
        raise RuntimeError(f"{link} exists on this machine: a local builder cannot take that name (if a killed "
                           f"run left it behind, remove it and detach the loop device it names)")
    link.symlink_to(target)
    try:
        yield
    finally:
        link.unlink(missing_ok=True)


def _tail(path: Path, size: int = 1000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else ""


def _port(url: str) -> int:
    return int(urlsplit(url).port or 0)
