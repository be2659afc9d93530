"""Whole releases through the Marketplace stage: a stable release becomes a new version of each
product; a rejected version leaves the release published with Marketplace failed, and the retry
sends that version once more."""

import json
import os
from datetime import timedelta

import pytest

import functions.finalize
import functions.marketplace
from atomic_release.cli.local_release import follow, run
from atomic_release.local import marketplace_catalog
from atomic_release.local.marketplace_catalog.faults import MarketplaceFault
from atomic_release.local.region_faults import RegionFault
from atomic_release.local.runtime import LocalRuntime
from atomic_release.local.synthetic import synthetic_release
from chalicelib.aws.clients import client
from chalicelib.core.config import DEFAULT_CONFIG, load_streams
from chalicelib.core.errors import ReleaseNotPartial
from chalicelib.core.settings import settings
from chalicelib.stages.announce import read_document, read_stream_metadata, release_key
from chalicelib.store import records
from chalicelib.triggers import starter
from tests.helpers import nothing, release_resources, wait_until

pytestmark = pytest.mark.e2e
PRODUCTS = {arch: product.product_id for arch, product in load_streams().stream("stable").marketplace.products.items()}


@pytest.fixture
def stable_release():
    return synthetic_release("stable", "43.20261125.3.0", 2)


def change_sets(product_id: str) -> list[dict]:
    return client("marketplace-catalog").list_change_sets(Catalog="AWSMarketplace", FilterList=[
        {"Name": "EntityId", "ValueList": [product_id]}])["ChangeSetSummaryList"]


def titles(product_id: str) -> list[str]:
    return [version["VersionTitle"] for version in marketplace_catalog.versions(product_id)]


def test_a_stable_release_becomes_a_new_version_of_each_product(stable_release):
    with LocalRuntime() as runtime:
        result = run(runtime, stable_release)

        assert result.status == "SUCCEEDED", (result.failure, result.marketplace_failed)
        record = records.get(result.release_id)
        base_images = {row.arch: row.image_id for row in result.images if row.region == "us-east-1"}
        for arch, product_id in PRODUCTS.items():
            assert titles(product_id) == [stable_release.version]
            assert [c["Status"] for c in change_sets(product_id)] == ["SUCCEEDED"]
            change = record.marketplace[arch]
            assert (change.status, change.intent, change.image_id) == ("SUCCEEDED", "APPLY", base_images[arch])
        assert result.marketplace == [record.marketplace[arch].describe for arch in ("arm64", "x86_64")]
        assert "SUCCEEDED (change set " in result.marketplace[0]


def test_a_rejected_version_leaves_the_release_published_and_the_retry_sends_it_once_more(stable_release):
    with LocalRuntime(faults=[MarketplaceFault.parse("marketplace-rejects:x86_64")]) as runtime:
        first = run(runtime, stable_release)

        assert first.status == "MARKETPLACE_FAILED", first.failure
        assert first.failure is None and first.missing_regions == {}
        assert len(first.marketplace_failed) == 1 and "AMI_SCAN_FAILED" in first.marketplace_failed[0]
        assert all(row.public and row.ssm_points_here for row in first.images), "the images stay public"
        assert (titles(PRODUCTS["x86_64"]), titles(PRODUCTS["arm64"])) == ([], [stable_release.version])
        assert records.get(first.release_id).status == "MARKETPLACE_FAILED"

        started = starter.fill_in(first.release_id)
        retried = follow(runtime, "stable", stable_release.version, started.release_id, started.execution_arn)

        assert retried.status == "SUCCEEDED", (retried.failure, retried.marketplace_failed)
        assert sorted(c["Status"] for c in change_sets(PRODUCTS["x86_64"])) == ["FAILED", "SUCCEEDED"]
        assert len(change_sets(PRODUCTS["arm64"])) == 1, "the version that succeeded is not sent again"
        assert titles(PRODUCTS["x86_64"]) == [stable_release.version]
        assert {(r.arch, r.region, r.image_id) for r in retried.images} == {
            (r.arch, r.region, r.image_id) for r in first.images}
        with pytest.raises(ReleaseNotPartial):
            starter.fill_in(first.release_id)


def still_named_and_present(result) -> None:
    """The stream metadata and the release's document name the release's images, and each image
    and file they name is still there (the images public)."""
    stream_images = {(region, entry["image"]) for arch in read_stream_metadata(result.stream)["architectures"].values()
                     for region, entry in arch["images"]["aws"]["regions"].items()}
    own = {(row.region, row.image_id) for row in result.images}
    assert own and own <= stream_images, "the stream metadata names the release's images"
    assert all(row.public for row in result.images)
    for region, image_id in own:
        assert client("ec2", region).describe_images(ImageIds=[image_id])["Images"], image_id
    named = downloads_named(read_document(release_key(result.stream, result.version)))
    present = {found["Key"] for found in client("s3").list_objects_v2(Bucket=os.environ["METADATA_BUCKET"]).get(
        "Contents", [])}
    assert named and named <= present, sorted(named - present)


def downloads_named(release_document: dict) -> set[str]:
    """The keys of every file (and signature) a release's document links."""
    base = settings().public_base_url
    disks = [image_format.get("disk") or {} for entry in release_document["architectures"].values()
             for platform in entry["media"].values() for image_format in (platform or {}).get("artifacts", {}).values()]
    return {link.removeprefix(base) for disk in disks for link in (disk.get("location"), disk.get("signature")) if link}


def test_a_marketplace_task_that_breaks_leaves_the_release_published_with_errors(stable_release, monkeypatch):
    def broken(event):
        raise RuntimeError("the catalog client could not be made")

    monkeypatch.setattr(functions.marketplace, "advance", broken)
    with LocalRuntime() as runtime:
        result = run(runtime, stable_release)

        assert result.status == "PUBLISHED_WITH_ERRORS", result.failure
        record = records.get(result.release_id)
        assert (record.status, record.failed_stage) == ("PUBLISHED_WITH_ERRORS", "marketplace")
        assert record.failure.startswith("marketplace failed: RuntimeError: the catalog client could not be made")
        assert all("the catalog client could not be made" in line for line in result.marketplace_failed)
        assert len(result.marketplace_failed) == 2
        still_named_and_present(result)
        assert not nothing(release_resources(result.release_id, ["us-east-1"])), "nothing was removed"


def test_recording_the_publication_failing_leaves_the_release_published_with_errors(stable_release, monkeypatch):
    """RecordPublication, the first Finalize, fails after Announce: the run fails, but the record
    takes what the release published and says what failed; nothing the documents name goes."""
    def broken(event):
        raise RuntimeError("the record could not be written")

    monkeypatch.setattr(functions.finalize, "finalize", broken)
    with LocalRuntime() as runtime:
        result = run(runtime, stable_release)

        record = records.get(result.release_id)
        described = client("stepfunctions").describe_execution(executionArn=result.execution_arn)
        assert described["status"] == "FAILED", "the run failed: its alarms go off"
        assert (result.status, record.status, record.failed_stage) == (
            "PUBLISHED_WITH_ERRORS", "PUBLISHED_WITH_ERRORS", "finalize")
        assert record.failure == ("finalize failed: RuntimeError: the record could not be written; the release is "
                                  "out: its images stay public and announced")
        assert record.images == {arch: {row.region: row.image_id for row in result.images if row.arch == arch}
                                 for arch in ("arm64", "x86_64")}
        assert record.built_images and record.metadata_url.endswith("/streams/stable.json")
        still_named_and_present(result)


def test_a_topic_refusing_the_announcement_leaves_the_release_published_with_errors(stable_release):
    """The stream metadata and `latest` name the images before the message goes out: a topic that
    refuses it fails Announce after the world points at the release, which is then out, not FAILED."""
    with LocalRuntime() as runtime:
        client("sns").delete_topic(TopicArn=os.environ["RELEASE_TOPIC_ARN"])

        result = run(runtime, stable_release)

        record = records.get(result.release_id)
        assert (result.status, record.status, record.failed_stage) == (
            "PUBLISHED_WITH_ERRORS", "PUBLISHED_WITH_ERRORS", "announce"), record.failure
        assert record.failure.startswith("announce failed: AnnouncedThenFailed: stable 43.20261125.3.0: ")
        assert record.failure.endswith("the release is out: its images stay public and announced")
        assert record.metadata_url.endswith("/streams/stable.json")
        assert all(row.ssm_points_here for row in result.images), "`latest` names the release's images"
        still_named_and_present(result)


def test_the_retry_of_a_release_whose_announcement_was_refused_sends_it_and_settles(stable_release):
    """The fill-in run misses no region, yet announces again what the release validated: the
    message goes out this time, and the release settles as its Marketplace versions say."""
    with LocalRuntime() as runtime:
        topic = os.environ["RELEASE_TOPIC_ARN"]
        client("sns").delete_topic(TopicArn=topic)
        first = run(runtime, stable_release)
        assert records.get(first.release_id).failed_stage == "announce"
        assert client("sns").create_topic(Name=topic.rsplit(":", 1)[1])["TopicArn"] == topic

        started = starter.retry(first.release_id)
        retried = follow(runtime, "stable", stable_release.version, started.release_id, started.execution_arn)

        record = records.get(first.release_id)
        assert (started.kind, retried.status, record.status) == ("fill-in", "SUCCEEDED", "SUCCEEDED"), \
            (retried.failure, retried.marketplace_failed)
        assert (record.failed_stage, record.failure) == (None, None)
        assert set(record.notified) == {"1"}, "the fill-in run sent the message the first run could not"
        assert {(r.arch, r.region, r.image_id) for r in retried.images} == {
            (r.arch, r.region, r.image_id) for r in first.images}
        still_named_and_present(retried)


def committed_a_day_later(release, version: str):
    later = synthetic_release(release.stream, version, 2)
    commits = {arch: commit.model_copy(update={"timestamp": release.commits[arch].timestamp + timedelta(days=1)})
               for arch, commit in later.commits.items()}
    return later.model_copy(update={"commits": commits})


def test_a_late_fill_in_of_an_older_release_is_refused_the_version_a_newer_one_has_on_marketplace(stable_release):
    """Marketplace offers the version added last as the newest: the older release's fill-in run
    starts no change set on the product the newer release reached, and says why."""
    with LocalRuntime(faults=[MarketplaceFault.parse("marketplace-rejects:x86_64")]) as runtime:
        older = run(runtime, stable_release)
        assert older.status == "MARKETPLACE_FAILED", older.failure
        newer = run(runtime, committed_a_day_later(stable_release, "43.20261126.3.0"))
        assert newer.status == "SUCCEEDED", (newer.failure, newer.marketplace_failed)
        sent_before = change_sets(PRODUCTS["x86_64"])

        started = starter.fill_in(older.release_id)
        retried = follow(runtime, "stable", stable_release.version, started.release_id, started.execution_arn)

        assert retried.status == "SUCCEEDED", (retried.failure, retried.marketplace_failed)
        refused = records.get(older.release_id).marketplace["x86_64"]
        assert (refused.status, refused.attempt, refused.change_set_id) == ("REFUSED", 1, None)
        assert refused.reason.startswith("not sent: the product has a newer release's version (43.20261126.3.0)")
        assert change_sets(PRODUCTS["x86_64"]) == sent_before, "no AddDeliveryOptions change set was started"
        assert titles(PRODUCTS["x86_64"]) == ["43.20261126.3.0"]
        with pytest.raises(ReleaseNotPartial):
            starter.fill_in(older.release_id)


def test_a_developer_commit_dry_runs_its_marketplace_versions(developer_release):
    with LocalRuntime() as runtime:
        result = run(runtime, developer_release)

        assert result.status == "SUCCEEDED", (result.failure, result.marketplace_failed)
        for arch, product_id in PRODUCTS.items():
            assert [c["ChangeSetName"] for c in change_sets(product_id)] == [
                f"{result.release_id}.{arch}.0.validate"]
            assert titles(product_id) == []


def test_a_release_stopped_while_following_marketplace_stays_released_and_its_retry_follows_on(stable_release):
    with LocalRuntime() as runtime:
        marketplace_catalog.hold(PRODUCTS["x86_64"])
        started = runtime.start_release(stable_release)
        record = wait_until(lambda: (found := records.get(started.release_id)) and found.status == "PUBLISHED"
                            and "x86_64" in found.marketplace and found,
                            "the release out, following its x86_64 change set", started.execution_arn)
        in_flight = record.marketplace["x86_64"].change_set_id

        runtime.abort(started.execution_arn)

        stopped = records.get(started.release_id)
        assert stopped.status == "PUBLISHED_WITH_ERRORS" and "while following Marketplace" in stopped.failure
        assert all(image_public(region, image) for arch, regions in stopped.images.items()
                   for region, image in regions.items())
        marketplace_catalog.let_go(PRODUCTS["x86_64"])
        retry = starter.fill_in(started.release_id)
        retried = follow(runtime, "stable", stable_release.version, retry.release_id, retry.execution_arn)

        assert retried.status == "SUCCEEDED", (retried.failure, retried.marketplace_failed)
        assert records.get(started.release_id).marketplace["x86_64"].change_set_id == in_flight
        assert len(change_sets(PRODUCTS["x86_64"])) == 1


def test_a_region_failing_again_does_not_keep_the_retry_from_sending_the_marketplace_version(stable_release):
    faults = [MarketplaceFault.parse("marketplace-rejects:x86_64"), RegionFault.parse("copy-fails:us-east-2")]
    with LocalRuntime(faults=faults) as runtime:
        first = run(runtime, stable_release)
        assert first.status == "MARKETPLACE_FAILED" and list(first.missing_regions) == ["us-east-2"]

        retry = starter.fill_in(first.release_id)
        retried = follow(runtime, "stable", stable_release.version, retry.release_id, retry.execution_arn)

        assert retried.status == "PARTIAL", retried.failure
        assert list(retried.missing_regions) == ["us-east-2"]
        assert titles(PRODUCTS["x86_64"]) == [stable_release.version]




def image_public(region: str, image_id: str) -> bool:
    [image] = client("ec2", region).describe_images(ImageIds=[image_id])["Images"]
    return image["Public"]


def test_a_stream_that_does_not_publish_to_marketplace_is_released_without_the_stage(tmp_path, developer_release):
    raw = json.loads(DEFAULT_CONFIG.read_text())
    raw["streams"]["developer"]["marketplace"]["publish"] = False
    config = tmp_path / "streams.json"
    config.write_text(json.dumps(raw))
    with LocalRuntime(config=config) as runtime:
        result = run(runtime, developer_release)

        assert result.status == "SUCCEEDED", result.failure
        assert result.marketplace == [] and records.get(result.release_id).marketplace == {}
        assert all(change_sets(product) == [] for product in PRODUCTS.values())
        stages = [e["stateEnteredEventDetails"]["name"] for e in runtime.history(result.execution_arn)
                  if e["type"].endswith("StateEntered")]
        assert "Marketplace" not in stages and stages[-1] == "Released"
