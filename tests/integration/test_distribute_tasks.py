"""copy_to_region and follow_copies: each architecture's image copied once to each region, no more
copies pending in a region than the stream allows, and every region's copies followed from one
task to published (in the follow that finds them available), still copying, or failed (and then
removed)."""

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client, client_token
from chalicelib.core import clock
from chalicelib.core.errors import CopyFailed, CopyThrottled, ImageNameTaken
from chalicelib.core.tags import ARCH, RELEASE, ROLE, release_tags, tag_specifications
from chalicelib.models.abort import AbortRequest
from chalicelib.stages import distribute
from chalicelib.store import records
from functions import copy_to_region, follow_copies
from tests.integration.support import (
    ARCHES,
    BASE,
    CHECKSUMS,
    COPY,
    EXECUTION_ARN,
    IMAGE_NAMES,
    OTHER_RELEASE_ID,
    RELEASE_ID,
    STREAM,
    VERSION,
    builder_volume,
    caught,
    copies_of,
    foreign_image,
    image,
    image_snapshots,
    invoke,
    own_image_ids,
    own_snapshot_ids,
    region_task,
    set_image_state,
    snapshot,
    ssm_name,
    tags,
)

FAR = "us-west-2"


def check(*copies: dict, started_at: datetime | None = None) -> dict:
    """follow_copies over the Distribute map's results, as FollowCopies hands them on."""
    return invoke(follow_copies, {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION,
                                  "copies": list(copies),
                                  "execution_started_at": started_at.isoformat() if started_at else None})


def as_published(copied: dict) -> dict:
    """A region whose copies are available, as the follow that found them publishes it."""
    return {**copied, "status": "published", "stage": "publish",
            "images": [{**i, "state": "available", "public": True, "parameters": [ssm_name(i["arch"], VERSION)]}
                       for i in copied["images"]]}


def allow_in_flight(streams_config, copies: int) -> None:
    streams_config(lambda raw: raw["streams"][STREAM].update(copies_in_flight_per_region=copies))


def refuse_copies(monkeypatch, region: str, code: str, message: str) -> list[dict]:
    """Make EC2 answer every CopyImage to ``region`` with an error; returns the calls made."""
    calls: list[dict] = []

    def copy_image(**kwargs):
        calls.append(kwargs)
        raise ClientError({"Error": {"Code": code, "Message": message}}, "CopyImage")

    monkeypatch.setattr(client("ec2", region), "copy_image", copy_image)
    return calls


# copy_to_region


def test_copies_are_requested_in_the_region_and_reported_copying(built, copied):
    assert (copied["region"], copied["status"], copied["stage"], copied["reason"]) == (COPY, "copying", "copy", "")
    copies = copies_of(copied)
    assert set(copies) == set(ARCHES)
    assert own_image_ids(COPY) == set(copies.values())
    assert all(copies[arch] != built[arch]["image_id"] for arch in ARCHES)
    assert [(i["state"], i["public"], i["parameters"]) for i in copied["images"]] == [("pending", False, [])] * 2
    requested = datetime.fromisoformat(copied["requested_at"])
    assert timedelta(0) <= datetime.now(UTC) - requested < timedelta(minutes=1)


@pytest.mark.parametrize("arch", ARCHES)
def test_a_copy_keeps_the_name_and_boot_attributes_of_its_source(built, copied, arch):
    source = image(BASE, built[arch]["image_id"])
    copy = image(COPY, copies_of(copied)[arch])

    assert copy["Name"] == IMAGE_NAMES[arch]
    for attribute in ("Architecture", "BootMode", "EnaSupport", "ImdsSupport", "RootDeviceName"):
        assert copy[attribute] == source[attribute], attribute


def test_every_copy_is_described_with_the_ostree_commit_as_its_source_is(built, copied):
    for arch in ARCHES:
        described = f"{STREAM} {VERSION} {arch} (ostree {CHECKSUMS[arch]})"
        assert image(COPY, copies_of(copied)[arch])["Description"] == described
        assert image(BASE, built[arch]["image_id"])["Description"] == described


@pytest.mark.parametrize("arch", ARCHES)
def test_a_copy_and_its_snapshot_carry_the_release_tags(copied, arch):
    copy = image(COPY, copies_of(copied)[arch])
    copy_snapshot = snapshot(COPY, copy["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"])

    for resource in (copy, copy_snapshot):
        assert (tags(resource)[RELEASE], tags(resource)[ARCH], tags(resource)[ROLE]) == (RELEASE_ID, arch, "image")


def test_copying_again_copies_nothing(built, copied):
    images, snapshots = own_image_ids(COPY), own_snapshot_ids(COPY)

    again = invoke(copy_to_region, region_task(COPY, list(built.values())))

    assert copies_of(again) == copies_of(copied)
    assert (own_image_ids(COPY), own_snapshot_ids(COPY)) == (images, snapshots)


def test_the_base_region_gets_its_own_images_without_a_copy(built):
    images = own_image_ids(BASE)

    result = invoke(copy_to_region, region_task(BASE, list(built.values())))

    assert (result["region"], result["status"]) == (BASE, "copying")
    assert copies_of(result) == {arch: built[arch]["image_id"] for arch in ARCHES}
    assert own_image_ids(BASE) == images


def test_a_copy_that_failed_is_removed_and_copied_again(built, copied):
    failed = copies_of(copied)["x86_64"]
    failed_snapshots = image_snapshots(COPY, failed)
    set_image_state(COPY, failed, "failed")

    again = invoke(copy_to_region, region_task(COPY, list(built.values())))

    renewed = copies_of(again)
    assert renewed["x86_64"] != failed
    assert renewed["arm64"] == copies_of(copied)["arm64"]
    assert own_image_ids(COPY) == set(renewed.values())
    assert not set(failed_snapshots) & own_snapshot_ids(COPY)
    assert image(COPY, renewed["x86_64"])["Name"] == IMAGE_NAMES["x86_64"]


def test_a_source_image_that_does_not_exist_fails_the_copy_naming_the_region(built):
    gone = {**built["x86_64"], "image_id": "ami-0123456789abcdef0"}

    with pytest.raises(CopyFailed, match=f"x86_64 ami-0123456789abcdef0 to {COPY}: "):
        invoke(copy_to_region, region_task(COPY, [gone]))
    assert own_image_ids(COPY) == set()


def test_an_image_of_the_same_name_from_another_release_is_not_taken_for_the_copy(built):
    ec2 = client("ec2", COPY)
    other_tags = release_tags(OTHER_RELEASE_ID, STREAM, "x86_64", "image")
    other_snapshot = ec2.create_snapshot(VolumeId=builder_volume("x86_64", OTHER_RELEASE_ID, COPY))["SnapshotId"]
    other_image = ec2.register_image(
        Name=IMAGE_NAMES["x86_64"], RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": other_snapshot}}],
        TagSpecifications=tag_specifications(other_tags, "image"))["ImageId"]

    with pytest.raises(ImageNameTaken, match=f"{other_image}.*made by release {OTHER_RELEASE_ID}"):
        invoke(copy_to_region, region_task(COPY, list(built.values())))
    assert own_image_ids(COPY) == {other_image}


def test_copies_wait_for_room_under_the_streams_copies_in_flight(built, streams_config):
    allow_in_flight(streams_config, 2)
    someone_elses = foreign_image(COPY, "someone-elses-copy")
    set_image_state(COPY, someone_elses, "pending")

    with pytest.raises(CopyThrottled, match=f"^{COPY} has 1 copies pending, the stream allows 2: "
                                            "1 of this release's copies wait$"):
        invoke(copy_to_region, region_task(COPY, list(built.values())))
    assert {image(COPY, i)["Name"] for i in own_image_ids(COPY)} == {"someone-elses-copy", IMAGE_NAMES["x86_64"]}

    set_image_state(COPY, someone_elses, "available")
    retried = invoke(copy_to_region, region_task(COPY, list(built.values())))

    assert {image(COPY, i)["Name"] for i in own_image_ids(COPY)} == {"someone-elses-copy", *IMAGE_NAMES.values()}
    assert set(copies_of(retried).values()) == own_image_ids(COPY) - {someone_elses}


def test_no_copy_is_requested_while_the_region_has_no_room(built, streams_config):
    allow_in_flight(streams_config, 2)
    for name in ("someone-elses-copy", "another-copy"):
        set_image_state(COPY, foreign_image(COPY, name), "pending")
    before = own_image_ids(COPY)

    with pytest.raises(CopyThrottled, match=f"^{COPY} has 2 copies pending, the stream allows 2: "
                                            "2 of this release's copies wait$"):
        invoke(copy_to_region, region_task(COPY, list(built.values())))
    assert own_image_ids(COPY) == before


def test_the_releases_own_pending_copies_count_against_the_room(built, copied, streams_config):
    allow_in_flight(streams_config, 2)
    set_image_state(COPY, copies_of(copied)["x86_64"], "failed")
    set_image_state(COPY, copies_of(copied)["arm64"], "pending")
    set_image_state(COPY, foreign_image(COPY, "someone-elses-copy"), "pending")

    with pytest.raises(CopyThrottled, match=f"^{COPY} has 2 copies pending, the stream allows 2: 1 of"):
        invoke(copy_to_region, region_task(COPY, list(built.values())))
    assert copies_of(copied)["x86_64"] not in own_image_ids(COPY), "the failed copy is removed all the same"
    assert copies_of(copied)["arm64"] in own_image_ids(COPY)


@pytest.mark.parametrize("code", ["RequestLimitExceeded", "ResourceLimitExceeded"])
def test_ec2_refusing_for_now_throttles_the_copy(built, monkeypatch, code):
    calls = refuse_copies(monkeypatch, COPY, code, "Request limit exceeded.")

    with pytest.raises(CopyThrottled, match=f"^x86_64 to {COPY}: {code}: Request limit exceeded.$"):
        invoke(copy_to_region, region_task(COPY, list(built.values())))
    assert [c["Name"] for c in calls] == [IMAGE_NAMES["x86_64"]]
    assert own_image_ids(COPY) == set()


def test_any_other_ec2_error_fails_the_copy(built, monkeypatch):
    calls = refuse_copies(monkeypatch, COPY, "InvalidRequest", "The request received was invalid.")
    source = built["x86_64"]["image_id"]

    with pytest.raises(CopyFailed, match=f"^x86_64 {source} to {COPY}: InvalidRequest: "
                                         "The request received was invalid.$"):
        invoke(copy_to_region, region_task(COPY, list(built.values())))
    assert len(calls) == 1
    assert (calls[0]["SourceImageId"], calls[0]["SourceRegion"]) == (source, BASE)


def test_a_fill_in_run_asks_ec2_with_its_own_idempotency_token(built, monkeypatch):
    calls = refuse_copies(monkeypatch, COPY, "InvalidRequest", "no")

    for attempt in (0, 1):
        with pytest.raises(CopyFailed):
            invoke(copy_to_region, region_task(COPY, list(built.values()), attempt=attempt))

    assert len({c["ClientToken"] for c in calls}) == 2


# follow_copies


def test_copies_that_are_available_get_the_region_published_in_the_same_follow(copied):
    done = as_published(copied)
    assert check(copied) == {"pending": False, "copies": [done], "published": [done], "failed": [],
                             "wait_seconds": 0}
    assert all(image(COPY, image_id)["Public"] for image_id in copies_of(copied).values())


def test_the_base_region_is_published_at_the_first_follow_with_the_built_images(built):
    base = invoke(copy_to_region, region_task(BASE, list(built.values())))

    checked = check(base)

    done = as_published(base)
    assert checked == {"pending": False, "copies": [done], "published": [done], "failed": [], "wait_seconds": 0}
    assert copies_of(checked["published"][0]) == {arch: built[arch]["image_id"] for arch in ARCHES}


def test_a_region_is_published_while_a_slower_region_still_copies(built, copied):
    slow = copies_of(copied)["x86_64"]
    set_image_state(COPY, slow, "pending")
    base = invoke(copy_to_region, region_task(BASE, list(built.values())))

    checked = check(base, copied)

    assert checked["pending"] is True
    assert checked["published"] == [as_published(base)]
    assert all(image(BASE, image_id)["Public"] for image_id in copies_of(base).values())
    assert not image(COPY, slow)["Public"], "a region still copying is not published"
    assert checked["failed"] == []
    assert own_image_ids(COPY) == set(copies_of(copied).values())

    set_image_state(COPY, slow, "available")
    again = check(*checked["copies"])

    assert again["pending"] is False
    assert again["published"] == [as_published(base), as_published(copied)]


def test_the_wait_is_counted_from_the_end_of_the_follow_after_its_publishing(built, copied, monkeypatch):
    set_image_state(COPY, copies_of(copied)["x86_64"], "pending")
    base = invoke(copy_to_region, region_task(BASE, list(built.values())))
    requested = datetime.now(UTC)
    time = {"now": requested}
    publish = distribute.publish_region

    def publish_taking_40_s(task):
        time["now"] += timedelta(seconds=40)
        return publish(task)

    monkeypatch.setattr(distribute, "publish_region", publish_taking_40_s)
    clock.answered_by(lambda: time["now"])
    try:
        checked = check(base, {**copied, "requested_at": requested.isoformat()}, started_at=requested)
    finally:
        clock.answered_by(None)

    assert checked["published"] == [as_published(base)]
    assert checked["wait_seconds"] == 1800 * distribute.EARLY_LOOK - 40, (
        "the copy is due 30 minutes after its request, its early look half-way, 40 s of which publishing the "
        "base region took")


def test_a_region_that_fails_to_publish_fails_alone_in_the_publish_stage(built, copied):
    client("ec2", COPY).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
    base = invoke(copy_to_region, region_task(BASE, list(built.values())))

    checked = check(base, copied)

    [published, failed] = checked["published"]
    assert published == as_published(base)
    assert {key: failed[key] for key in ("region", "status", "stage", "images")} == (
        {"region": COPY, "status": "failed", "stage": "publish", "images": []})
    assert failed["reason"].startswith(f"PublishFailed: {COPY}: OperationNotPermitted: ")
    assert (checked["pending"], checked["failed"]) == (False, [])


def refuse_once(region: str, action: str, code: str) -> None:
    """Make EC2 in ``region`` answer the next ``action`` call with an error, then as before."""
    events = client("ec2", region).meta.events
    event, unique_id = f"before-call.ec2.{action}", f"refuse-once-{action}"

    def refuse(**_):
        events.unregister(event, unique_id=unique_id)
        raise ClientError({"Error": {"Code": code, "Message": "try again"}}, action)

    events.register(event, refuse, unique_id=unique_id)


def test_a_region_ec2_does_not_answer_for_stays_copying_while_the_others_are_published(built, copied):
    base = invoke(copy_to_region, region_task(BASE, list(built.values())))
    refuse_once(COPY, "DescribeImages", "InternalError")

    checked = check(base, copied)

    assert checked["published"] == [as_published(base)], "the region EC2 answered for is published"
    assert [(r["region"], r["status"]) for r in checked["copies"]] == [(BASE, "published"), (COPY, "copying")]
    assert (checked["pending"], checked["failed"]) == (True, [])
    assert not any(image(COPY, image_id)["Public"] for image_id in copies_of(copied).values())

    again = check(*checked["copies"])

    assert again["published"] == [as_published(base), as_published(copied)]
    assert (again["pending"], again["failed"]) == (False, [])


def test_a_region_ec2_does_not_answer_for_past_the_copy_deadline_fails(copied):
    requested = datetime.now(UTC) - timedelta(hours=6, minutes=1)
    refuse_once(COPY, "DescribeImages", "InternalError")

    checked = check({**copied, "requested_at": requested.isoformat()})

    [region] = checked["failed"]
    assert (region["region"], region["status"], region["stage"]) == (COPY, "failed", "copy")
    assert region["reason"] == "still not followed after 6:00:00: InternalError: try again"
    assert (checked["pending"], checked["published"]) == (False, [])


def test_a_follow_still_running_when_its_run_is_aborted_publishes_nothing(prepared, copied):
    abort = AbortRequest(execution_arn=EXECUTION_ARN, reason="wrong commit", stage="distribute",
                         requested_at=records.now())
    assert records.mark_abort_requested(RELEASE_ID, abort)

    checked = invoke(follow_copies, {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION,
                                     "copies": [copied], "execution_arn": EXECUTION_ARN})

    assert checked["published"] == [] and [r["status"] for r in checked["copies"]] == ["copied"]
    assert not any(image(COPY, image_id)["Public"] for image_id in copies_of(copied).values())


def test_an_abort_recorded_while_a_follow_publishes_stops_the_regions_not_yet_published(prepared, built, copied,
                                                                                        monkeypatch):
    base = invoke(copy_to_region, region_task(BASE, list(built.values())))
    publish = distribute.publish_region

    def publish_then_abort(task):
        published = publish(task)
        records.mark_abort_requested(RELEASE_ID, AbortRequest(execution_arn=EXECUTION_ARN, reason="wrong commit",
                                                              stage="distribute", requested_at=records.now()))
        return published

    monkeypatch.setattr(distribute, "REGIONS_AT_ONCE", 1)  # the regions published one after the other
    monkeypatch.setattr(distribute, "publish_region", publish_then_abort)
    checked = invoke(follow_copies, {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION,
                                     "copies": [base, copied], "execution_arn": EXECUTION_ARN})

    assert checked["published"] == [as_published(base)], "published before the abort: it stays public"
    assert [(r["region"], r["status"]) for r in checked["copies"]] == [(BASE, "published"), (COPY, "copied")]
    assert not any(image(COPY, image_id)["Public"] for image_id in copies_of(copied).values())


def test_the_wait_for_a_pending_copy_is_until_the_model_expects_it(copied):
    set_image_state(COPY, copies_of(copied)["x86_64"], "pending")
    requested = datetime.now(UTC) - timedelta(minutes=20)

    checked = check({**copied, "requested_at": requested.isoformat()}, started_at=requested)

    assert checked["pending"] is True
    assert 600 - 5 <= checked["wait_seconds"] <= 600, (
        "the model's median copy is 30 minutes, its early look at 15 is past: 10 left")


def test_the_wait_for_an_overdue_copy_is_a_share_of_the_run_s_time(copied):
    set_image_state(COPY, copies_of(copied)["x86_64"], "pending")
    started = datetime.now(UTC) - timedelta(hours=2)

    checked = check({**copied, "requested_at": (started + timedelta(minutes=20)).isoformat()}, started_at=started)

    assert checked["wait_seconds"] in (126, 127), "1.75 % of the 7200 s (and the test's own) the run has taken"


def test_a_copy_that_failed_fails_its_region_and_is_removed(copied):
    failed, kept = copies_of(copied)["arm64"], copies_of(copied)["x86_64"]
    set_image_state(COPY, failed, "failed")

    checked = check(copied)

    assert checked["pending"] is False
    assert checked["published"] == []
    [region] = checked["failed"]
    assert (region["region"], region["status"], region["stage"]) == (COPY, "failed", "copy")
    assert region["reason"] == f"arm64 {failed} is failed"
    assert {i["arch"]: i["state"] for i in region["images"]} == {"x86_64": "available", "arm64": "failed"}
    assert own_image_ids(COPY) == {kept}, "the copy that is available stays for the fill-in run"
    assert own_snapshot_ids(COPY) == set(image_snapshots(COPY, kept))


def test_a_copy_that_was_deregistered_fails_its_region(copied):
    gone = copies_of(copied)["arm64"]
    client("ec2", COPY).deregister_image(ImageId=gone)

    checked = check(copied)

    [region] = checked["failed"]
    assert (region["region"], region["status"], region["reason"]) == (COPY, "failed", f"arm64 {gone} is missing")
    assert (checked["pending"], checked["published"]) == (False, [])


def test_copies_pending_within_the_deadline_keep_waiting(copied):
    set_image_state(COPY, copies_of(copied)["x86_64"], "pending")
    requested = datetime.now(UTC) - timedelta(hours=5, minutes=59)

    checked = check({**copied, "requested_at": requested.isoformat()})

    assert (checked["pending"], checked["published"], checked["failed"]) == (True, [], [])
    assert own_image_ids(COPY) == set(copies_of(copied).values())


def test_a_copy_pending_past_the_deadline_fails_its_region_and_is_cancelled(copied):
    late, done = copies_of(copied)["x86_64"], copies_of(copied)["arm64"]
    late_snapshots = image_snapshots(COPY, late)
    set_image_state(COPY, late, "pending")
    requested = datetime.now(UTC) - timedelta(hours=6, minutes=1)

    checked = check({**copied, "requested_at": requested.isoformat()})

    [region] = checked["failed"]
    assert (region["region"], region["status"], region["reason"]) == (COPY, "failed", "still pending after 6:00:00")
    assert (checked["pending"], checked["published"]) == (False, [])
    assert own_image_ids(COPY) == {done}
    assert not set(late_snapshots) & own_snapshot_ids(COPY)


def test_copies_available_past_the_deadline_are_copied_all_the_same(copied):
    requested = datetime.now(UTC) - timedelta(days=2)

    checked = check({**copied, "requested_at": requested.isoformat()})

    assert [r["status"] for r in checked["published"]] == ["published"]
    assert checked["failed"] == []


def test_a_region_the_distribute_map_caught_passes_through_with_the_error_message(copied):
    message = f"x86_64 ami-0123456789abcdef0 to {FAR}: InvalidAMIID.NotFound: The image id does not exist"

    checked = check(copied, caught(FAR, "copy", "CopyFailed", message))

    assert checked["pending"] is False
    assert checked["published"] == [as_published(copied)]
    assert checked["failed"] == [{"region": FAR, "status": "failed", "stage": "copy", "images": [],
                                  "reason": f"CopyFailed: {message}", "requested_at": None}]


def test_a_region_the_distribute_map_caught_keeps_a_plain_reason(copied):
    checked = check({"region": FAR, "status": "failed", "stage": "copy", "reason": "not a JSON document"})

    assert [r["reason"] for r in checked["failed"]] == ["not a JSON document"]


def test_a_region_that_failed_keeps_its_reason_at_the_next_check(built, copied):
    failed = copies_of(copied)["arm64"]
    set_image_state(COPY, failed, "failed")
    far = invoke(copy_to_region, region_task(FAR, list(built.values())))
    set_image_state(FAR, copies_of(far)["x86_64"], "pending")
    first = check(copied, far)
    assert first["pending"] is True, "another region still copying: FollowCopies runs again after a wait"
    assert [r["reason"] for r in first["failed"]] == [f"arm64 {failed} is failed"]

    again = check(*first["copies"])

    assert [r["reason"] for r in again["failed"]] == [f"arm64 {failed} is failed"]


def test_the_copy_replacing_a_failed_one_asks_ec2_with_a_new_idempotency_token(built, copied, monkeypatch):
    """EC2 answers a repeated ClientToken with its first answer: the failed copy's id."""
    set_image_state(COPY, copies_of(copied)["x86_64"], "failed")
    sent: list[str] = []
    ec2 = client("ec2", COPY)
    original = ec2.copy_image
    monkeypatch.setattr(ec2, "copy_image", lambda **kwargs: sent.append(kwargs["ClientToken"]) or original(**kwargs))

    invoke(copy_to_region, region_task(COPY, list(built.values())))
    (renewed,) = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [IMAGE_NAMES["x86_64"]]}])[
        "Images"]
    set_image_state(COPY, renewed["ImageId"], "failed")
    invoke(copy_to_region, region_task(COPY, list(built.values())))

    first_token = client_token(RELEASE_ID, "x86_64", COPY, "0", "")
    assert len(sent) == 2 and len({first_token, *sent}) == 3


@pytest.mark.parametrize("arch", ARCHES)
def test_a_copy_and_its_snapshot_carry_the_streams_tags_as_configured_now(built, streams_config, arch):
    streams_config(lambda raw: raw["streams"][STREAM].update(tags={"team": "os images"}))

    copied = invoke(copy_to_region, region_task(COPY, list(built.values())))

    copy = image(COPY, copies_of(copied)[arch])
    copy_snapshot = snapshot(COPY, copy["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"])
    for resource in (copy, copy_snapshot):
        assert (tags(resource).get("team"), tags(resource)[RELEASE]) == ("os images", RELEASE_ID)
