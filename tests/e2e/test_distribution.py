"""Distribution across regions with a region failing: the release ends partial, the rest is
public and announced, and a fill-in run completes it."""

import json
from datetime import date

import pytest

import chalicelib.stages.distribute
from atomic_release.cli.local_release import follow, run
from atomic_release.local.region_faults import RegionFault
from atomic_release.local.runtime import LocalRuntime
from chalicelib.aws.clients import client
from chalicelib.aws.ssm import parameter_value
from chalicelib.core.errors import ReleaseNotPartial
from chalicelib.stages.announce import read_document, read_stream_metadata, release_index_key
from chalicelib.stages.preflight import NOT_OPTED_IN_REASON
from chalicelib.store import records
from chalicelib.triggers import starter
from tests.helpers import account_inventory, nothing, release_resources

pytestmark = pytest.mark.e2e
REGIONS = ["us-east-1", "us-east-2", "us-west-1"]
ARCHES = ("x86_64", "arm64")


def metadata_regions(stream: str = "developer") -> dict[str, set[str]]:
    document = read_stream_metadata(stream)
    return {arch: set(entry["images"]["aws"]["regions"]) for arch, entry in document["architectures"].items()}


def latest(region: str, arch: str) -> str | None:
    return parameter_value(region, f"/atomic-release/developer/{arch}/latest")


def public_images(region: str) -> set[str]:
    images = client("ec2", region).describe_images(Owners=["self"], Filters=[{"Name": "is-public", "Values": ["true"]}])
    return {i["ImageId"] for i in images["Images"]}


@pytest.fixture
def copies_requested(monkeypatch):
    """The region of every CopyImage call the pipeline makes."""
    regions: list[str] = []
    original = chalicelib.stages.distribute._copy

    def counting(task, image, *args):
        regions.append(task.region)
        return original(task, image, *args)

    monkeypatch.setattr(chalicelib.stages.distribute, "_copy", counting)
    return regions


def faulty_runtime(*faults: str) -> LocalRuntime:
    return LocalRuntime(faults=[RegionFault.parse(f) for f in faults])


def test_a_region_failing_every_copy_leaves_the_release_partial_and_the_rest_published(developer_release):
    with faulty_runtime("copy-fails:us-east-2") as runtime:
        result = run(runtime, developer_release)

        assert result.status == "PARTIAL", result.failure
        assert list(result.missing_regions) == ["us-east-2"]
        assert result.missing_regions["us-east-2"].startswith("copy: ")
        assert "failed" in result.missing_regions["us-east-2"]
        assert {(r.arch, r.region) for r in result.images} == {(a, g) for a in ARCHES for g in ("us-east-1", "us-west-1")}
        assert all(row.public and row.ssm_points_here for row in result.images)
        assert metadata_regions() == {"x86_64": {"us-east-1", "us-west-1"}, "aarch64": {"us-east-1", "us-west-1"}}
        assert all(latest("us-east-2", arch) is None for arch in ARCHES)
        assert nothing(release_resources(result.release_id, ["us-east-2"])), "the failed copies are removed"
        record = records.get(result.release_id)
        assert record.status == "PARTIAL"
        assert record.region_states["us-east-2"].status == "failed"


def test_the_fill_in_run_copies_only_the_missing_region_and_completes_the_release(developer_release,
                                                                                   copies_requested):
    with faulty_runtime("copy-fails:us-east-2") as runtime:
        first = run(runtime, developer_release)
        assert first.status == "PARTIAL"
        published_before = {r.region: public_images(r.region) for r in first.images}
        copies_requested.clear()
        runtime.region_faults.faults.clear()

        started = starter.fill_in(first.release_id)
        result = follow(runtime, "developer", developer_release.version, started.release_id, started.execution_arn)

        assert started.execution_arn.endswith(f"{first.release_id}-fill1")
        assert result.status == "SUCCEEDED", (result.failure, result.missing_regions)
        assert copies_requested == ["us-east-2", "us-east-2"]
        assert {(r.arch, r.region) for r in result.images} == {(a, g) for a in ARCHES for g in REGIONS}
        assert all(row.public and row.ssm_points_here for row in result.images)
        for region, images in published_before.items():
            assert images <= public_images(region)
        assert metadata_regions() == {"x86_64": set(REGIONS), "aarch64": set(REGIONS)}
        east2 = {r.arch: r.image_id for r in result.images if r.region == "us-east-2"}
        assert all(latest("us-east-2", arch) == east2[arch] for arch in ARCHES)
        assert records.get(first.release_id).status == "SUCCEEDED"
        assert records.get(first.release_id).attempt == 1
        with pytest.raises(ReleaseNotPartial):
            starter.fill_in(first.release_id)


def test_blocked_public_access_and_a_full_quota_skip_their_regions_only(developer_release):
    with faulty_runtime("public-blocked:us-west-1", "quota-full:us-east-2") as runtime:
        before = account_inventory(REGIONS)
        result = run(runtime, developer_release)

        assert result.status == "PARTIAL", result.failure
        assert set(result.missing_regions) == {"us-west-1", "us-east-2"}
        assert "image block public access is block-new-sharing" in result.missing_regions["us-west-1"]
        assert "public AMI quota (L-0E3CBAB9) is 0" in result.missing_regions["us-east-2"]
        assert {r.region for r in result.images} == {"us-east-1"}
        assert metadata_regions() == {"x86_64": {"us-east-1"}, "aarch64": {"us-east-1"}}
        after = account_inventory(REGIONS)
        for region in ("us-west-1", "us-east-2"):
            assert public_images(region) == set()
            assert nothing(release_resources(result.release_id, [region])), "skipped regions get no copies"
        assert after["instances"] == before["instances"]


def test_a_region_the_account_has_not_opted_into_is_missing_with_that_reason(developer_release):
    regions = ["us-east-1", "us-east-2", "ap-east-1"]
    with faulty_runtime("not-opted-in:ap-east-1") as runtime:
        result = run(runtime, developer_release.model_copy(update={"regions": regions}))

        assert result.status == "PARTIAL", result.failure
        assert result.missing_regions == {"ap-east-1": f"preflight: {NOT_OPTED_IN_REASON}"}
        assert {r.region for r in result.images} == {"us-east-1", "us-east-2"}
        assert nothing(release_resources(result.release_id, ["ap-east-1"])), "a region not opted into gets no copies"
        assert records.get(result.release_id).region_states["ap-east-1"].status == "skipped"


def test_validation_catches_an_image_made_private_behind_the_pipelines_back(developer_release):
    with faulty_runtime("made-private:us-west-1") as runtime:
        result = run(runtime, developer_release)

        assert result.status == "PARTIAL", result.failure
        assert list(result.missing_regions) == ["us-west-1"]
        assert result.missing_regions["us-west-1"].startswith("validate: ")
        assert "public is False, expected True" in result.missing_regions["us-west-1"]
        seen = records.get(result.release_id).region_states
        assert [image.public for image in seen["us-west-1"].images] == [False, False]
        assert [image.public for image in seen["us-east-1"].images] == [True, True]
        assert all(latest("us-west-1", arch) is None for arch in ARCHES)
        assert metadata_regions() == {"x86_64": {"us-east-1", "us-east-2"}, "aarch64": {"us-east-1", "us-east-2"}}
        assert "version parameters removed" in seen["us-west-1"].reason
        named = {region: {arch: parameter_value(region, f"/atomic-release/developer/{arch}/{result.version}")
                          for arch in ARCHES} for region in REGIONS}
        assert all(named["us-west-1"][arch] is None for arch in ARCHES)
        assert all(named[region][arch] in public_images(region) for region in ("us-east-1", "us-east-2")
                   for arch in ARCHES), "the published regions' version parameters name their public images"


def test_every_region_blocked_fails_the_release_and_leaves_nothing_behind(developer_release):
    faults = [f"public-blocked:{region}" for region in REGIONS]
    with faulty_runtime(*faults) as runtime:
        before = account_inventory(REGIONS)
        result = run(runtime, developer_release)

        assert result.status == "FAILED"
        assert "validate failed: NothingPublished: no region was published and validated" in result.failure
        assert all(region in result.failure for region in REGIONS)
        assert nothing(release_resources(result.release_id, REGIONS))
        assert account_inventory(REGIONS)["images"] == before["images"]
        assert records.get(result.release_id).status == "FAILED"


def test_published_images_carry_the_streams_deprecation_time(runtime, developer_release):
    result = run(runtime, developer_release)

    for row in result.images:
        image = client("ec2", row.region).describe_images(ImageIds=[row.image_id])["Images"][0]
        created, deprecated = (date.fromisoformat(image[key][:10]) for key in ("CreationDate", "DeprecationTime"))
        days = (deprecated - created).days
        assert days == 90, (row, image["CreationDate"], image["DeprecationTime"])


def test_the_release_is_announced_in_the_index_and_on_sns_and_eventbridge(runtime, developer_release):
    sqs = client("sqs")
    queue = sqs.create_queue(QueueName="release-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client("events").put_rule(Name="releases", EventPattern=json.dumps({"source": ["atomic-release"]}))
    client("events").put_targets(Rule="releases", Targets=[{"Id": "queue", "Arn": queue_arn}])

    result = run(runtime, developer_release)

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    event = json.loads(messages[0]["Body"])
    assert event["detail-type"] == "Release Published"
    assert event["detail"]["release_id"] == result.release_id
    assert event["detail"]["status"] == "complete"
    assert set(event["detail"]["images"]["arm64"]) == set(REGIONS)
    index = read_document(release_index_key("developer"))
    assert [r["version"] for r in index["releases"]] == [developer_release.version]
