"""Real guests on this machine: the builder script run against a loop device standing in for
the attached EBS volume, and a disk booted in QEMU (TCG) as EC2 would boot an instance.

Both see the network an instance sees: IMDS at 169.254.169.254, and the services the runtime
forwards to them (a Step Functions endpoint, the ostree repository) at fixed addresses that
lead to servers on this machine's 127.0.0.1. Nothing else is reachable from either guest."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.core.arch import Arch
from chalicelib.guest.user_data import builder_tools

IMDS_ADDRESS = "169.254.169.254"
# QEMU's user network for guests: the host is .2, DHCP hands out addresses from .15.
GUEST_NET = "169.254.169.0/24"
SERVICES_ADDRESS = "169.254.169.253"
EBS_LINK_PREFIX = "nvme-Amazon_Elastic_Block_Store_"
FIRMWARE = {
    "x86_64": ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
    "arm64": ("/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"),
}
QEMU = {"x86_64": ("qemu-system-x86_64", "-machine", "q35"),
        "arm64": ("qemu-system-aarch64", "-machine", "virt", "-cpu", "cortex-a72")}
HOST_TOOLS = ("losetup", "partx", "socat", "unshare", "ip", "qemu-img")
COMPOSE_TOOLS = ("mmdebstrap", "ostree", "chroot")


@dataclass(frozen=True)
class Forward:
    """A guest-visible TCP address that leads to 127.0.0.1:host_port on this machine."""
    address: str
    port: int
    host_port: int


@contextlib.contextmanager
def loop_disk(path: Path, size_gib: int) -> Iterator[str]:
    """A sparse file of ``size_gib`` attached as a loop device, detached afterwards."""
    with open(path, "wb") as disk:
        disk.truncate(size_gib << 30)
    device = _run("losetup", "--find", "--show", "--partscan", str(path)).strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "--detach", device], check=False, capture_output=True)


def tool_directory(directory: Path, tools: tuple[str, ...], shims: dict[str, str]) -> Path:
    """A PATH of exactly ``tools`` (links to this machine's) and ``shims`` (scripts standing in
    for commands that must not act on this machine, such as poweroff)."""
    directory.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        if tool in shims:
            continue
        (directory / tool).symlink_to(_host_tool(tool))
    for name, text in shims.items():
        (directory / name).write_text(text)
        (directory / name).chmod(0o755)
    return directory


def power_shims(record: Path) -> dict[str, str]:
    """shutdown and poweroff record that they were asked, instead of acting on this machine."""
    return {name: f'#!/bin/bash\nprintf "%s\\n" "{name} $*" >>\'{record}\'\n' for name in ("shutdown", "poweroff")}


@dataclass
class BuilderRun:
    returncode: int
    log: str
    power: list[str]


def run_builder(script: str, *, disk: str, volume_id: str, work: Path, tools: tuple[str, ...],
                forwards: Sequence[Forward] = (), timeout: float = 3600) -> BuilderRun:
    """Run a rendered builder script as its instance would: as root, its target disk linked where
    EBS's udev rules link it, in a network namespace where only ``forwards`` lead anywhere."""
    work.mkdir(parents=True, exist_ok=True)
    by_id = work / "by-id"
    by_id.mkdir(exist_ok=True)
    (by_id / f"{EBS_LINK_PREFIX}{volume_id.replace('-', '')}").symlink_to(disk)
    power = work / "power"
    path = tool_directory(work / "bin", tools, power_shims(power))
    (work / "builder.sh").write_text(script)
    env = {"PATH": str(path), "HOME": str(work), "LANG": "C.UTF-8", "ATOMIC_RELEASE_LOG": str(work / "builder.log"),
           "ATOMIC_RELEASE_MNT": str(work / "mnt"), "ATOMIC_RELEASE_DISK_BY_ID": str(by_id),
           "ATOMIC_RELEASE_SCRATCH": str(work / "scratch")}  # the qcow2 is made there
    with _namespace_forwards(work, forwards) as enter:
        done = subprocess.run([*enter, "/bin/bash", str(work / "builder.sh")], env=env, timeout=timeout,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    log = (work / "builder.log").read_text() if (work / "builder.log").exists() else ""
    asked = power.read_text().splitlines() if power.exists() else []
    return BuilderRun(done.returncode, log, asked)


@contextlib.contextmanager
def _relays(work: Path, forwards: Sequence[Forward]) -> Iterator[list[Path]]:
    """For each forward, a UNIX socket (one per forward) whose connections reach 127.0.0.1 on
    this machine: the one way out of a guest's network namespace."""
    relays: list[subprocess.Popen] = []
    sockets = [work / f"forward-{number}.sock" for number in range(len(forwards))]
    try:
        for socket, forward in zip(sockets, forwards, strict=True):
            socket.unlink(missing_ok=True)
            relays.append(subprocess.Popen([_host_tool("socat"), f"UNIX-LISTEN:{socket},fork",
                                            f"TCP:127.0.0.1:{forward.host_port}"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _until(lambda: all(socket.exists() for socket in sockets), what="the relays to listen")
        yield sockets
    finally:
        for relay in relays:
            relay.terminate()
            relay.wait(timeout=5)


def _isolated(setup: list[str]) -> list[str]:
    """The command prefix that runs a command in a new network namespace holding only a loopback
    interface, after ``setup`` (shell lines run inside it)."""
    script = "\n".join([f"{_host_tool('ip')} link set lo up", *setup, 'exec "$@"'])
    # A PID namespace too: when the guest ends, the kernel ends every process it left in there
    # (the relays' listeners), which no signal to the guest itself would reach.
    return [_host_tool("unshare"), "--net", "--pid", "--fork", "--kill-child", "/bin/bash", "-c", script,
            "guest-network"]


@contextlib.contextmanager
def _namespace_forwards(work: Path, forwards: Sequence[Forward]) -> Iterator[list[str]]:
    """For a process run on this machine (the builder): its namespace's loopback carries each
    forward's address, listening and relaying to this machine's 127.0.0.1."""
    ip, socat = _host_tool("ip"), _host_tool("socat")  # the guest's PATH holds its own tools only
    with _relays(work, forwards) as sockets:
        setup = []
        for socket, forward in zip(sockets, forwards, strict=True):
            if forward.address != "127.0.0.1":
                setup.append(f"{ip} addr add {forward.address}/32 dev lo")
            setup.append(f"{socat} TCP-LISTEN:{forward.port},bind={forward.address},fork,reuseaddr "
                         f"UNIX-CONNECT:{socket} &")
        setup.append(f"{_host_tool('sleep')} 0.3")  # the listeners are up before the guest starts
        yield _isolated(setup)


def _until(done: Callable[[], bool], what: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(0.05)


@dataclass
class VirtualMachine:
    """A disk booted in QEMU under TCG, with its serial console written to ``console``."""
    process: subprocess.Popen
    console: Path
    started: float = field(default_factory=time.monotonic)

    def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        while time.monotonic() - self.started < timeout:
            if done():
                return True
            if self.process.poll() is not None:
                return done()
            time.sleep(1)
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def booted(disk_image: Path, arch: Arch, work: Path, *, imds_port: int, forwards: Sequence[Forward] = (),
           firmware: str = "uefi", memory_mib: int = 2048) -> Iterator[VirtualMachine]:
    """Boot a copy-on-write overlay of ``disk_image`` (the image's snapshot stays as it was), as an
    instance: one NIC whose network reaches IMDS and ``forwards``, and nothing else."""
    work.mkdir(parents=True, exist_ok=True)
    overlay = work / "root.qcow2"
    _run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(disk_image.resolve()), str(overlay))
    relayed = [Forward(IMDS_ADDRESS, 80, imds_port), *forwards]
    binary, *machine = QEMU[arch]
    # cloud-init asks IMDS for a token only on a machine that says it is EC2: a system UUID that
    # starts with "ec2" and equals the serial number, as on Nitro.
    system = "ec2" + uuid.uuid4().hex[3:]
    system = f"{system[:8]}-{system[8:12]}-{system[12:16]}-{system[16:20]}-{system[20:]}"
    with _relays(work, relayed) as sockets:
        # QEMU itself runs where nothing but the relays leads anywhere: its user network hands the
        # guest a default route, as a VPC does, and traffic to anything else ends there.
        netdev = ",".join([f"user,id=net0,net={GUEST_NET}", *(
            f"guestfwd=tcp:{f.address}:{f.port}-cmd:{_host_tool('socat')} STDIO UNIX-CONNECT:{socket}"
            for socket, f in zip(sockets, relayed, strict=True))])
        command = [*_isolated([]), _host_tool(binary), *machine, "-m", str(memory_mib), "-smp", "2", "-accel", "tcg",
                   "-display", "none", "-no-reboot", "-serial", f"file:{work / 'console.log'}", "-monitor", "none",
                   "-smbios", f"type=1,uuid={system},serial={system},manufacturer=Amazon EC2",
                   "-netdev", netdev, "-device", "virtio-net-pci,netdev=net0",
                   "-drive", f"file={overlay},if=virtio,format=qcow2", *_firmware(arch, firmware, work)]
        with open(work / "qemu.log", "w") as errors:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
        vm = VirtualMachine(process, work / "console.log")
        try:
            yield vm
        finally:
            vm.stop()


def _firmware(arch: Arch, firmware: str, work: Path) -> list[str]:
    if firmware == "bios":
        if arch != "x86_64":
            raise ValueError("only x86_64 boots by BIOS")
        return []
    code, variables = FIRMWARE[arch]
    shutil.copy(variables, work / "vars.fd")
    return ["-drive", f"if=pflash,format=raw,readonly=on,file={code}",
            "-drive", f"if=pflash,format=raw,file={work / 'vars.fd'}"]


def why_real_guests_cannot_run(arch: Arch = "x86_64") -> str | None:
    """What this machine lacks to compose, build and boot real guests, or None."""
    if os.geteuid() != 0:
        return "real guests need root (loop devices, mounts, network namespaces)"
    tools = (*COMPOSE_TOOLS, *HOST_TOOLS, QEMU[arch][0], *builder_tools("ostree", arch))
    missing = [tool for tool in dict.fromkeys(tools) if shutil.which(tool) is None]
    missing += [path for path in FIRMWARE[arch] if not os.path.exists(path)]
    if missing:
        return f"real guests need {', '.join(missing)} on this machine (`make tools` installs them)"
    return None


def _host_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed on this machine")
    return found


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout
