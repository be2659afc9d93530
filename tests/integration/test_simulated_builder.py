"""The simulated builder, where the stream's repository is served, reads the commit's signature
there as the real builder's pull with gpg-verify does: a commit that no key it was given signed
is refused with BuilderFailed, naming it. A commit it builds, it uploads as raw.xz and qcow2.xz
under the release's staging prefix, and reports them with their true sums."""

import hashlib
import json
import lzma
import os
import subprocess
import time

import pytest

from atomic_release.local import patches
from atomic_release.local.demo_repo import configuration_for
from atomic_release.local.disk_images import simulated_disk
from atomic_release.local.runtime import LocalRuntime
from chalicelib.aws.clients import client
from chalicelib.models.artifacts import file_name, staging_prefix
from functions import launch_builder
from tests.helpers import waiting_executions
from tests.integration.support import BASE, REFS, RELEASE_ID, STREAM, TIMESTAMP, VERSION, arch_task, invoke

REF = REFS["x86_64"]


@pytest.fixture
def served_stream(tmp_path, ostree_repo, served, monkeypatch):
    """A local runtime whose stream reads ``served`` and trusts ``ostree_repo``'s key, as a local
    release runs it; yields a function that builds a commit and returns its execution's end."""
    config = configuration_for(None, STREAM, served.url, 2, tmp_path, ostree_repo.trusted_keys)
    with LocalRuntime(config=config, repo_url=served.url) as runtime:
        monkeypatch.setattr(patches.current, "guests_working", lambda: True)  # the guest answers
        start = waiting_executions(BASE)

        def build(checksum: str) -> dict:
            execution, token = start()
            invoke(launch_builder, arch_task("x86_64", task_token=token,
                                             commit={"ref": REF, "checksum": checksum, "timestamp": TIMESTAMP}))
            runtime.simulator.boot_new_instances()
            return ended(execution)

        yield build


def ended(execution: str, timeout_s: float = 10) -> dict:
    sfn = client("stepfunctions", BASE)
    deadline = time.monotonic() + timeout_s
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the builder never reported"
        time.sleep(0.05)
    return described


def test_a_commit_signed_by_the_trusted_key_is_built(served_stream, ostree_repo):
    assert served_stream(ostree_repo.commit(REF, "43.1"))["status"] == "SUCCEEDED"


def test_a_commit_signed_by_another_key_is_refused_naming_it(served_stream, ostree_repo, other_key):
    checksum = ostree_repo.commit(REF, "43.2", signed=False)
    ostree_repo.sign(checksum, other_key)

    execution = served_stream(checksum)

    assert (execution["status"], execution["error"]) == ("FAILED", "BuilderFailed")
    assert execution["cause"].startswith(
        f"the signature of {REF} {checksum} did not verify against the stream's trusted keys: ")
    assert other_key.fingerprint in execution["cause"], execution["cause"]


def test_an_unsigned_commit_is_refused_naming_it(served_stream, ostree_repo):
    checksum = ostree_repo.commit(REF, "43.3", signed=False)

    execution = served_stream(checksum)

    assert (execution["status"], execution["error"]) == ("FAILED", "BuilderFailed")
    assert f"the signature of {REF} {checksum} did not verify" in execution["cause"]


def raw_of_qcow2(image: bytes, work) -> bytes:
    (work / "image.qcow2").write_bytes(image)
    subprocess.run(["qemu-img", "check", str(work / "image.qcow2")], check=True, capture_output=True)
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(work / "image.qcow2"),
                    str(work / "image.raw")], check=True)
    return (work / "image.raw").read_bytes()


def test_a_built_commits_images_are_in_staging_with_their_true_sums(served_stream, ostree_repo, tmp_path):
    checksum = ostree_repo.commit(REF, "43.4")

    execution = served_stream(checksum)

    assert execution["status"] == "SUCCEEDED"
    reported = {a["format"]: a for a in json.loads(execution["output"])["artifacts"]}
    disk = simulated_disk("fedora-coreos", checksum, "x86_64")
    s3 = client("s3", BASE)
    for fmt, platform in (("raw.xz", "metal"), ("qcow2.xz", "qemu")):
        key = staging_prefix(RELEASE_ID, "x86_64") + file_name("fedora-coreos", VERSION, "x86_64", fmt)
        assert key.endswith(f"-{platform}.x86_64.{fmt}")
        stored = s3.get_object(Bucket=os.environ["METADATA_BUCKET"], Key=key)["Body"].read()
        image = lzma.decompress(stored)
        assert image == disk if fmt == "raw.xz" else raw_of_qcow2(image, tmp_path) == disk
        assert reported[fmt] == {"format": fmt, "key": key, "size": len(stored),
                                 "sha256": hashlib.sha256(stored).hexdigest(),
                                 "uncompressed_sha256": hashlib.sha256(image).hexdigest()}


def test_a_refused_commit_uploads_nothing(served_stream, ostree_repo):
    checksum = ostree_repo.commit(REF, "43.5", signed=False)

    assert served_stream(checksum)["status"] == "FAILED"
    listed = client("s3", BASE).list_objects_v2(Bucket=os.environ["METADATA_BUCKET"], Prefix="staging/")
    assert listed.get("KeyCount") == 0
