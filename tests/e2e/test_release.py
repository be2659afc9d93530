"""The whole release state machine, run locally from start to end."""

import re

import pytest

from atomic_release.cli.local_release import run
from atomic_release.cli.report import image_rows
from atomic_release.local.runtime import LocalRuntime
from atomic_release.local.simulator import Fault
from chalicelib.aws.clients import client
from chalicelib.aws.ec2 import image_snapshots
from chalicelib.models.documents import AtomicRelease, AtomicReleaseIndex, AtomicStream
from chalicelib.models.stream_metadata import document
from chalicelib.stages.announce import (
    public_url,
    read_document,
    read_stream_metadata,
    release_index_key,
    release_key,
    stream_metadata_key,
)
from chalicelib.store import records
from tests.helpers import account_inventory, lose_the_first_response, nothing, release_resources

pytestmark = pytest.mark.e2e
REGIONS = ["us-east-1", "us-east-2", "us-west-1"]


def test_release_publishes_every_arch_in_every_region(runtime, developer_release):
    result = run(runtime, developer_release)

    assert result.status == "SUCCEEDED", result.failure
    assert {(r.arch, r.region) for r in result.images} == {(a, g) for a in ("x86_64", "arm64") for g in REGIONS}
    for row in result.images:
        image = client("ec2", row.region).describe_images(ImageIds=[row.image_id])["Images"][0]
        assert image["State"] == "available"
        assert image["Architecture"] == row.arch
        assert image["BootMode"] == {"x86_64": "uefi-preferred", "arm64": "uefi"}[row.arch]
        assert image["EnaSupport"] is True
        assert image["ImdsSupport"] == "v2.0"
        assert image["Public"] is True
        snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        permissions = client("ec2", row.region).describe_snapshot_attribute(
            SnapshotId=snapshot, Attribute="createVolumePermission")["CreateVolumePermissions"]
        assert {"Group": "all"} in permissions
        ssm = client("ssm", row.region)
        for label in ("latest", developer_release.version):
            parameter = ssm.get_parameter(Name=f"/atomic-release/developer/{row.arch}/{label}")["Parameter"]
            assert parameter["Value"] == row.image_id
            assert parameter["DataType"] == "aws:ec2:image"


def test_stream_metadata_lists_every_region_in_coreos_format(runtime, developer_release):
    result = run(runtime, developer_release)

    assert result.metadata_url == public_url(stream_metadata_key("developer"))
    document = read_stream_metadata("developer")
    assert document["stream"] == "developer"
    assert set(document["architectures"]) == {"x86_64", "aarch64"}
    by_arch = {"x86_64": "x86_64", "aarch64": "arm64"}
    for coreos_arch, entry in document["architectures"].items():
        regions = entry["images"]["aws"]["regions"]
        assert set(regions) == set(REGIONS)
        for region, listed in regions.items():
            assert listed["release"] == developer_release.version
            expected = next(r.image_id for r in result.images if r.arch == by_arch[coreos_arch] and r.region == region)
            assert listed["image"] == expected


def links(value) -> list[str]:
    """Every link of a document: its index's ``metadata`` links, its downloads' locations and signatures."""
    if isinstance(value, dict):
        return [v for k, v in value.items() if k in ("location", "signature") or (k == "metadata" and isinstance(v, str))
                ] + [link for v in value.values() for link in links(v)]
    return [link for v in value for link in links(v)] if isinstance(value, list) else []


def test_the_published_documents_round_trip_through_their_models_with_https_links(runtime, redeploy,
                                                                                   developer_release):
    redeploy("PUBLIC_BASE_URL", "https://images.example.org/")
    result = run(runtime, developer_release)

    assert result.status == "SUCCEEDED", result.failure
    assert result.metadata_url == "https://images.example.org/streams/developer.json"
    published = {AtomicStream: stream_metadata_key("developer"), AtomicReleaseIndex: release_index_key("developer"),
                 AtomicRelease: release_key("developer", developer_release.version)}
    for model, key in published.items():
        raw = read_document(key)
        assert document(model.model_validate(raw)) == raw, key
        assert all(link.startswith("https://images.example.org/streams/developer") for link in links(raw)), key
    index = read_document(release_index_key("developer"))
    assert [r["metadata"] for r in index["releases"]] == [
        f"https://images.example.org/streams/developer/releases/{developer_release.version}.json"]


def test_success_leaves_no_builder_or_qa_instance_nor_volume(runtime, developer_release):
    before = account_inventory(REGIONS)
    result = run(runtime, developer_release)

    after = account_inventory(REGIONS)
    assert after["instances"] == before["instances"]
    assert after["volumes"] == before["volumes"]
    assert len(after["images"] - before["images"]) == 6
    assert records.get(result.release_id).status == "SUCCEEDED"


@pytest.mark.parametrize(("fault", "stage", "error"), [
    ("builder-fails:arm64", "launch-builder (arm64)", "BuilderFailed"),
    ("builder-silent:x86_64", "launch-builder (x86_64)", "States.Timeout"),
    ("qa-fails:arm64", "evaluate-qa (arm64)", "QAFailed"),
])
def test_a_failing_arch_fails_the_release_and_leaves_nothing(developer_release, fault, stage, error):
    with LocalRuntime(faults=[Fault.parse(fault)]) as runtime:
        before = account_inventory(REGIONS)
        result = run(runtime, developer_release)

        assert result.status == "FAILED"
        assert result.failure.startswith(f"{stage} failed: {error}")
        record = records.get(result.release_id)
        assert record.status == "FAILED"
        assert record.failed_stage == stage.split(" ")[0]
        assert nothing(release_resources(result.release_id, REGIONS))
        assert account_inventory(REGIONS) == before
        assert result.images == []


def test_qa_failure_names_the_failed_check(developer_release):
    with LocalRuntime(faults=[Fault.parse("qa-fails")]) as runtime:
        result = run(runtime, developer_release)

    assert "system-state: expected 'running', got 'degraded" in result.failure


def test_a_second_start_of_the_same_release_starts_nothing(runtime, developer_release):
    first = run(runtime, developer_release)
    again = runtime.start_release(developer_release)

    assert first.status == "SUCCEEDED"
    assert again.outcome == "already-released"
    assert again.execution_arn == first.execution_arn
    executions = client("stepfunctions").list_executions(
        stateMachineArn=first.execution_arn.rsplit(":", 1)[0].replace(":execution:", ":stateMachine:"))["executions"]
    assert len(executions) == 1


def test_a_second_start_of_a_failed_release_points_at_the_failed_execution(developer_release):
    with LocalRuntime(faults=[Fault.parse("builder-fails")]) as runtime:
        first = run(runtime, developer_release)
        again = runtime.start_release(developer_release)

    assert first.status == "FAILED"
    assert again.outcome == "failed-earlier"
    assert again.execution_arn == first.execution_arn


def test_the_same_version_from_another_commit_is_refused_and_the_first_stays(runtime, developer_release):
    first = run(runtime, developer_release)
    commits = developer_release.model_dump()["commits"]
    commits["x86_64"]["checksum"] = "f" * 64
    rebuilt = developer_release.model_validate({**developer_release.model_dump(), "commits": commits})

    second = run(runtime, rebuilt)

    assert first.status == "SUCCEEDED"
    assert second.status == "FAILED"
    # arm64's commit is unchanged, but its image name is taken all the same: either may fail first.
    assert re.match(r"register-image \((x86_64|arm64)\) failed: ImageNameTaken: an image named "
                    rf"atomic-developer-{re.escape(developer_release.version)}-(x86_64|arm64) \(ami-\w+\) already "
                    rf"exists in us-east-1, made by release {first.release_id}", second.failure)
    assert nothing(release_resources(second.release_id, REGIONS))
    assert all(row.public and row.ssm_points_here for row in image_rows(first.release_id))


def test_a_builder_launch_retried_after_its_guest_reported_leaves_nothing_but_the_images(runtime,
                                                                                        developer_release):
    """The first builder reports to a token nobody waits on any more and powers off; the retry
    launches a second. Its disk, kept past its instance, must not outlive the release."""
    before = account_inventory(REGIONS)
    launches = lose_the_first_response(runtime, "launch_builder", "arm64")

    result = run(runtime, developer_release)

    assert result.status == "SUCCEEDED", result.failure
    arm64_tokens = {e["task_token"] for e in launches if e["arch"] == "arm64"}
    assert len(arm64_tokens) == 2, "the retry should have come with a new task token"
    left = release_resources(result.release_id, REGIONS)
    behind_images = {snapshot for row in result.images for snapshot in image_snapshots(
        client("ec2", row.region).describe_images(ImageIds=[row.image_id])["Images"][0])}
    assert {"instances": left["instances"], "volumes": left["volumes"]} == {"instances": [], "volumes": []}
    assert set(left["snapshots"]) <= behind_images
    assert account_inventory(REGIONS)["volumes"] == before["volumes"]
