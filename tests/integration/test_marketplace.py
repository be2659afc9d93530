"""The Marketplace task against the local Marketplace Catalog: one AddDeliveryOptions change set
per product, followed call by call until it settles, never sent twice for one run."""

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from atomic_release.local import marketplace_catalog
from atomic_release.local.runtime import ACCOUNT
from chalicelib.aws.clients import client
from chalicelib.core import clock
from chalicelib.core.config import load_streams
from chalicelib.core.errors import MarketplaceThrottled
from chalicelib.stages import marketplace
from chalicelib.store import records
from functions import marketplace as marketplace_task
from tests.integration.support import ARCHES, CHECKSUMS, RELEASE_ID, VERSION, commit, invoke

PRODUCTS = {arch: product.product_id for arch, product in load_streams().stream("stable").marketplace.products.items()}
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/atomic-release-marketplace-ingestion"


@pytest.fixture(autouse=True)
def recorded(prepared):
    """The release record the Marketplace task writes its progress into."""


def task(built: dict, stream: str = "stable", attempt: int = 0, arches=ARCHES, products=(), **progress) -> dict:
    return {"release_id": RELEASE_ID, "stream": stream, "version": VERSION, "attempt": attempt,
            "arches": [{"arch": arch, "commit": commit(arch)} for arch in ARCHES], "images": list(built.values()),
            "marketplace": {"arches": list(arches), "pending": True, "wait_seconds": 600, "products": list(products),
                            **progress}}


def follow(event: dict, checks: int = 10) -> dict:
    """Call the task as the state machine does, each time with what the last call returned."""
    for _ in range(checks):
        event = {**event, "marketplace": invoke(marketplace_task, event)}
        if not event["marketplace"]["pending"]:
            return event["marketplace"]
    raise AssertionError(f"still pending after {checks} checks: {event['marketplace']}")


def by_arch(progress: dict) -> dict[str, dict]:
    return {change["arch"]: change for change in progress["products"]}


def change_sets(product_id: str) -> list[dict]:
    return client("marketplace-catalog").list_change_sets(Catalog="AWSMarketplace", FilterList=[
        {"Name": "EntityId", "ValueList": [product_id]}])["ChangeSetSummaryList"]


def described(change_set_id: str) -> dict:
    return client("marketplace-catalog").describe_change_set(Catalog="AWSMarketplace", ChangeSetId=change_set_id)


def test_each_product_gets_one_change_set_with_the_release_and_is_followed_to_succeeded(built):
    progress = follow(task(built))
    for arch, change in by_arch(progress).items():
        assert change["status"] == "SUCCEEDED" and change["change_set_name"] == f"{RELEASE_ID}.{arch}.0"
        assert len(change_sets(PRODUCTS[arch])) == 1
        sent = marketplace_catalog.versions(PRODUCTS[arch])
        assert [version["VersionTitle"] for version in sent] == [VERSION]
    document = described(by_arch(progress)["arm64"]["change_set_id"])["ChangeSet"][0]["DetailsDocument"]
    assert CHECKSUMS["arm64"] in document["Version"]["ReleaseNotes"]
    source = document["DeliveryOptions"][0]["Details"]["AmiDeliveryOptionDetails"]["AmiSource"]
    assert source["AmiId"] == built["arm64"]["image_id"]
    assert source["AccessRoleArn"] == ROLE_ARN
    assert (source["UserName"], source["OperatingSystemVersion"], source["ScanningPort"]) == ("core", "43", 22)
    assert progress["pending"] is False and progress["started_at"]


def test_each_check_reads_how_far_marketplace_got_and_records_it(built):
    event, seen, recorded = task(built, arches=["x86_64"]), [], []
    while event["marketplace"]["pending"]:
        event = {**event, "marketplace": invoke(marketplace_task, event)}
        seen.append(by_arch(event["marketplace"])["x86_64"]["status"])
        recorded.append(records.get(RELEASE_ID).marketplace["x86_64"].status)
    assert seen == recorded == ["PREPARING", "APPLYING", "SUCCEEDED"]


def test_a_change_set_s_times_are_marketplace_s_not_the_check_s_that_saw_it_end(built):
    event = task(built, arches=["x86_64"])
    event = {**event, "marketplace": invoke(marketplace_task, event)}
    change_set_id = by_arch(event["marketplace"])["x86_64"]["change_set_id"]
    marketplace_catalog.steer(change_set_id, "SUCCEEDED")
    an_hour_later = datetime.now(UTC) + timedelta(hours=1)
    clock.answered_by(lambda: an_hour_later)
    try:
        change = by_arch(invoke(marketplace_task, event))["x86_64"]
    finally:
        clock.answered_by(None)
    times = described(change_set_id)
    assert change["status"] == "SUCCEEDED"
    assert datetime.fromisoformat(change["sent_at"]) == datetime.fromisoformat(times["StartTime"])
    assert datetime.fromisoformat(change["ended_at"]) == datetime.fromisoformat(times["EndTime"])
    assert datetime.fromisoformat(change["ended_at"]) < an_hour_later - timedelta(minutes=59)


def test_a_rejected_change_set_fails_with_marketplace_details_and_the_other_product_succeeds(built):
    marketplace_catalog.fail_next_change_set(PRODUCTS["x86_64"], "AMI_SCAN_FAILED", "a critical vulnerability")
    progress = follow(task(built))
    rejected, accepted = by_arch(progress)["x86_64"], by_arch(progress)["arm64"]
    assert rejected["status"] == "FAILED" and accepted["status"] == "SUCCEEDED"
    assert "CLIENT_ERROR" in rejected["reason"] and "AMI_SCAN_FAILED: a critical vulnerability" in rejected["reason"]
    assert marketplace_catalog.versions(PRODUCTS["x86_64"]) == []


def test_a_product_held_by_another_change_set_waits_for_it_then_is_sent(built):
    other = client("marketplace-catalog").start_change_set(Catalog="AWSMarketplace", ChangeSet=[{
        "ChangeType": "AddDeliveryOptions", "Entity": {"Type": "AmiProduct@1.0", "Identifier": PRODUCTS["x86_64"]},
        "DetailsDocument": marketplace.details_document(load_streams().stream("stable").marketplace.products["x86_64"],
                                                        built["x86_64"]["image_id"], "hotfix", "a hotfix")}])
    event = {**task(built, arches=["x86_64"])}
    event["marketplace"] = invoke(marketplace_task, event)
    waiting = by_arch(event["marketplace"])["x86_64"]
    assert waiting["status"] == "WAITING" and other["ChangeSetId"] in waiting["reason"]
    assert event["marketplace"]["pending"] is True
    marketplace_catalog.steer(other["ChangeSetId"], "SUCCEEDED")
    progress = follow(event)
    assert by_arch(progress)["x86_64"]["status"] == "SUCCEEDED"
    assert len(change_sets(PRODUCTS["x86_64"])) == 2
    assert [v["VersionTitle"] for v in marketplace_catalog.versions(PRODUCTS["x86_64"])] == ["hotfix", VERSION]


def test_a_retried_task_finds_its_change_set_instead_of_sending_another(built, monkeypatch):
    tokens = iter(range(100))
    # Tokens that never repeat: only the look-up by name keeps the second call from sending again.
    monkeypatch.setattr(marketplace, "client_token", lambda *parts: f"token-{next(tokens)}")
    event = task(built)
    first = invoke(marketplace_task, event)
    again = invoke(marketplace_task, event)  # the first answer was lost: the same input once more

    assert [c["change_set_id"] for c in again["products"]] == [c["change_set_id"] for c in first["products"]]
    assert all(len(change_sets(product)) == 1 for product in PRODUCTS.values())


def test_the_same_change_set_name_always_carries_the_same_token(built):
    sent = []
    original = marketplace._call

    def recording(operation, **parameters):
        if operation == "start_change_set":
            sent.append((parameters["ChangeSetName"], parameters["ClientRequestToken"]))
        return original(operation, **parameters)

    marketplace_catalog.hold(PRODUCTS["x86_64"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(marketplace, "_call", recording)
        invoke(marketplace_task, task(built, arches=["x86_64"]))
        patch.setattr(marketplace, "_already_sent", lambda change, release_id: None)
        invoke(marketplace_task, task(built, arches=["x86_64"]))
        invoke(marketplace_task, task(built, arches=["x86_64"], attempt=1))

    assert sent[0] == sent[1] and sent[2][0] != sent[0][0] and sent[2][1] != sent[0][1]
    assert len(change_sets(PRODUCTS["x86_64"])) == 1, "the repeated token made no second change set"


@pytest.mark.parametrize("earlier_status", ["PREPARING", "SUCCEEDED"])
def test_a_change_set_an_earlier_run_sent_but_never_recorded_is_followed_not_sent_again(built, earlier_status):
    orphan = by_arch(invoke(marketplace_task, task(built, arches=["x86_64"])))["x86_64"]
    if earlier_status == "SUCCEEDED":
        marketplace_catalog.steer(orphan["change_set_id"], "SUCCEEDED")

    adopted = by_arch(follow(task(built, attempt=1, arches=["x86_64"])))["x86_64"]

    assert adopted["status"] == "SUCCEEDED" and adopted["change_set_id"] == orphan["change_set_id"]
    assert adopted["change_set_name"] == f"{RELEASE_ID}.x86_64.0"
    assert len(change_sets(PRODUCTS["x86_64"])) == 1
    assert marketplace_catalog.versions(PRODUCTS["x86_64"])[0]["VersionTitle"] == VERSION


def test_a_change_set_that_cannot_be_read_stays_followed(built, monkeypatch):
    sent = by_arch(invoke(marketplace_task, task(built, arches=["x86_64"])))["x86_64"]
    original = marketplace._call

    def refusing(operation, **parameters):
        if operation == "describe_change_set":
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not now"}}, "DescribeChangeSet")
        return original(operation, **parameters)

    monkeypatch.setattr(marketplace, "_call", refusing)
    progress = invoke(marketplace_task, task(built, arches=["x86_64"], products=[sent], started_at=sent["sent_at"]))

    unread = by_arch(progress)["x86_64"]
    assert progress["pending"] is True
    assert (unread["status"], unread["reason"]) == ("PREPARING", "DescribeChangeSet: AccessDeniedException: not now")


def test_a_validate_only_stream_dry_runs_and_creates_no_version(built):
    progress = follow(task(built, stream="developer"))
    for arch, change in by_arch(progress).items():
        assert change["status"] == "SUCCEEDED" and change["intent"] == "VALIDATE"
        assert change["change_set_name"].endswith(".validate")
        assert described(change["change_set_id"])["Intent"] == "VALIDATE"
        assert marketplace_catalog.versions(PRODUCTS[arch]) == []


def test_details_marketplace_refuses_fail_the_product_naming_the_field(built, monkeypatch):
    document = marketplace.details_document

    def without_instance_type(*args):
        details = document(*args)
        del details["DeliveryOptions"][0]["Details"]["AmiDeliveryOptionDetails"]["RecommendedInstanceType"]
        return details

    monkeypatch.setattr(marketplace, "details_document", without_instance_type)
    progress = follow(task(built, arches=["arm64"]))
    refused = by_arch(progress)["arm64"]
    assert refused["status"] == "FAILED" and refused["change_set_id"] is None
    assert "StartChangeSet: ValidationException" in refused["reason"]
    assert "RecommendedInstanceType" in refused["reason"]


def test_an_unknown_product_fails_naming_it(built, streams_config):
    streams_config(lambda raw: raw["streams"]["stable"]["marketplace"]["products"]["x86_64"].update(
        product_id="prod-nosuchproduct"))
    refused = by_arch(follow(task(built, arches=["x86_64"])))["x86_64"]
    assert refused["status"] == "FAILED"
    assert "ResourceNotFoundException" in refused["reason"] and "prod-nosuchproduct" in refused["reason"]


def test_change_sets_still_running_at_the_deadline_are_left_overdue(built):
    marketplace_catalog.hold(PRODUCTS["x86_64"])
    long_ago = (datetime.now(UTC) - timedelta(hours=9)).isoformat()
    progress = invoke(marketplace_task, task(built, arches=["x86_64"], started_at=long_ago))
    overdue = by_arch(progress)["x86_64"]
    assert progress["pending"] is False
    assert overdue["status"] == "OVERDUE" and overdue["reason"].startswith("not sent (")
    assert change_sets(PRODUCTS["x86_64"]) == [], "past the deadline nothing more is sent"


def test_the_deadline_falls_within_the_executions_own_time(built):
    event = task(built, arches=["x86_64"])
    event["marketplace"] = invoke(marketplace_task, event)
    marketplace_catalog.hold(PRODUCTS["x86_64"])
    event["execution_started_at"] = (datetime.now(UTC) - timedelta(hours=23, minutes=31)).isoformat()

    progress = invoke(marketplace_task, event)

    overdue = by_arch(progress)["x86_64"]
    assert progress["pending"] is False
    assert overdue["status"] == "OVERDUE" and overdue["reason"].startswith("still PREPARING when the release")


def test_the_wait_for_a_change_set_expected_late_ends_at_the_deadline(built):
    marketplace_catalog.hold(PRODUCTS["x86_64"])
    event = {**task(built, arches=["x86_64"]), "expected_s": 10 * 3600,
             "execution_started_at": (datetime.now(UTC) - timedelta(hours=23)).isoformat()}

    progress = invoke(marketplace_task, event)

    assert by_arch(progress)["x86_64"]["status"] == "PREPARING"
    # the deadline is 30 minutes away (23 h 30 min of the execution): a check then sets it OVERDUE
    # before the execution's 24 h are up, where waiting for the 10 h expected would time the run out
    assert 1790 <= progress["wait_seconds"] <= 1800


def test_a_retry_run_resends_a_failed_product_only(built):
    marketplace_catalog.fail_next_change_set(PRODUCTS["x86_64"], "AMI_SCAN_FAILED", "a critical vulnerability")
    failed = by_arch(follow(task(built)))["x86_64"]
    retried = by_arch(follow(task(built, attempt=1, arches=["x86_64"], products=[failed])))["x86_64"]
    assert retried["status"] == "SUCCEEDED" and retried["attempt"] == 1
    assert retried["change_set_name"] == f"{RELEASE_ID}.x86_64.1" != failed["change_set_name"]
    assert (len(change_sets(PRODUCTS["x86_64"])), len(change_sets(PRODUCTS["arm64"]))) == (2, 1)


def test_a_retry_run_follows_a_change_set_left_in_flight_instead_of_sending_another(built):
    event = task(built, arches=["x86_64"])
    event["marketplace"] = invoke(marketplace_task, event)
    marketplace_catalog.hold(PRODUCTS["x86_64"])
    event["marketplace"]["started_at"] = (datetime.now(UTC) - timedelta(hours=9)).isoformat()
    overdue = by_arch(invoke(marketplace_task, event))["x86_64"]
    assert overdue["status"] == "OVERDUE"
    marketplace_catalog.let_go(PRODUCTS["x86_64"])
    followed = by_arch(follow(task(built, attempt=1, arches=["x86_64"], products=[overdue])))["x86_64"]
    assert followed["status"] == "SUCCEEDED" and followed["change_set_id"] == overdue["change_set_id"]
    assert len(change_sets(PRODUCTS["x86_64"])) == 1


def test_a_throttled_catalog_is_left_to_the_state_machine_to_retry(built, monkeypatch):
    class Throttled:
        def list_change_sets(self, **_):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListChangeSets")

    monkeypatch.setattr("chalicelib.aws.marketplace_catalog.catalog", Throttled)
    with pytest.raises(MarketplaceThrottled, match="ThrottlingException: Rate exceeded"):
        invoke(marketplace_task, task(built))
