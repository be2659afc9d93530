"""The builder and QA guest scripts, run under bash with faked system commands: the right
commands in the right order, and the right report, for success and for each failure."""

import hashlib
import json
import lzma
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from atomic_release.local.signing import temporary_key
from chalicelib.guest.user_data import QA_SCRIPT_PATH, SCRIPTS, qa_script, render_builder, render_qa
from tests.conftest import DEVELOPER_REFS
from tests.guest import fakes
from tests.unit.data import RSA4096_KEYS

COMMIT = "ab" * 32
OTHER = "cd" * 32
TOKEN = "AAAA token with 'quotes' and spaces"
KEYS = RSA4096_KEYS
BUILDER = {"task_token": TOKEN, "region": "us-east-1", "repo_url": "http://127.0.0.1:8080/repo/",
           "ref": "fedora/x86_64/coreos/testing-devel", "commit": COMMIT, "target_device": "",
           "arch": "x86_64", "install_method": "ostree", "osname": "fedora-coreos", "container_image": None,
           "kernel_arguments": ["console=tty0", "console=ttyS0,115200n8"], "firstboot": "ignition",
           "verify_signatures": True, "trusted_keys": KEYS, "artifact_bucket": "atomic-release-metadata",
           "staging_prefix": "staging/rel-1/x86_64/",
           "artifact_files": {"raw.xz": "fedora-coreos-43.1-metal.x86_64.raw.xz",
                              "qcow2.xz": "fedora-coreos-43.1-qemu.x86_64.qcow2.xz"}}
RAW_KEY = "staging/rel-1/x86_64/fedora-coreos-43.1-metal.x86_64.raw.xz"
QCOW2_KEY = "staging/rel-1/x86_64/fedora-coreos-43.1-qemu.x86_64.qcow2.xz"
# What the fake target disk holds: data in some clusters, zeros in the others.
DISK = b"".join(bytes([n]) * 65536 if n % 3 else bytes(65536) for n in range(24))
# How Debian's ostree (2022.7) refuses a commit signed by a key it was not given.
UNKNOWN_KEY = (f"error: Commit {COMMIT}: Signature made Fri Dec  4 16:01:36 2026 using RSA key ID B9DB5C1B528A0559\\n"
               "Can't check signature: public key not found")
QA = {"task_token": TOKEN, "region": "eu-west-1", "commit": COMMIT, "arch": "x86_64", "image_id": "ami-1"}


@pytest.fixture
def guest(tmp_path):
    """Runs a script with the fakes first on PATH; returns (exit code, calls)."""
    fake_bin = fakes.install(tmp_path / "bin")
    disk = tmp_path / "nvme1n1"
    for name in ("p1", "p2", "p3", "p4"):
        (tmp_path / f"nvme1n1{name}").write_text("")
    disk.write_bytes(DISK)
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0").symlink_to(disk)

    def run(script: str, **variables: str) -> tuple[int, list[str]]:
        path = tmp_path / "guest.sh"
        path.write_text(script.replace("TARGET_DEVICE=''", f"TARGET_DEVICE={disk}"))
        env = fakes.environment(fake_bin, tmp_path, ATOMIC_RELEASE_DISK_BY_ID=str(by_id), **variables)
        # Output to a file, not a pipe: a heartbeat's sleep may outlive the script.
        with open(tmp_path / "output", "w") as output:
            result = subprocess.run(["bash", str(path)], env=env, stdout=output, stderr=subprocess.STDOUT, timeout=60)
        return result.returncode, fakes.calls(tmp_path)

    run.tmp = tmp_path
    run.disk = disk
    run.by_id = by_id
    return run


def builder(heartbeat: float = 300, **changes) -> str:
    return render_builder({**BUILDER, **changes}, deadline_minutes=120, heartbeat_seconds=heartbeat)


def sent(guest, action: str) -> list[dict]:
    return [body for name, body in fakes.states_calls(guest.tmp) if name == action]


def test_builder_deploys_the_commit_with_ostree_and_its_bootloader_and_reports_it(guest):
    code, calls = guest(builder(), FAKE_DEPLOYED=COMMIT)

    assert code == 0, (guest.tmp / "guest.log").read_text()
    assert calls[0] == "shutdown -P +120 atomic-release builder deadline reached"
    ostree = [c for c in calls if c.startswith("ostree")]
    mnt = guest.tmp / "mnt"
    imported = re.search(r"--gpg-import=(\S+)", "\n".join(ostree)).group(1)
    assert ostree == [
        f"ostree admin init-fs {mnt}",
        f"ostree admin os-init --sysroot={mnt} fedora-coreos",
        f"ostree --repo={mnt}/ostree/repo remote add --set=gpg-verify=true --gpg-import={imported} atomic-release "
        f"{BUILDER['repo_url']} {BUILDER['ref']}",
        f"ostree --repo={mnt}/ostree/repo pull atomic-release {COMMIT}",
        f"ostree --repo={mnt}/ostree/repo refs --create=atomic-release:{BUILDER['ref']} {COMMIT}",
        f"ostree admin deploy --sysroot={mnt} --os=fedora-coreos --karg=root=LABEL=root --karg=rw "
        f"--karg-append=console=tty0 --karg-append=console=ttyS0,115200n8 {COMMIT}",
    ]
    assert calls.index(f"sgdisk --zap-all {guest.disk}") < calls.index(f"ostree admin init-fs {mnt}")
    assert f"mkfs.xfs -q -f -L root {guest.disk}p4" in calls  # x86_64: BIOS boot, ESP, boot, root
    assert f"grub-install --target=i386-pc --boot-directory={mnt}/boot --modules=part_gpt ext2 {guest.disk}" in calls
    assert any(c.startswith("grub-mkimage -O x86_64-efi") for c in calls)
    assert "linux /ostree/os-b/vmlinuz root=LABEL=root rw ostree=/ostree/boot.1/os/b/0" in \
        (mnt / "boot/grub/grub.cfg").read_text()
    assert (mnt / "boot/ignition.firstboot").exists()
    (success,) = sent(guest, "SendTaskSuccess")
    assert success["taskToken"] == TOKEN
    output = json.loads(success["output"])
    assert {name: output[name] for name in ("instance_id", "volume_id", "commit")} == {
        "instance_id": "i-0123456789abcdef0", "volume_id": "vol-0123456789abcdef0", "commit": COMMIT}
    assert [(a["format"], a["key"]) for a in output["artifacts"]] == [("raw.xz", RAW_KEY), ("qcow2.xz", QCOW2_KEY)]
    assert sent(guest, "SendTaskFailure") == []
    assert calls[-1] == "poweroff"


# -- the downloadable images ----------------------------------------------------------------------

def small_parts(script: str, size: int = 200) -> str:
    """The builder with parts of ``size`` bytes, so that a small disk's images span several."""
    assert "PART_BYTES=$((64 << 20))" in script
    return script.replace("PART_BYTES=$((64 << 20))", f"PART_BYTES={size}")


def reported_artifacts(guest) -> dict[str, dict]:
    (success,) = sent(guest, "SendTaskSuccess")
    return {a["format"]: a for a in json.loads(success["output"])["artifacts"]}


def raw_of_qcow2(qcow2: bytes, tmp_path: Path) -> bytes:
    (tmp_path / "check.qcow2").write_bytes(qcow2)
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(tmp_path / "check.qcow2"),
                    str(tmp_path / "check.raw")], check=True)
    return (tmp_path / "check.raw").read_bytes()


def test_the_builder_uploads_both_images_of_the_disk_in_parts_with_their_true_sums(guest):
    code, calls = guest(small_parts(builder()), FAKE_DEPLOYED=COMMIT)

    assert code == 0, (guest.tmp / "guest.log").read_text()
    artifacts = reported_artifacts(guest)
    raw = fakes.s3_object(guest.tmp, "atomic-release-metadata", RAW_KEY)
    qcow2 = fakes.s3_object(guest.tmp, "atomic-release-metadata", QCOW2_KEY)
    assert lzma.decompress(raw) == DISK
    assert artifacts["raw.xz"] == {"format": "raw.xz", "key": RAW_KEY, "size": len(raw),
                                   "sha256": hashlib.sha256(raw).hexdigest(),
                                   "uncompressed_sha256": hashlib.sha256(DISK).hexdigest()}
    assert lzma.decompress(qcow2)[:4] == b"QFI\xfb" and raw_of_qcow2(lzma.decompress(qcow2), guest.tmp) == DISK
    assert artifacts["qcow2.xz"] == {"format": "qcow2.xz", "key": QCOW2_KEY, "size": len(qcow2),
                                     "sha256": hashlib.sha256(qcow2).hexdigest(),
                                     "uncompressed_sha256": hashlib.sha256(lzma.decompress(qcow2)).hexdigest()}
    s3_calls = fakes.s3_calls(guest.tmp)
    raw_parts = -(-len(raw) // 200)
    assert raw_parts >= 2
    assert s3_calls[:raw_parts + 2] == [f"CreateMultipartUpload atomic-release-metadata/{RAW_KEY}",
                                        *(f"UploadPart {n} atomic-release-metadata/{RAW_KEY}"
                                          for n in range(1, raw_parts + 1)),
                                        f"CompleteMultipartUpload atomic-release-metadata/{RAW_KEY}"]
    assert s3_calls[-1] == f"CompleteMultipartUpload atomic-release-metadata/{QCOW2_KEY}"
    # made after the disk was unmounted, the scratch space left empty
    assert calls.index(f"umount -R {guest.tmp / 'mnt'}") < min(
        i for i, c in enumerate(calls) if "s3.us-east-1.amazonaws.com" in c)
    assert list((guest.tmp / "scratch").iterdir()) == []


def test_a_failed_part_aborts_the_upload_before_the_builder_reports_its_failure(guest):
    code, calls = guest(small_parts(builder()), FAKE_DEPLOYED=COMMIT, FAKE_S3_FAIL_ON="UploadPart 2")

    assert code != 0
    assert sent(guest, "SendTaskSuccess") == []
    (failure,) = sent(guest, "SendTaskFailure")
    assert failure["error"] == "BuilderFailed" and "InternalError" in failure["cause"]
    assert fakes.s3_calls(guest.tmp)[-2:] == [f"UploadPart 2 atomic-release-metadata/{RAW_KEY}",
                                              f"AbortMultipartUpload atomic-release-metadata/{RAW_KEY}"]
    abort = max(i for i, c in enumerate(calls) if c.startswith("curl") and "-X DELETE" in c)
    assert abort < max(i for i, c in enumerate(calls) if "AWSStepFunctions.SendTaskFailure" in c)
    assert fakes.s3_pending_parts(guest.tmp) == []
    assert fakes.s3_object(guest.tmp, "atomic-release-metadata", RAW_KEY) is None
    assert list((guest.tmp / "scratch").iterdir()) == []


def test_a_failed_completion_aborts_the_upload_naming_s3s_error(guest):
    code, _ = guest(builder(), FAKE_DEPLOYED=COMMIT, FAKE_S3_FAIL_ON="CompleteMultipartUpload")

    assert code != 0
    assert fakes.s3_calls(guest.tmp)[-1] == f"AbortMultipartUpload atomic-release-metadata/{RAW_KEY}"
    cause = sent(guest, "SendTaskFailure")[0]["cause"]
    assert f"CompleteMultipartUpload of {RAW_KEY} failed: <Error><Code>InternalError</Code>" in cause


def test_too_little_scratch_space_for_the_qcow2_fails_naming_it(guest):
    code, _ = guest(builder(), FAKE_DEPLOYED=COMMIT, FAKE_DF_AVAIL="1000000")

    assert code != 0
    (failure,) = sent(guest, "SendTaskFailure")
    assert f"not enough free space for the qcow2 image in {guest.tmp / 'scratch'}" in failure["cause"]
    assert "1000000 available" in failure["cause"]
    assert fakes.s3_object(guest.tmp, "atomic-release-metadata", RAW_KEY) is not None  # staging cleanup removes it
    assert not any(c.startswith("CreateMultipartUpload") and QCOW2_KEY in c for c in fakes.s3_calls(guest.tmp))


def test_the_room_asked_for_the_qcow2_follows_what_the_filesystems_hold(guest):
    gigabyte = 10**9
    code, _ = guest(builder(), FAKE_DEPLOYED=COMMIT, FAKE_DF_USED=str(gigabyte), FAKE_DF_AVAIL=str(2 * gigabyte))

    assert code != 0
    needed = 2 * gigabyte + 2 * gigabyte // 10 + (256 << 20)  # root and /boot, a tenth more, and 256 MiB
    assert f"about {needed} bytes needed, {2 * gigabyte} available" in sent(guest, "SendTaskFailure")[0]["cause"]


def test_the_qcow2_is_made_when_the_scratch_space_has_room_for_it(guest):
    gigabyte = 10**9
    code, _ = guest(builder(), FAKE_DEPLOYED=COMMIT, FAKE_DF_USED=str(gigabyte), FAKE_DF_AVAIL=str(3 * gigabyte))

    assert code == 0, (guest.tmp / "guest.log").read_text()


def test_the_builder_imports_exactly_the_streams_trusted_keys_and_removes_their_file(guest):
    code, calls = guest(builder(), FAKE_DEPLOYED=COMMIT)

    assert code == 0
    assert fakes.imported_keys(guest.tmp) == "\n".join(KEYS) + "\n"
    (remote_add,) = [c for c in calls if " remote add " in c]
    assert not Path(re.search(r"--gpg-import=(\S+)", remote_add).group(1)).exists()
    assert "pulling " + COMMIT + " with gpg-verify=true" in (guest.tmp / "guest.log").read_text()


def test_a_commit_whose_signature_does_not_verify_is_refused_naming_it(guest):
    code, calls = guest(builder(), FAKE_FAIL_ON="pull atomic-release", FAKE_FAIL_MESSAGE=UNKNOWN_KEY,
                        FAKE_DEPLOYED=COMMIT)

    assert code != 0
    assert sent(guest, "SendTaskSuccess") == []
    (failure,) = sent(guest, "SendTaskFailure")
    assert failure["error"] == "BuilderFailed"
    assert (f"the signature of {BUILDER['ref']} {COMMIT} did not verify against the stream's trusted keys: "
            "Signature made Fri Dec  4 16:01:36 2026 using RSA key ID B9DB5C1B528A0559 "
            "Can't check signature: public key not found") in failure["cause"]
    assert not any(c.startswith("ostree admin deploy") for c in calls)
    assert calls[-1] == "poweroff"


def test_a_pull_that_fails_otherwise_is_not_called_a_signature_failure(guest):
    code, _ = guest(builder(), FAKE_FAIL_ON="pull atomic-release", FAKE_DEPLOYED=COMMIT)

    (failure,) = sent(guest, "SendTaskFailure")
    assert code != 0 and "Server returned HTTP 404" in failure["cause"]
    assert "did not verify" not in failure["cause"]


def test_a_stream_that_does_not_require_signatures_pulls_without_verifying_and_says_so(guest):
    code, calls = guest(builder(verify_signatures=False), FAKE_DEPLOYED=COMMIT)

    assert code == 0
    (remote_add,) = [c for c in calls if " remote add " in c]
    assert "--set=gpg-verify=false" in remote_add and "--gpg-import" not in remote_add
    assert fakes.imported_keys(guest.tmp) == ""
    assert f"the stream does not require signatures: pulling {COMMIT} with gpg-verify=false" in \
        (guest.tmp / "guest.log").read_text()


def test_an_arm64_disk_has_no_bios_boot_partition(guest):
    code, calls = guest(builder(arch="aarch64"), FAKE_DEPLOYED=COMMIT)

    assert code == 0
    assert f"mkfs.xfs -q -f -L root {guest.disk}p3" in calls
    assert not any(c.startswith("grub-install") or "ef02" in c for c in calls)
    assert any(c.startswith("grub-mkimage -O arm64-efi") for c in calls)


def test_builder_installs_with_bootc_when_configured(guest):
    script = builder(install_method="bootc", container_image="quay.io/fedora/fedora-coreos:testing-devel")
    code, calls = guest(script, FAKE_LSBLK_LABELS=f"{guest.disk}p1 EFI-SYSTEM\\n{guest.disk}p2 root")

    assert code != 0  # the fakes leave no boot entry to read the deployment from
    assert f"mount {guest.disk}p2 {guest.tmp / 'mnt'}" in calls  # root found by label, not by position
    (install,) = [c for c in calls if c.startswith("podman run")]
    assert install.endswith(f"quay.io/fedora/fedora-coreos:testing-devel bootc install to-disk --wipe "
                            f"--filesystem xfs {guest.disk}")
    assert not any(c.startswith("sgdisk") for c in calls)


def test_a_failed_install_reports_the_error_with_the_end_of_the_log_and_powers_off(guest):
    code, calls = guest(builder(), FAKE_FAIL_ON="pull atomic-release", FAKE_DEPLOYED=COMMIT)

    assert code != 0
    assert sent(guest, "SendTaskSuccess") == []
    (failure,) = sent(guest, "SendTaskFailure")
    assert failure["error"] == "BuilderFailed"
    assert "error: ostree --repo=" in failure["cause"] and "Server returned HTTP 404" in failure["cause"]
    assert not any(c.startswith("ostree admin deploy") for c in calls)
    assert calls[-1] == "poweroff"


def test_a_deployment_of_another_commit_is_a_failure(guest):
    code, _ = guest(builder(), FAKE_DEPLOYED=OTHER)

    assert code != 0
    (failure,) = sent(guest, "SendTaskFailure")
    assert f"deployed commit {OTHER} is not the requested {COMMIT}" in failure["cause"]
    assert sent(guest, "SendTaskSuccess") == []


def test_a_disk_whose_volume_id_cannot_be_told_is_a_failure(guest):
    for link in guest.by_id.iterdir():
        link.unlink()
    code, calls = guest(builder(), FAKE_DEPLOYED=COMMIT)

    assert code != 0
    assert "cannot tell the target disk's volume id" in sent(guest, "SendTaskFailure")[0]["cause"]
    assert not any(c.startswith("sgdisk") for c in calls)


def test_a_target_disk_that_never_appears_is_a_failure(guest):
    script = builder().replace("for attempt in $(seq 1 60)", "for attempt in $(seq 1 2)").replace("sleep 5", ":")
    code, _ = guest(script.replace("TARGET_DEVICE=''", "TARGET_DEVICE=/nonexistent/sdf"))

    assert code != 0
    assert "target device /nonexistent/sdf never appeared" in sent(guest, "SendTaskFailure")[0]["cause"]


def test_a_missing_tool_fails_the_builder_before_the_disk_is_touched(guest):
    (guest.tmp / "bin" / "mkfs.xfs").unlink()
    code, calls = guest(builder(), PATH=f"{guest.tmp / 'bin'}:/usr/bin:/bin", FAKE_DEPLOYED=COMMIT)

    assert code != 0
    assert "the builder OS lacks required tools: mkfs.xfs" in sent(guest, "SendTaskFailure")[0]["cause"]
    assert any(c.startswith("apt-get install") for c in calls)  # a Debian builder is given what it lacks
    assert not any(c.startswith(("sgdisk", "ostree")) for c in calls)


def test_the_builder_sends_heartbeats_while_it_works(guest):
    code, _ = guest(builder(heartbeat=0.3), FAKE_SLOW_ON="pull atomic-release", FAKE_DEPLOYED=COMMIT)

    assert code == 0
    assert len(sent(guest, "SendTaskHeartbeat")) >= 2


def test_the_guests_report_to_the_step_functions_endpoint_they_are_given(guest):
    endpoint = "https://vpce-0abc.states.us-east-1.vpce.amazonaws.com/"
    code, calls = guest(builder(states_endpoint=endpoint, imds_endpoint="http://[fd00:ec2::254]"),
                        FAKE_DEPLOYED=COMMIT, FAKE_STATES_ENDPOINT=endpoint)

    assert code == 0
    assert len(sent(guest, "SendTaskSuccess")) == 1
    states_calls = [c for c in calls if "X-Amz-Target: AWSStepFunctions." in c]
    assert states_calls and all(c.endswith(endpoint) for c in states_calls)  # never the public endpoint
    assert any("http://[fd00:ec2::254]/latest/api/token" in c for c in calls)


def qa_report(guest) -> dict:
    (envelope,) = sent(guest, "SendTaskSuccess")
    assert envelope["taskToken"] == TOKEN
    return json.loads(envelope["output"])


def qa(guest, form: str, **variables: str) -> tuple[int, list[str]]:
    """The QA script, reading the booted deployment from rpm-ostree (faked); without rpm-ostree
    it reads /proc/cmdline, which only a booted guest can show (tests/guest_vm)."""
    fakes.install(guest.tmp / "bin", extra=("rpm-ostree", "jq"))
    return guest(qa_script(QA, form), **variables)


def checks(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


def test_qa_reports_every_check_signed_with_the_instance_credentials(guest, tmp_path):
    (tmp_path / "etc").mkdir()
    code, calls = qa(guest, "cloud-init", FAKE_JQ_OUTPUT=COMMIT,
                        FAKE_UNAME_OUTPUT="x86_64", FAKE_IP_OUTPUT="default via 10.0.0.1 dev ens5",
                        FAKE_CLOUD_INIT_OUTPUT="status: done")

    assert code == 0
    report = qa_report(guest)
    assert report["instance_id"] == "i-0123456789abcdef0"
    assert all(c["passed"] for c in report["checks"]), report
    assert set(checks(report)) == {"booted-commit", "system-state", "architecture", "first-boot", "network"}
    (post,) = [c for c in calls if c.endswith("https://states.eu-west-1.amazonaws.com/")]
    assert "--aws-sigv4 aws:amz:eu-west-1:states --user ASIAFAKE:fake/secret" in post
    assert "x-amz-security-token: fake-session-token" in post
    assert "X-Amz-Target: AWSStepFunctions.SendTaskSuccess" in post
    assert "X-aws-ec2-metadata-token: imds-token" in " ".join(calls)
    assert not any(c.startswith("aws ") for c in calls)


def test_qa_reports_a_degraded_system_with_its_failed_units(guest):
    code, _ = qa(guest, "ignition", FAKE_JQ_OUTPUT=COMMIT,
                    FAKE_UNAME_OUTPUT="x86_64", FAKE_IP_OUTPUT="default via 10.0.0.1",
                    FAKE_SYSTEM_STATE="degraded", FAKE_FAILED_UNITS="zincati.service afterburn.service")

    report = checks(qa_report(guest))
    assert code == 0
    assert report["system-state"]["passed"] is False
    assert report["system-state"]["actual"] == "degraded (failed units: zincati.service,afterburn.service)"
    assert report["first-boot"]["actual"] == "no ignition result"
    assert report["booted-commit"]["passed"] is True


def test_qa_reports_another_booted_commit_and_architecture(guest):
    qa(guest, "cloud-init", FAKE_JQ_OUTPUT=OTHER, FAKE_UNAME_OUTPUT="aarch64",
          FAKE_IP_OUTPUT="", FAKE_CLOUD_INIT_OUTPUT="status: done")

    report = checks(qa_report(guest))
    assert (report["booted-commit"]["passed"], report["booted-commit"]["actual"]) == (False, OTHER)
    assert (report["architecture"]["passed"], report["architecture"]["actual"]) == (False, "aarch64")
    assert (report["network"]["passed"], report["network"]["actual"]) == (False, "no default route")


@pytest.fixture
def shellcheck():
    import os

    path = shutil.which("shellcheck")
    if not path:
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is not installed: CI must install it (.ci/run)")
        pytest.skip("shellcheck is not installed (Debian package 'shellcheck'); `make test` installs it where it can")
    return path


@pytest.mark.parametrize("script", [
    builder(), builder(install_method="bootc", container_image="quay.io/x/y:z"),
    qa_script(QA, "ignition"), qa_script(QA, "cloud-init"), render_qa(QA, "cloud-init", 60),
], ids=["builder-ostree", "builder-bootc", "qa-ignition", "qa-cloud-init", "qa-cloud-init-user-data"])
def test_rendered_scripts_are_shellcheck_clean(shellcheck, tmp_path, script):
    path = tmp_path / "script.sh"
    path.write_text(script)
    result = subprocess.run([shellcheck, "--shell=bash", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_qa_script_installed_by_ignition_is_the_rendered_one():
    import base64

    config = json.loads(render_qa(QA, "ignition", 60))
    (entry,) = [f for f in config["storage"]["files"] if f["path"] == QA_SCRIPT_PATH]
    assert base64.b64decode(entry["contents"]["source"].split(",", 1)[1]).decode() == qa_script(QA, "ignition")


# -- the builder's reading of real ostree's refusals ----------------------------------------------

def _refusal_pattern() -> str:
    return re.search(r"^SIGNATURE_REFUSAL='(.*)'$", (SCRIPTS / "builder.sh").read_text(), re.MULTILINE).group(1)


def _pull_with_gpg_verify(url: str, ref: str, checksum: str, trusted: list[str], into: Path) -> str:
    """What Debian's ostree says when it pulls ``checksum`` with gpg-verify on, trusting ``trusted``."""
    keys = into / "keys.asc"
    keys.write_text("".join(trusted))
    repo = f"--repo={into / 'repo'}"
    subprocess.run(["ostree", repo, "init", "--mode=bare-user"], check=True, capture_output=True)
    subprocess.run(["ostree", repo, "remote", "add", "--set=gpg-verify=true", f"--gpg-import={keys}", "x", url, ref],
                   check=True, capture_output=True)
    pulled = subprocess.run(["ostree", repo, "pull", "x", checksum], capture_output=True, text=True, timeout=60)
    assert pulled.returncode != 0, "ostree pulled a commit its keys did not sign"
    return (pulled.stdout + pulled.stderr).strip()


@pytest.mark.parametrize("case", ["unsigned", "untrusted", "expired"])
def test_each_refusal_real_ostree_words_is_named_a_signature_refusal_by_the_builder(
        case, ostree_repo, served, signing_key, other_key, tmp_path):
    ref = DEVELOPER_REFS["x86_64"]
    with temporary_key(name="expired since", expires="1y", faked_time="20240101T000000") as expired:
        checksum = ostree_repo.commit(ref, "43.1", signed=False)
        if case != "unsigned":
            ostree_repo.sign(checksum, {"untrusted": other_key, "expired": expired}[case])
        ostree_repo.update_summary(signed=False)
        message = _pull_with_gpg_verify(served.url, ref, checksum, [signing_key.public, expired.public], tmp_path)

    matched = subprocess.run(["bash", "-c", 'message=$1; [[ ${message,,} =~ $2 ]]', "-", message, _refusal_pattern()])

    assert matched.returncode == 0, message
