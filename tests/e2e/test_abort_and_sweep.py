"""What no Catch path cleans: an execution aborted in the middle, and leftovers the sweeper
finds later. Neither touches what a running release owns."""

import os
from datetime import UTC, datetime, timedelta

import pytest

from atomic_release.local.runtime import LocalRuntime
from atomic_release.local.simulator import Fault
from atomic_release.local.synthetic import synthetic_release
from chalicelib.aws.clients import client
from chalicelib.core.tags import release_tags, tag_specifications
from chalicelib.models.abort import AbortRequest
from chalicelib.store import records
from chalicelib.upkeep import sweeper
from tests.helpers import nothing, release_resources, wait_until

pytestmark = pytest.mark.e2e
REGIONS = ["us-east-1", "us-east-2", "us-west-1"]
GHOST = "developer-ghost-0123456789ab"


@pytest.fixture
def held_release(developer_release):
    """A release whose arm64 builder is still at work: x86_64 is built and waiting for it."""
    with LocalRuntime(faults=[Fault.parse("builder-hangs:arm64")]) as runtime:
        started = runtime.start_release(developer_release)

        def x86_through_qa():
            reservations = client("ec2").describe_instances(Filters=[
                {"Name": "tag:atomic-release:arch", "Values": ["x86_64"]},
                {"Name": "tag:atomic-release:role", "Values": ["qa"]}])["Reservations"]
            states = [i["State"]["Name"] for r in reservations for i in r["Instances"]]
            return states == ["terminated"]
        wait_until(x86_through_qa, "x86_64 built and through QA while arm64 builds", started.execution_arn)
        yield runtime, started
        runtime.simulator.finish_hung_guests()
        runtime.wait(started.execution_arn)


def test_an_abort_in_the_middle_leaves_nothing_of_the_release(held_release):
    runtime, started = held_release

    cleaned = runtime.abort(started.execution_arn)
    runtime.simulator.finish_hung_guests()

    assert cleaned["cleaned"] is True, cleaned
    assert any(cleaned["removed"][kind] for kind in ("instances", "images"))
    assert runtime.wait(started.execution_arn).status == "ABORTED"
    assert nothing(release_resources(started.release_id, REGIONS))
    assert records.get(started.release_id).status == "ABORTED"
    assert runtime.simulator.unheard_reports  # the builder finished for nobody


def plant(region: str, release_id: str) -> dict[str, str]:
    """What a release whose execution is gone might have left: an instance with its volume,
    a snapshot, a private image."""
    ec2 = client("ec2", region)
    tags = release_tags(release_id, "developer", "x86_64", "builder")
    image = ec2.register_image(Name=f"{release_id}-{region}", Architecture="x86_64", RootDeviceName="/dev/xvda",
                               TagSpecifications=tag_specifications(tags, "image"))["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="c7i.large",
                                 TagSpecifications=tag_specifications(tags, "instance"))["Instances"][0]["InstanceId"]
    volume = ec2.create_volume(Size=10, AvailabilityZone=f"{region}a",
                               TagSpecifications=tag_specifications(tags, "volume"))["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume, TagSpecifications=tag_specifications(tags, "snapshot"))
    return {"instance": instance, "volume": volume, "snapshot": snapshot["SnapshotId"], "image": image}


def test_the_sweeper_removes_leftovers_past_their_deadline_and_spares_running_releases(held_release):
    runtime, started = held_release
    planted = {region: plant(region, GHOST) for region in ("us-east-1", "us-east-2")}
    held_builder = release_resources(started.release_id, ["us-east-1"])["instances"]

    too_soon = sweeper.sweep()
    later = sweeper.sweep(now=datetime.now(UTC) + timedelta(hours=4))

    assert too_soon.releases == {}
    assert later.kept_running == [started.release_id]
    assert set(later.releases) == {GHOST}
    removed = later.releases[GHOST]
    for region, ids in planted.items():
        assert f"{region}:{ids['instance']}" in removed["instances"]
        assert f"{region}:{ids['volume']}" in removed["volumes"]
        assert f"{region}:{ids['snapshot']}" in removed["snapshots"]
        assert f"{region}:{ids['image']}" in removed["images"]
    assert nothing(release_resources(GHOST, REGIONS))
    assert release_resources(started.release_id, ["us-east-1"])["instances"] == held_builder


def test_the_status_change_rule_cleans_only_its_own_aborted_or_timed_out_executions(runtime):
    machine = os.environ["RELEASE_STATE_MACHINE_ARN"]
    finished = {"detail": {"name": GHOST, "status": "SUCCEEDED", "stateMachineArn": machine}}
    foreign = {"detail": {"name": GHOST, "status": "ABORTED", "stateMachineArn": machine + "-other"}}
    plant("us-east-1", GHOST)

    assert sweeper.on_execution_ended(finished)["reason"] == "status SUCCEEDED needs no cleanup here"
    assert sweeper.on_execution_ended(foreign)["reason"] == "not an execution of the release state machine"
    assert release_resources(GHOST, ["us-east-1"])["instances"]
    timed_out = {"detail": {"name": GHOST, "status": "TIMED_OUT", "stateMachineArn": machine}}
    assert sweeper.on_execution_ended(timed_out)["cleaned"] is True
    assert nothing(release_resources(GHOST, ["us-east-1"]))


@pytest.mark.parametrize("status", ["PARTIAL", "SUCCEEDED"])
def test_the_sweeper_keeps_the_private_images_of_a_released_release(runtime, status):
    """A partial release's private images (its built images, copies not yet published) are what a
    fill-in run copies and publishes; a released image AWS made private after deprecation is
    retention's to make public again. Only instances and volumes are leftovers."""
    release = synthetic_release("developer", "43.20261125.dev.9", 2)
    planted = plant("us-east-1", release.release_id)
    records.create(release, "arn:aws:states:us-east-1:123456789012:execution:gone:x", ["us-east-1"])
    records.mark_finished(release.release_id, status, {}, "s3://b/k", [], {})

    swept = sweeper.sweep(now=datetime.now(UTC) + timedelta(hours=4))

    removed = swept.releases[release.release_id]
    assert removed["instances"] == [f"us-east-1:{planted['instance']}"]
    assert removed["volumes"] == [f"us-east-1:{planted['volume']}"]
    assert not removed.get("images") and not removed.get("snapshots")
    left = release_resources(release.release_id, ["us-east-1"])
    assert (left["images"], left["snapshots"]) == ([planted["image"]], [planted["snapshot"]])


def test_an_aborted_fill_in_run_leaves_its_release_partial_and_its_images_in_place(runtime):
    release = synthetic_release("developer", "43.20261125.dev.9", 2)
    planted = plant("us-east-1", release.release_id)
    fill_in = release.model_copy(update={"attempt": 1})
    fill_in_arn = f"arn:aws:states:us-east-1:123456789012:execution:gone:{fill_in.execution_name}"
    records.create(release, "arn:aws:states:us-east-1:123456789012:execution:gone:first", ["us-east-1"])
    records.mark_finished(release.release_id, "PARTIAL", {}, "s3://b/k", [], {})
    records.claim_fill_in(fill_in, fill_in_arn)
    event = {"detail": {"name": fill_in.execution_name, "status": "ABORTED", "input": fill_in.model_dump_json(),
                        "executionArn": fill_in_arn, "stateMachineArn": os.environ["RELEASE_STATE_MACHINE_ARN"]}}

    answer = sweeper.on_execution_ended(event)

    assert answer["release_id"] == release.release_id != fill_in.execution_name
    assert answer["cleaned"] is False
    record = records.get(release.release_id)
    assert (record.status, record.failure) == ("PARTIAL", "fill-in run 1: execution ABORTED")
    assert release_resources(release.release_id, ["us-east-1"])["images"] == [planted["image"]]


def ended(release, arn: str, status: str) -> dict:
    return {"detail": {"name": release.execution_name, "status": status, "input": release.model_dump_json(),
                       "executionArn": arn, "stateMachineArn": os.environ["RELEASE_STATE_MACHINE_ARN"]}}


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT"])
def test_a_run_that_ended_while_following_marketplace_leaves_its_release_published_with_errors(runtime, status):
    """Its release is announced: as FailPublishedRelease, the end records PUBLISHED_WITH_ERRORS
    with the stage and why, and removes nothing, not even its private images (a stream shared
    only with whom it names has no public image)."""
    release = synthetic_release("developer", "43.20261125.dev.9", 2)
    arn = f"arn:aws:states:us-east-1:123456789012:execution:gone:{release.execution_name}"
    planted = plant("us-east-1", release.release_id)
    records.create(release, arn, ["us-east-1"])
    records.mark_finished(release.release_id, "PUBLISHED", {}, "s3://b/k", [], {})
    before = release_resources(release.release_id, ["us-east-1"])

    answer = sweeper.on_execution_ended(ended(release, arn, status))

    assert answer["cleaned"] is False
    record = records.get(release.release_id)
    assert (record.status, record.failed_stage) == ("PUBLISHED_WITH_ERRORS", "marketplace")
    assert record.failure == (f"marketplace failed: execution {status}: the run ended while following Marketplace; "
                              "a fill-in run follows its change sets again; the release is out: its images stay "
                              "public and announced")
    assert release_resources(release.release_id, ["us-east-1"]) == before
    assert planted["image"] in before["images"]


def test_an_abort_of_a_run_following_marketplace_records_where_it_was_stopped_and_why(runtime):
    release = synthetic_release("developer", "43.20261125.dev.9", 2)
    arn = f"arn:aws:states:us-east-1:123456789012:execution:gone:{release.execution_name}"
    records.create(release, arn, ["us-east-1"])
    records.mark_finished(release.release_id, "PUBLISHED", {}, "s3://b/k", [], {})
    abort = AbortRequest(execution_arn=arn, reason="product paused", stage="marketplace", requested_at=records.now())
    assert records.mark_abort_requested(release.release_id, abort)

    sweeper.on_execution_ended(ended(release, arn, "ABORTED"))

    record = records.get(release.release_id)
    assert (record.status, record.failed_stage) == ("PUBLISHED_WITH_ERRORS", "marketplace")
    assert "(aborted in marketplace: product paused)" in record.failure


def test_the_sweeper_keeps_an_image_protected_from_deregistration_whatever_its_release_s_status(runtime):
    """Announce protects every image it names: a run that ended unreleased after Announce (or
    a stream's private images the documents name) leaves one the sweep must not remove."""
    planted = plant("us-east-1", GHOST)
    client("ec2").enable_image_deregistration_protection(ImageId=planted["image"])

    swept = sweeper.sweep(now=datetime.now(UTC) + timedelta(hours=4))

    assert f"us-east-1:{planted['instance']}" in swept.releases[GHOST]["instances"]
    assert not swept.releases[GHOST].get("images")
    assert release_resources(GHOST, ["us-east-1"])["images"] == [planted["image"]]
