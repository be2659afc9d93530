"""Fake system commands for running the guest scripts under bash on this machine: each records
its arguments and answers from environment variables. Every command that could touch this
machine's disks or power state is faked, and the fixture checks that PATH finds the fakes."""

import json
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

# S3 as the builder uses it, path-style: each object's parts and the object itself are kept under
# $FAKE_S3/BUCKET/KEY(.parts/N), every call is listed in $FAKE_S3/calls, a body that is not the
# sha256 it claims is refused as S3 refuses it, and $FAKE_S3_FAIL_ON names an operation that
# fails (with the part number for UploadPart: "UploadPart 2"). A body goes where -o says;
# UploadPart's headers to stdout (-D -).
UPLOAD_ID = "up/load+1="  # characters a query must encode
S3 = r"""
s3_request() {
    local path=${url#https://*/} query= operation number store sum
    case $path in *\?*) query=${path#*\?} path=${path%%\?*} ;; esac
    store="$FAKE_S3/$path"
    sum=$(sha256sum <"${body:-/dev/null}")
    if [ "$content_sha256" != "${sum%% *}" ]; then
        echo '<Error><Code>XAmzContentSHA256Mismatch</Code></Error>' >"$output"; exit 22
    fi
    number=$(printf '%s' "$query" | sed -n 's/.*partNumber=\([0-9]*\).*/\1/p')
    case "$method $query" in
        "POST uploads=") operation=CreateMultipartUpload ;;
        "PUT partNumber=$number&uploadId=up%2Fload%2B1%3D") operation="UploadPart $number" ;;
        "POST uploadId=up%2Fload%2B1%3D") operation=CompleteMultipartUpload ;;
        "DELETE uploadId=up%2Fload%2B1%3D") operation=AbortMultipartUpload ;;
        *) echo "<Error><Code>InvalidRequest</Code><Message>$method $query</Message></Error>" >"$output"; exit 22 ;;
    esac
    printf '%s %s\n' "$operation" "$path" >> "$FAKE_S3/calls"
    if [ -n "${FAKE_S3_FAIL_ON:-}" ] && [ "$operation" = "$FAKE_S3_FAIL_ON" ]; then
        echo '<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>' >"$output"
        exit 22
    fi
    case $operation in
        CreateMultipartUpload)
            mkdir -p "$store.parts"
            echo '<?xml version="1.0" encoding="UTF-8"?>'
            echo "<InitiateMultipartUploadResult><Key>${path#*/}</Key><UploadId>""" + UPLOAD_ID + r"""</UploadId></InitiateMultipartUploadResult>" ;;
        UploadPart*)
            cp "$body" "$store.parts/$number"
            sum=$(md5sum <"$body")
            printf 'HTTP/1.1 200 OK\r\nETag: "%s"\r\n\r\n' "${sum%% *}" ;;
        CompleteMultipartUpload)
            for number in $(grep -o '<PartNumber>[0-9]*' "$body" | cut -d '>' -f 2); do
                cat "$store.parts/$number"
            done > "$store"
            rm -rf "$store.parts"
            echo "<CompleteMultipartUploadResult><Key>${path#*/}</Key></CompleteMultipartUploadResult>" ;;
        AbortMultipartUpload) rm -rf "$store.parts" ;;
    esac
}
"""

CURL = """#!/bin/bash
printf '%s\\n' "curl $*" >> "$FAKE_CALLS"
url= target= data= method= body= content_sha256= output=/dev/stdout
while [ $# -gt 0 ]; do
    case $1 in
        http://*|https://*) url=$1 ;;
        -H) case $2 in
                X-Amz-Target:*) target=${2#*AWSStepFunctions.} ;;
                x-amz-content-sha256:*) content_sha256=${2#*: } ;;
            esac; shift ;;
        -X) method=$2; shift ;;
        -T) body=$2; shift ;;
        --data-binary) body=${2#@}; shift ;;
        --data) data=$2; shift ;;
        -o) output=$2; shift ;;
    esac
    shift
done
""" + S3 + """
case $url in
    */api/token) echo imds-token ;;
    */meta-data/instance-id) echo i-0123456789abcdef0 ;;
    */iam/security-credentials/) echo atomic-release-qa ;;
    */iam/security-credentials/atomic-release-qa)
        printf '{\\n  "Code" : "Success",\\n  "AccessKeyId" : "ASIAFAKE",\\n'
        printf '  "SecretAccessKey" : "fake/secret",\\n  "Token" : "fake-session-token"\\n}\\n' ;;
    https://states.*.amazonaws.com/|"${FAKE_STATES_ENDPOINT:-none}") printf '%s\\t%s\\n' "$target" "$data" >> "$FAKE_STATES"; echo '{}' ;;
    https://s3.*.amazonaws.com/*) s3_request ;;
    *) echo "unexpected url $url" >&2; exit 22 ;;
esac
"""

# `ostree admin deploy` leaves what the real one leaves for the builder to read: a boot entry
# whose ostree= argument links to the deployment of $FAKE_DEPLOYED. The keys a `remote add`
# imports (--gpg-import=FILE) are kept in $FAKE_IMPORTED_KEYS; a failure says $FAKE_FAIL_MESSAGE.
OSTREE = """#!/bin/bash
printf '%s\\n' "ostree $*" >> "$FAKE_CALLS"
for argument in "$@"; do
    case $argument in --gpg-import=*) cat "${argument#--gpg-import=}" >> "$FAKE_IMPORTED_KEYS" ;; esac
done
if [ -n "${FAKE_FAIL_ON:-}" ] && [[ "ostree $*" == *"$FAKE_FAIL_ON"* ]]; then
    printf '%b\\n' "${FAKE_FAIL_MESSAGE:-error: ostree $1 failed: Server returned HTTP 404}" >&2
    exit 1
fi
if [ -n "${FAKE_SLOW_ON:-}" ] && [[ "ostree $*" == *"$FAKE_SLOW_ON"* ]]; then sleep 1.5; fi
if [ "$1 $2" = "admin deploy" ] && [ -n "${FAKE_DEPLOYED:-}" ]; then
    mnt=$ATOMIC_RELEASE_MNT
    mkdir -p "$mnt/boot/loader/entries" "$mnt/ostree/deploy/os/deploy/$FAKE_DEPLOYED.0" "$mnt/ostree/boot.1/os/b"
    ln -sfn "../../../deploy/os/deploy/$FAKE_DEPLOYED.0" "$mnt/ostree/boot.1/os/b/0"
    printf 'title os\\nlinux /ostree/os-b/vmlinuz\\ninitrd /ostree/os-b/initramfs.img\\n' \\
        > "$mnt/boot/loader/entries/ostree-1-os.conf"
    printf 'options root=LABEL=root rw ostree=/ostree/boot.1/os/b/0\\n' >> "$mnt/boot/loader/entries/ostree-1-os.conf"
fi
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

# The mounts are faked, so the real df would measure this machine's own disks, whose use and room
# vary from machine to machine. Each faked filesystem holds $FAKE_DF_USED bytes, and the scratch
# space has $FAKE_DF_AVAIL free.
DF = """#!/bin/bash
printf '%s\\n' "df $*" >> "$FAKE_CALLS"
column=used
for argument in "$@"; do
    case $argument in --output=*) column=${argument#--output=} ;; -*) ;; *) paths+=("$argument") ;; esac
done
case $column in
    used) echo Used; for _ in "${paths[@]}"; do echo "${FAKE_DF_USED:-1048576}"; done ;;
    avail) echo Avail; for _ in "${paths[@]}"; do echo "${FAKE_DF_AVAIL:-1099511627776}"; done ;;
    *) echo "df fake: no column $column" >&2; exit 1 ;;
esac
"""

FAKED = ["bootc", "podman", "sgdisk", "udevadm", "partx", "mkfs.fat", "mkfs.ext4", "mkfs.xfs", "mount", "umount",
         "sync", "shutdown", "poweroff", "uname", "ip", "cloud-init", "systemd-run", "grub-mkimage", "grub-install",
         "mmd", "mcopy", "apt-get"]
DANGEROUS = ["mount", "umount", "poweroff", "shutdown", "sgdisk", "partx", "mkfs.xfs", "mkfs.fat", "mkfs.ext4", "sync",
             "grub-install", "mmd", "mcopy", "apt-get", "udevadm"]


def install(directory: Path, extra: tuple[str, ...] = ()) -> Path:
    """The fakes, plus ``extra`` generic ones (rpm-ostree and jq are absent unless asked for)."""
    directory.mkdir(parents=True, exist_ok=True)
    scripts = {name: GENERIC for name in (*FAKED, *extra)}
    scripts.update(curl=CURL, ostree=OSTREE, systemctl=SYSTEMCTL, lsblk=LSBLK, df=DF)
    for name, text in scripts.items():
        path = directory / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return directory


def environment(fakes: Path, tmp: Path, **variables: str) -> dict[str, str]:
    (tmp / "s3").mkdir(exist_ok=True)
    env = {"PATH": f"{fakes}:/usr/bin:/bin", "HOME": str(tmp), "FAKE_CALLS": str(tmp / "calls"),
           "FAKE_STATES": str(tmp / "states"), "FAKE_IMPORTED_KEYS": str(tmp / "imported-keys"),
           "FAKE_S3": str(tmp / "s3"), "ATOMIC_RELEASE_LOG": str(tmp / "guest.log"),
           "ATOMIC_RELEASE_MNT": str(tmp / "mnt"), "ATOMIC_RELEASE_SCRATCH": str(tmp / "scratch"), **variables}
    for name in DANGEROUS:
        resolved = os.popen(f"PATH={shlex.quote(env['PATH'])} command -v {name}").read().strip()
        assert resolved in (str(fakes / name), ""), f"{name} would run {resolved}, not the fake"
    return env


def states_calls(tmp: Path) -> list[tuple[str, dict]]:
    """(action, request body) of every Step Functions call the guest made, in order."""
    path = tmp / "states"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(action, json.loads(body)) for action, body in (line.split("\t", 1) for line in lines)]


def s3_calls(tmp: Path) -> list[str]:
    """"OPERATION BUCKET/KEY" of every S3 call the guest made, in order."""
    path = tmp / "s3" / "calls"
    return path.read_text().splitlines() if path.exists() else []


def s3_object(tmp: Path, bucket: str, key: str) -> bytes | None:
    path = tmp / "s3" / bucket / key
    return path.read_bytes() if path.is_file() else None


def s3_pending_parts(tmp: Path) -> list[Path]:
    """The parts of multipart uploads neither completed nor aborted."""
    return sorted((tmp / "s3").rglob("*.parts/*"))


def calls(tmp: Path) -> list[str]:
    path = tmp / "calls"
    return path.read_text().splitlines() if path.exists() else []


def imported_keys(tmp: Path) -> str:
    """What the builder's ``ostree remote add --gpg-import`` imported, or '' when nothing."""
    path = tmp / "imported-keys"
    return path.read_text() if path.exists() else ""
