"""Whole releases whose builders staged files: a failed release and an aborted one leave no file
and no incomplete multipart upload under staging/, and nothing under the public prefix."""

import os

import pytest

from atomic_release.local import patches
from atomic_release.local.runtime import APP_NAME, LocalRuntime
from atomic_release.local.simulator import Fault
from atomic_release.local.synthetic import synthetic_release
from chalicelib.aws import s3
from chalicelib.aws.clients import client
from chalicelib.aws.ec2 import find_instances
from chalicelib.models.artifacts import builds_prefix, staging_prefix
from tests.helpers import release_resources, wait_until

pytestmark = pytest.mark.e2e
VERSION = "43.20261125.dev.1"


def bucket() -> str:
    return os.environ["METADATA_BUCKET"]


def stage_files(release_id: str, arch: str) -> None:
    """What an architecture's builder uploads before it reports: a file, and one still in parts."""
    prefix = staging_prefix(release_id, arch)
    client("s3").put_object(Bucket=bucket(), Key=f"{prefix}disk.raw.xz", Body=b"raw")
    client("s3").create_multipart_upload(Bucket=bucket(), Key=f"{prefix}disk.qcow2.xz")


def staged(release_id: str) -> tuple[list[dict], list[dict]]:
    prefix = staging_prefix(release_id)
    return s3.objects_under(bucket(), prefix), s3.uploads_under(bucket(), prefix)


def staged_before(runtime: LocalRuntime, function: str) -> None:
    """Each architecture's files are staged when ``function`` runs for it, as its builder left them."""
    name = f"{APP_NAME}-{runtime.stage}-{function}"
    handler = patches.current.handlers[name]

    def after_the_builder(event, context):
        stage_files(event["release_id"], event["arch"])
        return handler(event, context)

    patches.current.handlers[name] = after_the_builder


def test_a_release_failing_qa_leaves_nothing_staged_nor_published():
    with LocalRuntime(faults=[Fault.parse("qa-fails:arm64")]) as runtime:
        staged_before(runtime, "launch_qa")
        started = runtime.start_release(synthetic_release("developer", VERSION, 3))

        assert runtime.wait(started.execution_arn).status == "FAILED"
        assert staged(started.release_id) == ([], [])
        assert s3.objects_under(bucket(), builds_prefix("developer", VERSION)) == []


def test_an_abort_while_a_builder_uploads_leaves_nothing_staged():
    with LocalRuntime(faults=[Fault.parse("builder-hangs:arm64")]) as runtime:
        started = runtime.start_release(synthetic_release("developer", VERSION, 3))
        release_id = started.release_id
        wait_until(lambda: find_instances("us-east-1", release_id, "arm64", "builder"), "the arm64 builder at work",
                   started.execution_arn)
        # x86_64's builder uploads its images before it reports, and its image is registered after:
        # a simulated builder still uploading when the abort cleans up would upload for nobody.
        wait_until(lambda: release_resources(release_id, ["us-east-1"])["images"], "x86_64's image registered",
                   started.execution_arn)
        for arch in ("x86_64", "arm64"):
            stage_files(release_id, arch)

        cleaned = runtime.abort(started.execution_arn)

        assert cleaned["cleaned"] is True, cleaned
        # the test's files, and the two x86_64's builder uploaded
        ours = {f"{staging_prefix(release_id, arch)}disk.raw.xz" for arch in ("x86_64", "arm64")}
        assert ours <= set(cleaned["removed"]["files"]) and len(cleaned["removed"]["files"]) == 4, cleaned
        assert len(cleaned["removed"]["uploads"]) == 2, cleaned
        assert staged(release_id) == ([], [])
        # A builder that finishes after the abort uploads for nobody: the sweeper and the bucket's
        # lifecycle remove that (tests/integration/test_staging_cleanup.py).
        runtime.simulator.finish_hung_guests()
        assert runtime.wait(started.execution_arn).status == "ABORTED"
