"""A bootable ostree commit to test real guests with, composed on this machine from Debian's
packages: mmdebstrap, a cloud kernel, systemd, dracut with Debian's ostree module, cloud-init
and curl, laid out as ostree expects and committed with the real ostree CLI.

Two commits land in one archive repository: the good one, and a broken one (the good tree
plus an enabled unit that fails at boot), which QA must refuse. The repository is cached
outside the project, keyed by everything that goes into it, so only the first run pays."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from chalicelib.core.arch import Arch, ostree_arch

SUITE = "bookworm"
OSNAME = "debian"
DEBIAN_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
KERNEL_PACKAGE = {"x86_64": "linux-image-cloud-amd64", "arm64": "linux-image-cloud-arm64"}
PACKAGES = ("systemd-sysv", "udev", "dbus", "dracut", "ostree", "ostree-boot", "cloud-init", "curl",
            "ca-certificates", "iproute2", "ifupdown", "isc-dhcp-client", "xfsprogs", "e2fsprogs")
INITRAMFS_DRIVERS = "virtio_blk virtio_pci virtio_scsi virtio_net nvme xfs ext4"
BROKEN_UNIT = "atomic-release-broken.service"
# The state that becomes /var on first boot: ostree keeps /var per deployment, not per commit.
VAR_LINKS = {"home": "var/home", "srv": "var/srv", "opt": "var/opt", "mnt": "var/mnt", "root": "var/roothome"}

# Files the test image carries: cloud-init must run without EC2's DMI signature (QEMU has none).
FILES = {
    "etc/cloud/ds-identify.cfg": "policy: enabled\n",
    "etc/cloud/cloud.cfg.d/90-atomic-release.cfg": "datasource_list: [ Ec2, None ]\n"
                                                   "datasource:\n  Ec2:\n    strict_id: false\n"
                                                   # the only locale a minimal tree has
                                                   "locale: C.UTF-8\n",
    # /var starts empty in a deployment: what the packages put there is made at boot.
    "usr/lib/tmpfiles.d/atomic-release-var.conf": "".join(
        f"d /{target} 0755 root root -\n" for target in (*VAR_LINKS.values(), "var/lib/dhcp")).replace(
        "/var/roothome 0755", "/var/roothome 0700"),
}
BROKEN_FILES = {
    f"usr/lib/systemd/system/{BROKEN_UNIT}": "[Unit]\nDescription=A unit that fails at boot (the broken test commit)\n"
                                            "[Service]\nType=oneshot\nExecStart=/bin/false\n"
                                            "[Install]\nWantedBy=multi-user.target\n",
    f"usr/etc/systemd/system/multi-user.target.wants/{BROKEN_UNIT}": None,  # a link, see _overlay
}


@dataclass(frozen=True)
class ComposedRepo:
    """An archive repository holding the good and the broken commit of one architecture."""
    repo: Path
    arch: str
    ref: str
    commit: str
    broken_ref: str
    broken_commit: str
    osname: str = OSNAME


def cache_root() -> Path:
    configured = os.environ.get("ATOMIC_RELEASE_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "atomic-release"


def inputs_key(arch: Arch) -> str:
    """Everything that decides the commit's content: the recipe (this file) and its inputs."""
    recipe = Path(__file__).read_bytes()
    return hashlib.sha256(recipe + arch.encode()).hexdigest()[:16]


def composed(arch: Arch = "x86_64", log=print) -> ComposedRepo:
    """The cached repository for ``arch``, composed first if it is not there yet."""
    home = cache_root() / "guest-commits" / f"{ostree_arch(arch)}-{inputs_key(arch)}"
    manifest = home / "composed.json"
    if manifest.exists():
        recorded = json.loads(manifest.read_text())
        return ComposedRepo(**{**recorded, "repo": Path(recorded["repo"])})
    for stale in home.parent.glob(f"{ostree_arch(arch)}-*"):
        if stale != home:  # composed from another recipe: never read again
            shutil.rmtree(stale, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home, prefix="work-") as work:
        result = _compose(arch, Path(work), home / "repo", log)
    manifest.write_text(json.dumps({**asdict(result), "repo": str(result.repo)}, indent=2))
    return result


def _compose(arch: Arch, work: Path, repo: Path, log) -> ComposedRepo:
    rootfs = work / "rootfs"
    log(f"composing a {SUITE} {arch} tree with mmdebstrap")
    _run("mmdebstrap", "--mode=root", "--variant=minbase", f"--architectures={DEBIAN_ARCH[arch]}",
         "--include=" + ",".join((KERNEL_PACKAGE[arch], *PACKAGES)), SUITE, str(rootfs))
    kernel = _kernel_version(rootfs)
    log(f"making the initramfs for {kernel} with dracut's ostree module")
    _make_initramfs(rootfs, kernel)
    _lay_out_for_ostree(rootfs, kernel)
    if repo.exists():
        shutil.rmtree(repo)
    _run("ostree", "init", f"--repo={repo}", "--mode=archive")
    ref = f"atomic-release/test/{ostree_arch(arch)}/good"
    broken_ref = f"atomic-release/test/{ostree_arch(arch)}/broken"
    log(f"committing {ref}")
    # Versions as a distribution's: the release detection reads them, and AMI names carry them.
    version = f"12.{datetime.now(UTC):%Y%m%d}"
    commit = _commit(repo, ref, f"{version}.0", f"--tree=dir={rootfs}")
    overlay = _overlay(work / "broken")
    broken_commit = _commit(repo, broken_ref, f"{version}.1", f"--tree=ref={ref}", f"--tree=dir={overlay}")
    _run("ostree", "summary", "-u", f"--repo={repo}")
    return ComposedRepo(repo=repo, arch=ostree_arch(arch), ref=ref, commit=commit, broken_ref=broken_ref,
                        broken_commit=broken_commit)


def _kernel_version(rootfs: Path) -> str:
    versions = sorted(p.name for p in (rootfs / "usr/lib/modules").iterdir() if (p / "modules.dep").exists())
    if len(versions) != 1:
        raise RuntimeError(f"expected one kernel in the composed tree, found {versions}")
    return versions[0]


def _make_initramfs(rootfs: Path, kernel: str) -> None:
    """dracut inside the tree, with the host's proc, sys and dev bound in for it."""
    mounts = [rootfs / name for name in ("proc", "sys", "dev")]
    try:
        for mount in mounts:
            _run("mount", "--bind", f"/{mount.name}", str(mount))
        _run("chroot", str(rootfs), "dracut", "--force", "--no-hostonly", "--add", "ostree",
             "--add-drivers", INITRAMFS_DRIVERS, "--kver", kernel, f"/usr/lib/modules/{kernel}/initramfs.img")
    finally:
        for mount in reversed(mounts):
            subprocess.run(["umount", "--lazy", str(mount)], check=False, capture_output=True)


def _lay_out_for_ostree(rootfs: Path, kernel: str) -> None:
    """The tree ostree deploys: kernel and initramfs in /usr/lib/modules, /etc as /usr/etc, the
    state directories as links into /var, and nothing in the directories ostree owns."""
    modules = rootfs / "usr/lib/modules" / kernel
    shutil.copy2(rootfs / "boot" / f"vmlinuz-{kernel}", modules / "vmlinuz")
    for relative, text in FILES.items():
        path = rootfs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # /tmp on tmpfs: ostree leaves it empty in the deployment. Debian ships the unit as an example.
    shutil.copy2(rootfs / "usr/share/systemd/tmp.mount", rootfs / "usr/lib/systemd/system/tmp.mount")
    _run("chroot", str(rootfs), "systemctl", "enable", "tmp.mount")
    # An empty machine-id makes the first boot a first boot (systemd's ConditionFirstBoot).
    (rootfs / "etc/machine-id").write_text("")
    shutil.move(rootfs / "etc", rootfs / "usr/etc")
    for name in ("dev", "run", "tmp", "var", "boot", "proc", "sys"):
        _empty(rootfs / name)
    for name, target in VAR_LINKS.items():
        _replace_with_link(rootfs / name, target)
    (rootfs / "sysroot").mkdir(exist_ok=True)
    _replace_with_link(rootfs / "ostree", "sysroot/ostree")


def _overlay(directory: Path) -> Path:
    for relative, text in BROKEN_FILES.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            path.symlink_to(f"/usr/lib/systemd/system/{BROKEN_UNIT}")
        else:
            path.write_text(text)
    return directory


def _commit(repo: Path, ref: str, version: str, *trees: str) -> str:
    return _run("ostree", "commit", f"--repo={repo}", f"--branch={ref}", *trees, "--bootable", "--no-xattrs",
                f"--add-metadata-string=version={version}", f"--subject={ref} {version}").strip()


def _empty(directory: Path) -> None:
    if directory.is_symlink() or directory.is_file():
        directory.unlink()
    elif directory.exists():
        shutil.rmtree(directory)
    directory.mkdir()


def _replace_with_link(path: Path, target: str) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.symlink_to(target)


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout
