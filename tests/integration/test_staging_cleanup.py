"""A release that does not publish leaves nothing under staging/: no file its builders uploaded
and no multipart upload they left incomplete, whichever way it ends (an architecture's
CleanupArch, FailRelease, an execution that ended without its Catch paths, the sweeper)."""

import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.aws import s3
from chalicelib.aws.clients import client
from chalicelib.core.errors import AnnounceFailed, PartlyFailed
from chalicelib.core.observability import SWEEP_ERRORS
from chalicelib.models.announce import AnnounceTask
from chalicelib.models.artifacts import builds_prefix, staging_prefix
from chalicelib.stages import announce as announce_stage
from chalicelib.stages import artifacts
from chalicelib.upkeep import sweeper
from functions import announce, cleanup_arch, fail_release
from tests.emf import counts
from tests.integration.support import (
    ARCHES,
    BASE,
    OTHER_RELEASE_ID,
    RELEASE_ID,
    STREAM,
    VERSION,
    arch_task,
    invoke,
    outcome,
    plan_arches,
)

GHOST = "developer-ghost-0123456789ab"
PART = 5 * 1024 * 1024  # S3's smallest part but the last


def bucket() -> str:
    return os.environ["METADATA_BUCKET"]


def stage(release_id: str, arch: str, name: str = "disk.raw.xz", body: bytes = b"a disk") -> dict:
    key = f"{staging_prefix(release_id, arch)}{name}"
    client("s3").put_object(Bucket=bucket(), Key=key, Body=body)
    return {"format": "raw.xz", "key": key, "size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
            "uncompressed_sha256": "0" * 64}


def upload_in_progress(release_id: str, arch: str, name: str = "disk.qcow2.xz") -> str:
    """A builder's multipart upload cut short: one part sent, never completed."""
    key = f"{staging_prefix(release_id, arch)}{name}"
    upload = client("s3").create_multipart_upload(Bucket=bucket(), Key=key)["UploadId"]
    client("s3").upload_part(Bucket=bucket(), Key=key, UploadId=upload, PartNumber=1, Body=b"\0" * PART)
    return key


def plant_staging(release_id: str) -> None:
    for arch in ARCHES:
        stage(release_id, arch)
        upload_in_progress(release_id, arch)


def staged(release_id: str = "", arch: str | None = None) -> tuple[list[str], list[str]]:
    """The keys of the files and of the incomplete uploads under a release's staging prefix
    (every release's, without one)."""
    prefix = staging_prefix(release_id, arch) if release_id else "staging/"
    return (sorted(found["Key"] for found in s3.objects_under(bucket(), prefix)),
            sorted(upload["Key"] for upload in s3.uploads_under(bucket(), prefix)))


def nothing_staged(release_id: str = "", arch: str | None = None) -> bool:
    return staged(release_id, arch) == ([], [])


def fail_task(stage_name: str, **extra) -> dict:
    return {"release_id": RELEASE_ID, "stream": STREAM, "regions": [BASE], "stage": stage_name,
            "caught": {"Error": "AnnounceFailed", "Cause": "it failed"}, **extra}


def test_cleanup_arch_removes_its_architecture_s_staged_files_and_uploads_only(runtime):
    plant_staging(RELEASE_ID)
    plant_staging(OTHER_RELEASE_ID)

    invoke(cleanup_arch, arch_task("x86_64", stage="launch-builder", caught={"Error": "BuilderFailed"}))

    assert nothing_staged(RELEASE_ID, "x86_64")
    assert staged(RELEASE_ID, "arm64") == ([f"{staging_prefix(RELEASE_ID, 'arm64')}disk.raw.xz"],
                                           [f"{staging_prefix(RELEASE_ID, 'arm64')}disk.qcow2.xz"])
    assert len(staged(OTHER_RELEASE_ID)[0]) == 2


@pytest.mark.parametrize("stage_name", ["launch-builder", "evaluate-qa", "distribute", "publish", "announce"])
def test_fail_release_leaves_nothing_staged_whatever_stage_failed(prepared, stage_name):
    plant_staging(RELEASE_ID)
    plant_staging(OTHER_RELEASE_ID)

    invoke(fail_release, fail_task(stage_name))

    assert nothing_staged(RELEASE_ID)
    assert len(staged(OTHER_RELEASE_ID)[1]) == 2


def test_a_file_announce_refuses_then_fail_release_leave_nothing_staged_nor_public(prepared):
    artifacts = {arch: [stage(RELEASE_ID, arch)] for arch in ARCHES}
    artifacts["arm64"][0]["size"] += 1  # not what was uploaded: refused before anything is copied
    images = [{"arch": arch, "image_id": f"ami-0{index:016x}", "snapshot_id": f"snap-0{index:016x}",
               "name": f"{STREAM}-{VERSION}-{arch}", "artifacts": artifacts[arch]} for index, arch in enumerate(ARCHES)]
    task = {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION, "arches": plan_arches(), "images": images,
            "regions": [outcome(BASE, "validated", "validate", {i["arch"]: i["image_id"] for i in images})]}
    with pytest.raises(AnnounceFailed, match="the builder reported"):
        invoke(announce, task)
    assert s3.objects_under(bucket(), builds_prefix(STREAM, VERSION)) == []

    invoke(fail_release, fail_task("announce"))

    assert nothing_staged(RELEASE_ID)
    assert s3.objects_under(bucket(), builds_prefix(STREAM, VERSION)) == []


def announce_task(release_id: str, artifacts: dict[str, list[dict]]) -> dict:
    images = [{"arch": arch, "image_id": f"ami-0{index:016x}", "snapshot_id": f"snap-0{index:016x}",
               "name": f"{STREAM}-{VERSION}-{arch}", "artifacts": artifacts[arch]} for index, arch in enumerate(ARCHES)]
    return {"release_id": release_id, "stream": STREAM, "version": VERSION, "arches": plan_arches(), "images": images,
            "regions": [outcome(BASE, "validated", "validate", {i["arch"]: i["image_id"] for i in images})]}


def test_an_announce_failing_after_publishing_leaves_nothing_public_and_the_version_can_be_rerun(prepared,
                                                                                                  monkeypatch):
    client("s3").put_bucket_versioning(Bucket=bucket(), VersioningConfiguration={"Status": "Enabled"})
    written = announce_stage.write_document

    def refuse_the_release_document(key, body, **condition):
        if key == announce_stage.release_key(STREAM, VERSION):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
        written(key, body, **condition)

    monkeypatch.setattr(announce_stage, "write_document", refuse_the_release_document)
    with pytest.raises(AnnounceFailed, match="AccessDenied|no"):
        invoke(announce, announce_task(RELEASE_ID, {arch: [stage(RELEASE_ID, arch)] for arch in ARCHES}))
    assert len(s3.objects_under(bucket(), builds_prefix(STREAM, VERSION))) == 2  # published, then it failed
    monkeypatch.setattr(announce_stage, "write_document", written)

    result = invoke(fail_release, fail_task("announce"))

    assert "cleanup incomplete" not in result["cause"]
    assert nothing_staged(RELEASE_ID)
    assert s3.versions_under(bucket(), builds_prefix(STREAM, VERSION)) == []
    rerun = announce_task(OTHER_RELEASE_ID, {arch: [stage(OTHER_RELEASE_ID, arch, body=b"rebuilt")] for arch in ARCHES})
    artifacts.publish(AnnounceTask.model_validate(rerun))
    assert {found["Size"] for found in s3.objects_under(bucket(), builds_prefix(STREAM, VERSION))} == {len(b"rebuilt")}


def test_fail_release_keeps_the_files_a_published_document_names(prepared):
    key = f"{builds_prefix(STREAM, VERSION)}x86_64/named.raw.xz"
    client("s3").put_object(Bucket=bucket(), Key=key, Body=b"named")
    client("s3").put_object(Bucket=bucket(), Key=f"{builds_prefix(STREAM, VERSION)}x86_64/orphan.raw.xz", Body=b"o")
    disk = {"location": announce_stage.public_url(key), "sha256": "0" * 64}
    announce_stage.write_document(announce_stage.release_key(STREAM, VERSION), {
        "release": VERSION, "stream": STREAM,
        "architectures": {"x86_64": {"commit": "c", "media": {"metal": {"artifacts": {"raw.xz": {"disk": disk}}}}}}})

    invoke(fail_release, fail_task("announce"))

    assert [found["Key"] for found in s3.objects_under(bucket(), builds_prefix(STREAM, VERSION))] == [key]


def test_a_failed_fill_in_run_removes_nothing_staged(prepared):
    """A fill-in run builds nothing: what is under staging/ with its release id is not its own."""
    plant_staging(RELEASE_ID)

    invoke(fail_release, fail_task("distribute", attempt=1, execution_arn="arn:aws:states:x:1:execution:m:fill-in"))

    assert len(staged(RELEASE_ID)[0]) == 2


def test_fail_release_that_cannot_empty_staging_says_so_and_still_records_the_failure(prepared, monkeypatch):
    plant_staging(RELEASE_ID)

    def refuse(*_):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListObjectsV2")

    monkeypatch.setattr(s3, "objects_under", refuse)
    result = invoke(fail_release, fail_task("announce"))

    assert "cleanup incomplete, left to the sweeper: staged files: no" in result["cause"]


def test_an_execution_that_ended_without_its_catch_paths_leaves_nothing_staged(runtime):
    plant_staging(GHOST)
    plant_staging(OTHER_RELEASE_ID)
    ended = {"detail": {"name": GHOST, "status": "ABORTED", "stateMachineArn": os.environ["RELEASE_STATE_MACHINE_ARN"]}}

    cleaned = sweeper.on_execution_ended(ended)

    assert cleaned["cleaned"] is True
    assert sorted(cleaned["removed"]["files"]) == sorted(f"{staging_prefix(GHOST, arch)}disk.raw.xz" for arch in ARCHES)
    assert len(cleaned["removed"]["uploads"]) == 2
    assert nothing_staged(GHOST)
    assert len(staged(OTHER_RELEASE_ID)[0]) == 2


def test_the_sweeper_removes_stale_staging_of_releases_no_longer_running(runtime):
    plant_staging(GHOST)

    too_soon = sweeper.sweep()
    later = sweeper.sweep(now=datetime.now(UTC) + timedelta(hours=4))

    assert too_soon.releases.get(GHOST, {}).get("files", []) == []  # moto dates every upload 2010: old at once
    assert sorted(later.releases[GHOST]["files"]) == sorted(f"{staging_prefix(GHOST, a)}disk.raw.xz" for a in ARCHES)
    aborted = [*too_soon.releases.get(GHOST, {}).get("uploads", []), *later.releases[GHOST].get("uploads", [])]
    assert len(aborted) == 2
    assert nothing_staged()


def test_the_sweeper_spares_the_staging_of_a_running_release(runtime, monkeypatch):
    plant_staging(GHOST)
    monkeypatch.setattr(sweeper, "_is_running", lambda release_id, record: release_id == GHOST)

    swept = sweeper.sweep(now=datetime.now(UTC) + timedelta(hours=4))

    assert swept.kept_running == [GHOST] and swept.releases == {}
    assert len(staged(GHOST)[0]) == 2


def test_a_region_the_sweep_cannot_clean_fails_it_once_the_staging_is_swept(runtime, monkeypatch, capsys):
    plant_staging(GHOST)
    region = sweeper.all_regions()[0]
    real = sweeper._leftovers

    def unreachable_in_region(where, now):
        if where == region:
            raise EndpointConnectionError(endpoint_url=f"https://ec2.{where}.amazonaws.com")
        return real(where, now)

    monkeypatch.setattr(sweeper, "_leftovers", unreachable_in_region)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the local runtime turns them off

    with pytest.raises(PartlyFailed, match=f"the sweep failed for 1 region\\(s\\): {region}: Could not connect"):
        sweeper.sweep(now=datetime.now(UTC) + timedelta(hours=4))

    assert nothing_staged()  # every other place was swept all the same
    assert counts(capsys.readouterr().out, SWEEP_ERRORS) == [({"service": "atomic-release", "region": region}, 1.0)]


def test_stale_staging_counts_only_what_is_past_the_sweep():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    old, young = now - timedelta(hours=4), now - timedelta(hours=1)
    objects = [{"Key": "staging/r1/x86_64/a.raw.xz", "LastModified": old},
               {"Key": "staging/r2/x86_64/a.raw.xz", "LastModified": young}]
    uploads = [{"Key": "staging/r1/arm64/b.qcow2.xz", "UploadId": "u1", "Initiated": old},
               {"Key": "staging/r3/arm64/b.qcow2.xz", "UploadId": "u3", "Initiated": young}]

    found = sweeper.stale_staging(objects, uploads, now)

    assert {release: dict(kinds) for release, kinds in found.items()} == {
        "r1": {"files": ["staging/r1/x86_64/a.raw.xz"], "uploads": [uploads[0]]}}
