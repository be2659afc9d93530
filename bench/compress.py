"""Benchmark: what making the downloadable images costs the builder, for a 10 GiB disk with 2 GiB
used (an XFS filesystem on a loop device, filled with files copied from /usr). The builder's own
functions do the work, sourced from builder.sh: ``compressed`` (sha256, xz, sha256) over the
whole disk for raw.xz, and ``qcow2_of`` then ``compressed`` for qcow2.xz. Each format's wall
time, CPU time and peak resident memory are those /usr/bin/time reports for it. Needs root."""

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from chalicelib.guest.user_data import SCRIPTS

DISK_GIB = 10
USED_BYTES = 2 << 30
SOURCE = Path("/usr")
_TIME = {"wall_s": r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.+)", "user_s": r"User time \(seconds\): (.+)",
         "system_s": r"System time \(seconds\): (.+)", "peak_rss_kib": r"Maximum resident set size \(kbytes\): (.+)"}


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def _fill(mountpoint: Path, size: int) -> int:
    """Copies regular files from /usr until ``size`` bytes are in; returns the bytes copied."""
    copied = 0
    for root, _, files in os.walk(SOURCE):
        for name in files:
            source = Path(root, name)
            if source.is_symlink() or not source.is_file():
                continue
            target = mountpoint / source.relative_to("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copied += source.stat().st_size
            if copied >= size:
                return copied
    raise RuntimeError(f"{SOURCE} holds only {copied} bytes of regular files, not {size}")


def _seconds(text: str) -> float:
    """GNU time's h:mm:ss or m:ss.ss."""
    total = 0.0
    for part in text.split(":"):
        total = total * 60 + float(part)
    return total


def _timed(script: str, work: Path) -> dict:
    """Runs ``script`` after builder.sh's functions are sourced; its figures and its stdout."""
    report = work / "time.txt"
    done = subprocess.run(["/usr/bin/time", "-v", "-o", str(report), "bash", "-c",
                           f"source {SCRIPTS / 'builder.sh'}\nWORK={work}\n{script}"],
                          check=True, capture_output=True, text=True)
    text = report.read_text()
    found = {name: re.search(pattern, text).group(1) for name, pattern in _TIME.items()}  # type: ignore[union-attr]
    return {"wall_s": round(_seconds(found["wall_s"]), 1),
            "cpu_s": round(float(found["user_s"]) + float(found["system_s"]), 1),
            "peak_rss_mib": round(int(found["peak_rss_kib"]) / 1024, 1), "output": done.stdout.split()}


def _sum(path: Path) -> str:
    return path.read_text().split()[0]


def _images(device: str, used: int, work: Path) -> dict:
    raw = _timed(f'compressed "$WORK/raw.sum" "$WORK/raw.xz.sum" <{device} | wc -c', work)
    qcow2 = _timed(f'qcow2_of {device} {used} "$WORK/disk.qcow2"\nstat -c %s "$WORK/disk.qcow2"\n'
                   f'compressed "$WORK/qcow2.sum" "$WORK/qcow2.xz.sum" <"$WORK/disk.qcow2" | wc -c\n'
                   f'rm "$WORK/disk.qcow2"', work)
    return {
        "raw.xz": {"bytes": int(raw.pop("output")[0]), "sha256": _sum(work / "raw.xz.sum"),
                   "uncompressed_sha256": _sum(work / "raw.sum"), **raw},
        "qcow2.xz": {"qcow2_bytes": int(qcow2["output"][0]), "bytes": int(qcow2.pop("output")[1]),
                     "sha256": _sum(work / "qcow2.xz.sum"), "uncompressed_sha256": _sum(work / "qcow2.sum"),
                     **qcow2},
    }


def measure() -> dict:
    preset = re.search(r"^XZ_PRESET=(\d+)$", (SCRIPTS / "builder.sh").read_text(), re.MULTILINE).group(1)  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory(prefix="bench-compress-", dir="/var/tmp") as directory:
        work = Path(directory)
        disk, mountpoint = work / "disk.raw", work / "mnt"
        with open(disk, "wb") as sparse:
            sparse.truncate(DISK_GIB << 30)
        device = _run("losetup", "--find", "--show", str(disk)).strip()
        try:
            _run("mkfs.xfs", "-q", "-L", "root", device)
            mountpoint.mkdir()
            _run("mount", device, str(mountpoint))
            try:
                copied = _fill(mountpoint, USED_BYTES)
                used = int(_run("df", "-B1", "--output=used", str(mountpoint)).split()[-1])
            finally:
                _run("umount", str(mountpoint))
            figures = {"disk_gib": DISK_GIB, "files_bytes": copied, "used_bytes": used, "xz_preset": int(preset),
                       "cpus": os.cpu_count(), **_images(device, used, work)}
        finally:
            subprocess.run(["losetup", "--detach", device], check=False)
    print(json.dumps(figures, indent=2))
    return figures
