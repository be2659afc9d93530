"""The contract between the pipeline and the guests it launches: the user-data that carries a
guest's parameters and its script (``scripts/``).

The builder's user-data is a shell script, gzip-compressed (the builder OS runs it through
cloud-init, which reads compressed user-data: EC2 takes 16 KB at most, and the script with a
stream's trusted keys is larger). The QA
guest's is in the form the new image understands: an Ignition config, or a cloud-init script.
Either way the QA script runs from a timer, after boot, because it waits for boot to finish.
Every form carries the parameters as one JSON document, which the local simulator reads."""

import base64
import gzip
import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Literal

from chalicelib.core.arch import ec2_arch

Role = Literal["builder", "qa"]
QAUserData = Literal["ignition", "cloud-init"]
TARGET_DEVICE = "/dev/sdf"
SCRIPTS = Path(__file__).with_name("scripts")
# /var: on an ostree system /usr is read-only, and /usr/local is writable only where the image
# links it into /var (Fedora does; not every image does).
QA_SCRIPT_PATH = "/var/lib/atomic-release/qa"
PARAMS_PATH = "/etc/atomic-release/params.json"
QA_DELAY_SECONDS = 20
DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254"
USER_DATA_LIMIT = 16 * 1024  # EC2's, on the raw bytes before base64
_BUILDER_COMMON_TOOLS = ("curl", "sed", "tr", "awk", "readlink", "head", "tail", "cut", "cat", "seq", "sleep", "mkdir",
                         "mktemp", "rm", "touch", "sync", "mount", "umount", "partx", "shutdown", "poweroff",
                         # the downloadable images
                         "xz", "qemu-img", "sha256sum", "tee", "stat", "df", "dirname")
_BUILDER_METHOD_TOOLS = {
    # ostree verifies signatures through gpgme, which runs the gpg it finds on PATH through gpgconf
    "ostree": ("ostree", "gpg", "gpgconf", "sgdisk", "mkfs.fat", "mkfs.ext4", "mkfs.xfs", "grub-mkimage", "mmd", "mcopy"),
    "bootc": ("podman", "lsblk"),
}
# What a Debian builder image lacks of those, installed by the builder with apt-get.
BUILDER_PACKAGES = {
    "x86_64": ("curl", "ostree", "gpg", "gpgconf", "gdisk", "dosfstools", "e2fsprogs", "xfsprogs", "mtools", "grub2-common",
               "grub-efi-amd64-bin", "grub-pc-bin", "xz-utils", "qemu-utils"),
    "arm64": ("curl", "ostree", "gpg", "gpgconf", "gdisk", "dosfstools", "e2fsprogs", "xfsprogs", "mtools", "grub2-common",
              "grub-efi-arm64-bin", "xz-utils", "qemu-utils"),
}
_PARAMS_LINE = re.compile(r"^# atomic-release-params: (\{.*\})$", re.MULTILINE)
_HEREDOC = re.compile(r"(?<!<)<<-?\s*(['\"]?)([A-Za-z_]\w*)\1(?!\w)")


def _without_comment_lines(script: str) -> str:
    """A script without its whole-line comments, which only its readers need (the builder's
    user-data has EC2's 16 KB to fit in). A here-document's lines are its text: they stay."""
    kept: list[str] = []
    terminator = None
    for line in script.splitlines():
        if terminator is not None:
            kept.append(line)
            terminator = None if line.strip() == terminator else terminator
        elif not line.lstrip().startswith("#"):
            kept.append(line)
            opened = _HEREDOC.search(line)
            terminator = opened.group(2) if opened else None
    return "\n".join(kept) + "\n"


def _script(role: Role, params: dict, variables: dict[str, str | int]) -> str:
    document = json.dumps({"role": role, **params}, sort_keys=True)
    endpoints = {"STATES_ENDPOINT": params.get("states_endpoint") or f"https://states.{params['region']}.amazonaws.com/",
                 "IMDS_ENDPOINT": params.get("imds_endpoint") or DEFAULT_IMDS_ENDPOINT}
    assignments = [f"{name}={shlex.quote(str(value))}" for name, value in {**variables, **endpoints}.items()]
    return "\n".join(["#!/bin/bash", f"# atomic-release-params: {document}", *assignments,
                      _without_comment_lines((SCRIPTS / "aws.sh").read_text()),
                      _without_comment_lines((SCRIPTS / f"{role}.sh").read_text())])


def builder_tools(install_method: str, arch: str) -> tuple[str, ...]:
    """Every command the builder script calls for this method and architecture (it checks them
    before it touches the disk)."""
    # grub-install finds the disk behind /boot through udevadm.
    return (*_BUILDER_COMMON_TOOLS, *_BUILDER_METHOD_TOOLS[install_method],
            *(("grub-install", "udevadm") if (install_method, arch) == ("ostree", "x86_64") else ()))


class UserDataTooLarge(ValueError):
    """The builder's user-data, compressed, is over EC2's limit."""


def s3_endpoint(params: dict) -> str:
    """Where the builder uploads: ``params["s3_endpoint"]`` (a VPC endpoint, the local runtime's),
    or the region's. The builder addresses objects path-style, ENDPOINT/BUCKET/KEY."""
    return (params.get("s3_endpoint") or f"https://s3.{params['region']}.amazonaws.com").rstrip("/")


def render_builder(params: dict, deadline_minutes: int, heartbeat_seconds: int) -> str:
    """The builder's script. ``params["verify_signatures"]`` (true unless said otherwise): the
    commit is pulled only if one of ``params["trusted_keys"]`` (ASCII-armored) signed it. The
    disk's images are uploaded to ``params["artifact_bucket"]`` under ``params["staging_prefix"]``
    as ``params["artifact_files"]`` names them, by format."""
    verify = params.get("verify_signatures", True)
    files = params["artifact_files"]
    variables = {
        "TASK_TOKEN": params["task_token"], "REGION": params["region"], "REPO_URL": params["repo_url"],
        "REF": params["ref"], "COMMIT": params["commit"], "TARGET_DEVICE": params["target_device"],
        "INSTALL_METHOD": params["install_method"], "OSNAME": params["osname"],
        "CONTAINER_IMAGE": params.get("container_image") or "", "ARCH": ec2_arch(params["arch"]),
        "KERNEL_ARGUMENTS": " ".join(params.get("kernel_arguments") or ()),
        "FIRSTBOOT": params.get("firstboot") or "ignition",
        "REQUIRED_TOOLS": " ".join(builder_tools(params["install_method"], ec2_arch(params["arch"]))),
        "BUILDER_PACKAGES": " ".join(BUILDER_PACKAGES[ec2_arch(params["arch"])]),
        "VERIFY_SIGNATURES": "true" if verify else "false",
        "TRUSTED_KEYS": "\n".join(params.get("trusted_keys") or ()) if verify else "",
        "DEADLINE_MINUTES": deadline_minutes, "HEARTBEAT_SECONDS": heartbeat_seconds,
        "S3_ENDPOINT": s3_endpoint(params), "ARTIFACT_BUCKET": params["artifact_bucket"],
        "STAGING_PREFIX": params["staging_prefix"], "RAW_FILE": files["raw.xz"], "QCOW2_FILE": files["qcow2.xz"],
    }
    return _script("builder", params, variables)


def builder_user_data(params: dict, deadline_minutes: int, heartbeat_seconds: int) -> bytes:
    """The builder's script as its instance is given it: gzip-compressed, within EC2's limit."""
    compressed = gzip.compress(render_builder(params, deadline_minutes, heartbeat_seconds).encode(), mtime=0)
    if len(compressed) > USER_DATA_LIMIT:
        raise UserDataTooLarge(f"the builder's user-data is {len(compressed)} bytes compressed, over EC2's "
                               f"{USER_DATA_LIMIT}: {len(params.get('trusted_keys') or ())} trusted keys")
    return compressed


def user_data_text(raw: bytes) -> str:
    """User-data as a guest's cloud-init reads it: decompressed when it is gzip-compressed."""
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()


def qa_script(params: dict, firstboot: QAUserData) -> str:
    return _script("qa", params, {
        "TASK_TOKEN": params["task_token"], "REGION": params["region"], "EXPECTED_COMMIT": params["commit"],
        "EXPECTED_ARCH": params["arch"], "FIRSTBOOT": firstboot,
    })


def _data_url(text: str) -> str:
    return "data:;base64," + base64.b64encode(text.encode()).decode()


def render_qa(params: dict, form: QAUserData, deadline_minutes: int) -> str:
    script = qa_script(params, form)
    document = json.dumps({"role": "qa", **params}, sort_keys=True)
    if form == "cloud-init":
        return "\n".join([
            "#!/bin/bash", f"# atomic-release-params: {document}",
            f"shutdown -P +{deadline_minutes} 'atomic-release qa deadline reached'",
            f"install -D -m 0755 /dev/stdin {QA_SCRIPT_PATH} <<'ATOMIC_RELEASE_QA'", script, "ATOMIC_RELEASE_QA",
            f"systemd-run --on-active={QA_DELAY_SECONDS} --unit=atomic-release-qa "
            f"--property=StandardOutput=journal+console {QA_SCRIPT_PATH}", ""])
    return json.dumps({
        "ignition": {"version": "3.4.0"},
        "storage": {"files": [
            {"path": QA_SCRIPT_PATH, "mode": 0o755, "contents": {"source": _data_url(script)}},
            {"path": PARAMS_PATH, "mode": 0o600, "contents": {"source": _data_url(document)}},
        ]},
        "systemd": {"units": [
            {"name": "atomic-release-qa.service",
             # exec, not oneshot: a oneshot's start job would keep the boot "starting", and the
             # script's `systemctl is-system-running --wait` would wait for itself.
             "contents": f"[Unit]\nDescription=atomic-release QA checks\n[Service]\nType=exec\n"
                         f"ExecStart={QA_SCRIPT_PATH}\nStandardOutput=journal+console\n"},
            {"name": "atomic-release-qa.timer", "enabled": True,
             "contents": f"[Unit]\nDescription=atomic-release QA checks after boot\n[Timer]\n"
                         f"OnBootSec={QA_DELAY_SECONDS}\n[Install]\nWantedBy=timers.target\n"},
            {"name": "atomic-release-deadline.service", "enabled": True,
             "contents": f"[Unit]\nDescription=atomic-release QA deadline\n[Service]\nType=oneshot\n"
                         f"ExecStart=/usr/sbin/shutdown -P +{deadline_minutes}\n"
                         f"[Install]\nWantedBy=multi-user.target\n"},
        ]},
    })


def read_user_data(user_data: str) -> dict | None:
    """The parameters of a guest's user-data, or None if it is not an atomic-release guest."""
    if user_data.lstrip().startswith("{"):
        return _ignition_params(user_data)
    match = _PARAMS_LINE.search(user_data)
    return json.loads(match.group(1)) if match else None


def _ignition_params(user_data: str) -> dict | None:
    try:
        files = json.loads(user_data).get("storage", {}).get("files", [])
    except (ValueError, AttributeError):
        return None
    for entry in files:
        if entry.get("path") == PARAMS_PATH:
            source = entry["contents"]["source"]
            return json.loads(base64.b64decode(source.split(",", 1)[1]))
    return None


def token_fingerprint(task_token: str) -> str:
    """Short, non-secret identity of a task token, kept as a tag on the guest instance."""
    return hashlib.sha256(task_token.encode()).hexdigest()[:16]
