"""Whole releases through the Marketplace stage: a stable release becomes a new version of each
product; a rejected version leaves the release published with Marketplace failed, and the retry
sends that version once more."""

import pytest

import functions.marketplace
from atomic_release.local import LocalRuntime, marketplace_catalog
from atomic_release.local.marketplace_faults import MarketplaceFault
from atomic_release.local.synthetic import synthetic_release
from atomic_release.local_release import follow, run
from chalicelib import records, starter
from chalicelib.aws import client
from chalicelib.config import load_streams
from chalicelib.errors import ReleaseNotPartial
from tests.helpers import nothing, release_resources

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


def test_a_marketplace_task_that_breaks_never_fails_a_published_release(stable_release, monkeypatch):
    def broken(event):
        raise RuntimeError("the catalog client could not be made")

    monkeypatch.setattr(functions.marketplace, "advance", broken)
    with LocalRuntime() as runtime:
        result = run(runtime, stable_release)

        assert result.status == "MARKETPLACE_FAILED", result.failure
        assert all("the catalog client could not be made" in line for line in result.marketplace_failed)
        assert len(result.marketplace_failed) == 2
        assert all(row.public for row in result.images)
        assert not nothing(release_resources(result.release_id, ["us-east-1"])), "nothing was removed"


def test_a_developer_commit_dry_runs_its_marketplace_versions(developer_release):
    with LocalRuntime() as runtime:
        result = run(runtime, developer_release)

        assert result.status == "SUCCEEDED", (result.failure, result.marketplace_failed)
        for arch, product_id in PRODUCTS.items():
            assert [c["ChangeSetName"] for c in change_sets(product_id)] == [
                f"{result.release_id}.{arch}.0.validate"]
            assert titles(product_id) == []
