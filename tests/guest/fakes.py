"""Fake system commands for running the guest scripts under bash on this machine: each records
its arguments and answers from environment variables. Every command that could touch this
machine's disks or power state is faked, and the fixture checks that PATH finds the fakes."""

import os
import shlex
import stat
from pathlib import Path

GENERIC = """#!/bin/bash
name=$(basename "$0")
all="$*"
printf '%s\\n' "$name${all:+ ${all//$'\\n'/\\\\n}}" >> "$FAKE_CALLS"
if [ -n "${FAKE_FAIL_ON:-}" ] && [[ "$name $*" == *"$FAKE_FAIL_ON"* ]]; then
    echo "error: $name $1 failed: Server returned HTTP 404" >&2
    exit 1
fi
variable="FAKE_$(printf '%s' "$name" | tr 'a-z.-' 'A-Z__')_OUTPUT"
if [ -n "${!variable:-}" ]; then printf '%s\\n' "${!variable}"; fi
if [ -n "${FAKE_SLOW_ON:-}" ] && [[ "$name $*" == *"$FAKE_SLOW_ON"* ]]; then sleep 1.5; fi
exit 0
"""

CURL = """#!/bin/bash
printf '%s\\n' "curl $*" >> "$FAKE_CALLS"
url=
for argument in "$@"; do case $argument in http://*|https://*) url=$argument ;; esac; done
case $url in
    */api/token) echo imds-token ;;
    */meta-data/instance-id) echo i-0123456789abcdef0 ;;
    */iam/security-credentials/) echo atomic-release-qa ;;
    */iam/security-credentials/atomic-release-qa)
        printf '{\\n  "Code" : "Success",\\n  "AccessKeyId" : "ASIAFAKE",\\n'
        printf '  "SecretAccessKey" : "fake/secret",\\n  "Token" : "fake-session-token"\\n}\\n' ;;
    https://states.*) while [ $# -gt 0 ]; do
            if [ "$1" = --data ]; then printf '%s' "$2" > "$FAKE_REPORT"; fi; shift; done
        echo '{}' ;;
    *) echo "unexpected url $url" >&2; exit 22 ;;
esac
"""

SYSTEMCTL = """#!/bin/bash
printf '%s\\n' "systemctl $*" >> "$FAKE_CALLS"
case $1 in
    is-system-running) echo "${FAKE_SYSTEM_STATE:-running}" ;;
    --failed) printf '%s\\n' ${FAKE_FAILED_UNITS:-} ;;
esac
"""

LSBLK = """#!/bin/bash
printf '%s\\n' "lsblk $*" >> "$FAKE_CALLS"
case "$*" in
    *SERIAL*) printf '%s\\n' "${FAKE_LSBLK_SERIAL:-}" ;;
    *LABEL*) printf '%b\\n' "${FAKE_LSBLK_LABELS:-}" ;;
esac
"""

FAKED = ["aws", "ostree", "bootc", "podman", "sgdisk", "udevadm", "mkfs.vfat",
         "mkfs.ext4", "mkfs.xfs", "mount", "umount", "sync", "shutdown", "poweroff", "uname", "ip", "cloud-init",
         "systemd-run"]
DANGEROUS = ["mount", "umount", "poweroff", "shutdown", "sgdisk", "mkfs.xfs", "mkfs.vfat", "mkfs.ext4", "sync"]


def install(directory: Path, extra: tuple[str, ...] = ()) -> Path:
    """The fakes, plus ``extra`` generic ones (rpm-ostree and jq are absent unless asked for)."""
    directory.mkdir(parents=True, exist_ok=True)
    scripts = {name: GENERIC for name in (*FAKED, *extra)}
    scripts.update(curl=CURL, systemctl=SYSTEMCTL, lsblk=LSBLK)
    for name, text in scripts.items():
        path = directory / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return directory


def environment(fakes: Path, tmp: Path, **variables: str) -> dict[str, str]:
    env = {"PATH": f"{fakes}:/usr/bin:/bin", "HOME": str(tmp), "FAKE_CALLS": str(tmp / "calls"),
           "FAKE_REPORT": str(tmp / "report.json"), "ATOMIC_RELEASE_LOG": str(tmp / "guest.log"),
           "ATOMIC_RELEASE_MNT": str(tmp / "mnt"), **variables}
    for name in DANGEROUS:
        resolved = os.popen(f"PATH={shlex.quote(env['PATH'])} command -v {name}").read().strip()
        assert resolved == str(fakes / name), f"{name} would run {resolved or 'nothing'}, not the fake"
    return env


def calls(tmp: Path) -> list[str]:
    path = tmp / "calls"
    return path.read_text().splitlines() if path.exists() else []
