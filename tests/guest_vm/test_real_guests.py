"""The builder script, unmodified, makes a real disk from a real commit, and the disk boots in QEMU
where the QA script checks it and reports through a Step Functions endpoint that completes a
waiting execution's task token."""

import contextlib
import hashlib
import json
import lzma
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from atomic_release.local import patches
from atomic_release.local.guests import machine
from atomic_release.local.guests.credentials import CredentialRegistry
from atomic_release.local.guests.metadata import MetadataServer
from atomic_release.local.guests.s3 import S3Endpoint
from atomic_release.local.guests.states import StatesEndpoint
from atomic_release.local.runtime import ACCOUNT, ROOT, LocalRuntime
from chalicelib.aws.clients import client
from chalicelib.guest.user_data import builder_tools, render_builder, render_qa
from tests.helpers import waiting_executions

REGION = "us-east-1"
VOLUME = "vol-0123456789abcdef0"
STATES_AT = f"http://{machine.SERVICES_ADDRESS}/"
S3_PORT = 9000
S3_AT = f"http://{machine.SERVICES_ADDRESS}:{S3_PORT}"
STAGING = "staging/real-guests/x86_64/"
FILES = {"raw.xz": "os-1-metal.x86_64.raw.xz", "qcow2.xz": "os-1-qemu.x86_64.qcow2.xz"}
INSTANCE_IDS = {"builder": "i-0b00000000000000b", "qa": "i-0a00000000000000a"}
QA_PATIENCE_S = 900   # TCG boots in 2-3 minutes here; a guest that never reports fails the test then


@dataclass
class Host:
    """What an instance's network leads to: its metadata service and the Step Functions endpoint;
    and the key its stream trusts to sign the repository's commits."""
    registry: CredentialRegistry
    states: StatesEndpoint
    s3: S3Endpoint
    repo_url: str
    trusted_key: str

    def forwards(self, imds: MetadataServer) -> list[machine.Forward]:
        repo_port = urlsplit(self.repo_url).port
        return [machine.Forward(machine.IMDS_ADDRESS, 80, port_of(imds.url)),
                machine.Forward(machine.SERVICES_ADDRESS, 80, port_of(self.states.url)),
                machine.Forward("127.0.0.1", repo_port, repo_port),
                machine.Forward(machine.SERVICES_ADDRESS, S3_PORT, port_of(self.s3.url))]

    def metadata(self, role: str, user_data: str) -> MetadataServer:
        return MetadataServer(instance_id=INSTANCE_IDS[role], region=REGION, availability_zone="us-east-1a",
                              arch="x86_64", image_id="ami-0123456789abcdef0", instance_type="c7i.large",
                              account_id=ACCOUNT, role_name=f"atomic-release-{role}", registry=self.registry,
                              user_data=user_data, local_ipv4="169.254.169.15")


def port_of(url: str) -> int:
    return int(urlsplit(url).port or 0)


@contextlib.contextmanager
def guest_host(served_commits, trusted_key):
    registry = CredentialRegistry()
    with StatesEndpoint(registry) as states, S3Endpoint(registry) as s3:
        yield Host(registry, states, s3, served_commits, trusted_key)


def build(host: Host, start_waiting, commits, commit: str, work: Path, tools=None, trusted_key=None):
    """Run the builder for ``commit`` onto a 4 GiB loop disk, verifying its signature against the
    host's trusted key (or ``trusted_key``): (the run, its execution's end, the disk)."""
    execution, token = start_waiting()
    disk = work / "disk.raw"
    params = {"task_token": token, "region": REGION, "repo_url": host.repo_url, "ref": commits.ref, "commit": commit,
              "target_device": str(work / "sdf"), "arch": "x86_64", "install_method": "ostree",
              "osname": commits.osname, "kernel_arguments": ["console=tty0", "console=ttyS0,115200n8"],
              "firstboot": "cloud-init", "states_endpoint": STATES_AT, "verify_signatures": True,
              "trusted_keys": [trusted_key or host.trusted_key], "s3_endpoint": S3_AT,
              "artifact_bucket": os.environ["METADATA_BUCKET"], "staging_prefix": STAGING, "artifact_files": FILES}
    script = render_builder(params, deadline_minutes=120, heartbeat_seconds=60)
    with machine.loop_disk(disk, 4) as loop:
        (work / "sdf").symlink_to(loop)
        with host.metadata("builder", script) as imds:
            run = machine.run_builder(script, disk=loop, volume_id=VOLUME, work=work / "builder",
                                      tools=tools or builder_tools("ostree", "x86_64"), forwards=host.forwards(imds))
    assert left_running(work) == [], "the builder's namespace left processes behind"
    return run, ended(execution), disk


def left_running(work: Path) -> list[str]:
    """Processes still running that name ``work``: a relay or a listener the guest left."""
    found = subprocess.run(["pgrep", "-af", str(work)], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if "pgrep" not in line]


def boot_for_qa(host: Host, start_waiting, disk: Path, expected_commit: str, work: Path, firmware: str) -> dict:
    """Boot ``disk`` with the QA user-data, as a QA instance; the execution its report ended."""
    execution, token = start_waiting()
    user_data = render_qa({"task_token": token, "region": REGION, "commit": expected_commit, "arch": "x86_64",
                           "image_id": "ami-0123456789abcdef0", "states_endpoint": STATES_AT}, "cloud-init", 60)
    with (host.metadata("qa", user_data) as imds,
          machine.booted(disk, "x86_64", work / f"vm-{firmware}", imds_port=port_of(imds.url),
                         forwards=host.forwards(imds)[1:2], firmware=firmware) as vm):
        reported = vm.wait_for(lambda: status(execution) != "RUNNING", QA_PATIENCE_S)
    assert reported, f"the QA guest never reported; its console: {vm.console.read_text()[-3000:]}"
    return ended(execution)


def status(execution: str) -> str:
    return client("stepfunctions", REGION).describe_execution(executionArn=execution)["status"]


def ended(execution: str) -> dict:
    return client("stepfunctions", REGION).describe_execution(executionArn=execution)


def checks(execution: dict) -> dict[str, dict]:
    assert execution["status"] == "SUCCEEDED", execution
    return {check["name"]: check for check in json.loads(execution["output"])["checks"]}


@pytest.fixture
def host(served_commits, trusted_key, runtime, monkeypatch):
    monkeypatch.setattr(patches.current, "guests_working", lambda: True)  # a real guest answers
    with guest_host(served_commits, trusted_key) as host:
        yield host


@pytest.fixture
def start_waiting(host):
    return waiting_executions(REGION)


def test_a_missing_tool_fails_the_builder_naming_it_before_the_disk_is_touched(host, start_waiting, test_commits,
                                                                                scratch):
    tools = tuple(tool for tool in builder_tools("ostree", "x86_64") if tool != "mkfs.xfs")
    run, execution, disk = build(host, start_waiting, test_commits, test_commits.commit, scratch, tools=tools)

    assert run.returncode != 0
    assert execution["status"] == "FAILED"
    assert execution["error"] == "BuilderFailed"
    assert "the builder OS lacks required tools: mkfs.xfs" in execution["cause"]
    assert run.power == ["shutdown -P +120 atomic-release builder deadline reached", "poweroff "]
    assert disk.read_bytes()[:1 << 20] == bytes(1 << 20)  # not partitioned


def test_a_commit_the_repository_lacks_is_refused(host, start_waiting, test_commits, scratch):
    missing = "0" * 64
    run, execution, _ = build(host, start_waiting, test_commits, missing, scratch)

    assert run.returncode != 0
    assert (execution["status"], execution["error"]) == ("FAILED", "BuilderFailed")
    assert "Server returned HTTP 404" in execution["cause"], execution["cause"]


def test_a_commit_not_signed_by_the_trusted_key_is_refused_naming_it(host, start_waiting, test_commits, scratch,
                                                                     other_key):
    run, execution, _ = build(host, start_waiting, test_commits, test_commits.commit, scratch,
                              trusted_key=other_key.public)

    assert run.returncode != 0
    assert (execution["status"], execution["error"]) == ("FAILED", "BuilderFailed")
    assert (f"the signature of {test_commits.ref} {test_commits.commit} did not verify against the stream's "
            "trusted keys: ") in execution["cause"], execution["cause"]
    assert "public key not found" in execution["cause"]
    assert run.power[-1] == "poweroff "


@pytest.fixture(scope="module")
def broken_disk_booted_by_bios(served_commits, trusted_key, test_commits, tmp_path_factory):
    """The broken commit, built onto a disk by the builder, then booted by BIOS (SeaBIOS) with a QA
    that expects the good commit: one boot (minutes under TCG) that shows three refusals."""
    work = tmp_path_factory.mktemp("broken")
    with LocalRuntime():
        patches.current.guests_working = lambda: True
        with guest_host(served_commits, trusted_key) as host:
            start_waiting = waiting_executions(REGION)
            run, built, disk = build(host, start_waiting, test_commits, test_commits.broken_commit, work)
            assert run.returncode == 0, run.log[-3000:]
            layout = subprocess.run(["sgdisk", "--print", str(disk)], capture_output=True, text=True).stdout
            # before QA boots it: a booted disk is written to
            images = {"disk_sha256": file_sha256(disk), "uploads": [(c.operation, c.outcome) for c in host.s3.calls],
                      **{fmt: stored(STAGING + name) for fmt, name in FILES.items()}}
            qa = boot_for_qa(host, start_waiting, disk, test_commits.commit, work, "bios")
    yield {"run": run, "built": built, "layout": layout, "qa": qa, "work": work, "images": images}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def stored(key: str) -> dict:
    """An uploaded image as moto holds it: its size, its sha256 and that of what it decompresses to."""
    body = client("s3", REGION).get_object(Bucket=os.environ["METADATA_BUCKET"], Key=key)["Body"]
    compressed, decompressed, size = hashlib.sha256(), hashlib.sha256(), 0
    decompressor = lzma.LZMADecompressor()
    while chunk := body.read(1 << 20):
        compressed.update(chunk)
        size += len(chunk)
        decompressed.update(decompressor.decompress(chunk))
    assert decompressor.eof, f"{key} is a truncated xz stream"
    return {"size": size, "sha256": compressed.hexdigest(), "decompressed_sha256": decompressed.hexdigest()}


def test_the_builder_lays_out_a_disk_that_boots_by_uefi_and_bios_and_reports_it(broken_disk_booted_by_bios,
                                                                                test_commits):
    built = broken_disk_booted_by_bios["built"]
    assert built["status"] == "SUCCEEDED", built
    output = json.loads(built["output"])
    assert {name: output[name] for name in ("instance_id", "volume_id", "commit")} == {
        "instance_id": INSTANCE_IDS["builder"], "volume_id": VOLUME, "commit": test_commits.broken_commit}
    layout = broken_disk_booted_by_bios["layout"]
    for code, label in (("EF02", "BIOS-BOOT"), ("EF00", "EFI-SYSTEM"), ("8300", "boot"), ("8300", "root")):
        assert any(code in line and line.endswith(label) for line in layout.splitlines()), layout
    assert broken_disk_booted_by_bios["run"].power[-1] == "poweroff "
    # pulled by the real ostree with the signature checked against the stream's key
    assert f"pulling {test_commits.broken_commit} with gpg-verify=true" in broken_disk_booted_by_bios["run"].log


def test_the_builders_raw_xz_is_the_disk_it_wrote_and_both_images_carry_their_true_sums(
        broken_disk_booted_by_bios):
    images = broken_disk_booted_by_bios["images"]
    reported = {a["format"]: a for a in json.loads(broken_disk_booted_by_bios["built"]["output"])["artifacts"]}

    assert images["raw.xz"]["decompressed_sha256"] == images["disk_sha256"]  # the snapshot's bytes
    for fmt, name in FILES.items():
        assert reported[fmt] == {"format": fmt, "key": STAGING + name, "size": images[fmt]["size"],
                                 "sha256": images[fmt]["sha256"],
                                 "uncompressed_sha256": images[fmt]["decompressed_sha256"]}
    assert ("CompleteMultipartUpload", "Success") in images["uploads"]
    assert all(outcome == "Success" for _, outcome in images["uploads"]), images["uploads"]


def test_a_disk_booted_by_bios_runs_qa_and_reports_all_five_checks(broken_disk_booted_by_bios):
    reported = checks(broken_disk_booted_by_bios["qa"])

    assert set(reported) == {"booted-commit", "system-state", "architecture", "first-boot", "network"}
    assert reported["architecture"]["passed"] and reported["network"]["passed"]
    assert reported["first-boot"]["passed"], reported["first-boot"]


def test_the_broken_commit_fails_qa_naming_the_failed_unit(broken_disk_booted_by_bios):
    state = checks(broken_disk_booted_by_bios["qa"])["system-state"]

    assert state["passed"] is False
    assert state["actual"] == "degraded (failed units: atomic-release-broken.service)"


def test_a_wrong_commit_is_refused_by_the_checksum_check(broken_disk_booted_by_bios, test_commits):
    booted = checks(broken_disk_booted_by_bios["qa"])["booted-commit"]

    assert booted["passed"] is False
    assert (booted["expected"], booted["actual"]) == (test_commits.commit, test_commits.broken_commit)


def test_a_whole_release_with_real_guests_succeeds_on_their_checks(real_guests_possible, test_commits):
    """The command a release engineer runs: the builder writes a loop-backed disk, the image's
    snapshot is that disk, and QA boots it by UEFI."""
    done = subprocess.run([sys.executable, "-m", "atomic_release.cli", "local", "release", "--stream", "developer",
                           "--regions", "2", "--guests", "qemu", "--output", "json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=1800)

    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout)
    assert result["status"] == "SUCCEEDED"
    assert result["guest_failures"] == []
    qa = [json.loads(r["output"]) for r in result["guest_reports"]
          if r["target"] == "AWSStepFunctions.SendTaskSuccess" and "checks" in (r["output"] or "")]
    assert len(qa) == 1
    assert {c["name"]: c["passed"] for c in qa[0]["checks"]} == {
        "booted-commit": True, "system-state": True, "architecture": True, "first-boot": True, "network": True}
    assert qa[0]["checks"][0]["actual"] == test_commits.commit
    assert {row["region"] for row in result["images"]} == {"us-east-1", "us-east-2"}
