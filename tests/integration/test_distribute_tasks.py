"""copy_to_region and check_copies: each architecture's image copied once to each region."""

from datetime import datetime, timedelta

import pytest
from moto.ec2.models import ec2_backends

from atomic_release.local.runtime import ACCOUNT
from chalicelib.aws import client
from chalicelib.errors import CopyFailed, ImageNameTaken
from chalicelib.tags import ARCH, RELEASE, ROLE, release_tags, tag_specifications
from functions import check_copies, copy_to_region
from tests.integration.support import (
    ARCHES,
    BASE,
    COPY,
    IMAGE_NAMES,
    OTHER_RELEASE_ID,
    RELEASE_ID,
    STREAM,
    builder_volume,
    image,
    invoke,
    own_image_ids,
    region_task,
    snapshot,
    tags,
)


def copies_of(result: dict) -> dict[str, str]:
    return {i["arch"]: i["image_id"] for i in result["images"]}


def test_copies_are_made_in_the_region_and_are_available(built, copied):
    assert copied["region"] == COPY
    assert copied["pending"] is False
    assert {i["state"] for i in copied["images"]} == {"available"}
    copies = copies_of(copied)
    assert set(copies) == set(ARCHES)
    assert own_image_ids(COPY) == set(copies.values())
    assert all(copies[arch] != built[arch]["image_id"] for arch in ARCHES)


@pytest.mark.parametrize("arch", ARCHES)
def test_a_copy_keeps_the_name_and_boot_attributes_of_its_source(built, copied, arch):
    source = image(BASE, built[arch]["image_id"])
    copy = image(COPY, copies_of(copied)[arch])

    assert copy["Name"] == IMAGE_NAMES[arch]
    for attribute in ("Architecture", "BootMode", "EnaSupport", "ImdsSupport", "RootDeviceName"):
        assert copy[attribute] == source[attribute], attribute


@pytest.mark.parametrize("arch", ARCHES)
def test_a_copy_and_its_snapshot_carry_the_release_tags(copied, arch):
    copy = image(COPY, copies_of(copied)[arch])
    copy_snapshot = snapshot(COPY, copy["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"])

    for resource in (copy, copy_snapshot):
        assert (tags(resource)[RELEASE], tags(resource)[ARCH], tags(resource)[ROLE]) == (RELEASE_ID, arch, "image")


def test_copying_again_copies_nothing(built, copied):
    images = own_image_ids(COPY)

    again = invoke(copy_to_region, region_task(COPY, list(built.values())))

    assert copies_of(again) == copies_of(copied)
    assert own_image_ids(COPY) == images


def test_the_base_region_gets_its_own_images_without_a_copy(built):
    images = own_image_ids(BASE)

    result = invoke(copy_to_region, region_task(BASE, list(built.values())))

    assert copies_of(result) == {arch: built[arch]["image_id"] for arch in ARCHES}
    assert result["pending"] is False
    assert own_image_ids(BASE) == images


def test_a_source_image_that_does_not_exist_fails_the_copy_naming_the_region(built):
    gone = {**built["x86_64"], "image_id": "ami-0123456789abcdef0"}

    with pytest.raises(CopyFailed, match=f"x86_64 ami-0123456789abcdef0 to {COPY}"):
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


def test_checking_an_existing_copy_gives_the_same_state(built, copied):
    checked = invoke(check_copies, region_task(COPY, list(built.values())))

    assert checked == copied


def test_checking_a_copy_that_was_deregistered_fails_naming_the_region(built, copied):
    client("ec2", COPY).deregister_image(ImageId=copies_of(copied)["arm64"])

    with pytest.raises(CopyFailed, match=f"{IMAGE_NAMES['arm64']} vanished from {COPY}"):
        invoke(check_copies, region_task(COPY, list(built.values())))


def set_image_state(region: str, image_id: str, state: str) -> None:
    """Where moto has every copy available at once, put one back to where AWS may have it."""
    ec2_backends[ACCOUNT][region].amis[image_id].state = state


def test_a_copy_still_in_progress_is_reported_pending(built, copied):
    set_image_state(COPY, copies_of(copied)["x86_64"], "pending")

    checked = invoke(check_copies, region_task(COPY, list(built.values())))

    assert checked["pending"] is True
    assert {i["arch"]: i["state"] for i in checked["images"]} == {"x86_64": "pending", "arm64": "available"}


def test_a_copy_pending_past_the_deadline_fails_the_check_naming_the_region(built, copied):
    set_image_state(COPY, copies_of(copied)["x86_64"], "pending")
    first = invoke(check_copies, region_task(COPY, list(built.values())))
    since = datetime.fromisoformat(first["waiting_since"])

    within = invoke(check_copies, region_task(COPY, list(built.values()),
                                              waiting_since=(since - timedelta(hours=5)).isoformat()))
    with pytest.raises(CopyFailed, match=f"copies to {COPY} still pending after 6:00:00: x86_64 ami-"):
        invoke(check_copies, region_task(COPY, list(built.values()),
                                         waiting_since=(since - timedelta(hours=7)).isoformat()))
    assert within["pending"] is True


def test_a_copy_that_failed_fails_the_check_naming_the_region(built, copied):
    failed = copies_of(copied)["arm64"]
    set_image_state(COPY, failed, "failed")

    with pytest.raises(CopyFailed, match=f"arm64 {failed} in {COPY} is failed"):
        invoke(check_copies, region_task(COPY, list(built.values())))


def test_checking_the_base_region_looks_at_the_built_images(built):
    checked = invoke(check_copies, region_task(BASE, list(built.values())))

    assert copies_of(checked) == {arch: built[arch]["image_id"] for arch in ARCHES}
    assert checked["pending"] is False
