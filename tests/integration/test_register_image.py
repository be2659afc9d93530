"""register_image: the builder's target disk becomes a snapshot, then an image the stream can boot."""

import pytest

from chalicelib.aws.clients import client
from chalicelib.core.errors import ImageNameTaken, ImageRegistrationFailed
from chalicelib.core.tags import ARCH, RELEASE, ROLE, release_tags, tag_specifications
from chalicelib.core.tags import STREAM as STREAM_TAG
from chalicelib.models.release import ReleaseInput
from functions import launch_builder, register_image
from tests.integration.support import (
    BASE,
    CHECKSUMS,
    IMAGE_NAMES,
    OTHER_RELEASE_ID,
    RELEASE_ID,
    STREAM,
    arch_task,
    builder_report,
    builder_volume,
    commit,
    image,
    instance,
    invoke,
    own_image_ids,
    own_snapshot_ids,
    release_input,
    snapshot,
    tags,
    volume_exists,
)

BOOT_MODES = {"x86_64": "uefi-preferred", "arm64": "uefi"}


def register(arch: str, volume_id: str, checksum: str | None = None) -> dict:
    return invoke(register_image, arch_task(arch, builder=builder_report(arch, volume_id, checksum)))


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_image_boots_as_the_architecture_requires(runtime, arch):
    built = register(arch, builder_volume(arch))

    registered = image(BASE, built["image_id"])
    assert registered["Architecture"] == arch
    assert registered["BootMode"] == BOOT_MODES[arch]
    assert registered["EnaSupport"] is True
    assert registered["ImdsSupport"] == "v2.0"
    assert registered["RootDeviceName"] == "/dev/xvda"
    assert registered["State"] == "available"
    sriov = client("ec2", BASE).describe_image_attribute(ImageId=built["image_id"], Attribute="sriovNetSupport")
    assert sriov["SriovNetSupport"]["Value"] == "simple"


def test_image_root_is_a_gp3_snapshot_of_the_builder_volume_tagged_with_the_release(runtime):
    volume_id = builder_volume("x86_64")
    built = register("x86_64", volume_id)

    root = image(BASE, built["image_id"])["BlockDeviceMappings"]
    assert [m["DeviceName"] for m in root] == ["/dev/xvda"]
    assert root[0]["Ebs"]["SnapshotId"] == built["snapshot_id"]
    assert root[0]["Ebs"]["VolumeType"] == "gp3"
    taken = snapshot(BASE, built["snapshot_id"])
    assert taken["VolumeId"] == volume_id
    assert tags(taken)[RELEASE] == RELEASE_ID
    assert tags(taken)[ARCH] == "x86_64"


def test_image_is_named_by_the_stream_pattern_and_tagged_with_the_release(runtime):
    built = register("arm64", builder_volume("arm64"))

    assert built["name"] == IMAGE_NAMES["arm64"] == "atomic-developer-43.20261125.dev.1-arm64"
    registered = image(BASE, built["image_id"])
    assert registered["Name"] == built["name"]
    assert {k: tags(registered)[k] for k in (RELEASE, STREAM_TAG, ARCH, ROLE)} == {
        RELEASE: RELEASE_ID, STREAM_TAG: STREAM, ARCH: "arm64", ROLE: "image"}
    assert CHECKSUMS["arm64"] in registered["Description"]


def test_registering_deletes_the_builder_volume(runtime):
    volume_id = builder_volume("x86_64")

    register("x86_64", volume_id)

    assert not volume_exists(BASE, volume_id)


def test_registering_deletes_the_disk_of_a_builder_gone_without_being_heard(runtime):
    """A retried launch: the first builder reported to a dead token and powered off."""
    unheard, reported = builder_volume("x86_64"), builder_volume("x86_64")
    other_arch, other_release = builder_volume("arm64"), builder_volume("x86_64", OTHER_RELEASE_ID)

    built = register("x86_64", reported)

    assert snapshot(BASE, built["snapshot_id"])["VolumeId"] == reported
    assert not volume_exists(BASE, unheard)
    assert not volume_exists(BASE, reported)
    assert volume_exists(BASE, other_arch)
    assert volume_exists(BASE, other_release)


def test_registering_the_disk_of_a_live_builder_terminates_the_builder_first(runtime):
    builder_id = invoke(launch_builder, arch_task("x86_64", task_token="token-1"))["instance_id"]
    builder = instance(BASE, builder_id)
    volume_id = next(m["Ebs"]["VolumeId"] for m in builder["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf")

    built = register("x86_64", volume_id)

    assert instance(BASE, builder_id)["State"]["Name"] == "terminated"
    assert snapshot(BASE, built["snapshot_id"])["VolumeId"] == volume_id
    assert not volume_exists(BASE, volume_id)


def test_registering_again_returns_the_same_image_and_creates_nothing(runtime):
    volume_id = builder_volume("x86_64")
    first = register("x86_64", volume_id)
    images, snapshots = own_image_ids(BASE), own_snapshot_ids(BASE)

    again = register("x86_64", volume_id)

    assert again == first
    assert own_image_ids(BASE) == images
    assert own_snapshot_ids(BASE) == snapshots


def test_a_builder_report_of_another_commit_registers_nothing(runtime):
    volume_id = builder_volume("x86_64")
    images, snapshots = own_image_ids(BASE), own_snapshot_ids(BASE)

    with pytest.raises(ImageRegistrationFailed, match=f"builder wrote commit {'9' * 64}, not the requested "
                                                      f"{CHECKSUMS['x86_64']}"):
        register("x86_64", volume_id, checksum="9" * 64)
    assert own_image_ids(BASE) == images
    assert own_snapshot_ids(BASE) == snapshots
    assert volume_exists(BASE, volume_id)


def test_an_image_of_the_same_name_from_another_release_is_refused(runtime):
    """Another release of the same version (another commit, so another release id) left its image."""
    other_release = ReleaseInput.model_validate(release_input(commits={"x86_64": {
        **commit("x86_64"), "checksum": "3c" * 32}})).release_id
    ec2 = client("ec2", BASE)
    other_tags = release_tags(other_release, STREAM, "x86_64", "image")
    other_snapshot = ec2.create_snapshot(VolumeId=builder_volume("x86_64", other_release),
                                         TagSpecifications=tag_specifications(other_tags, "snapshot"))["SnapshotId"]
    other_image = ec2.register_image(
        Name=IMAGE_NAMES["x86_64"], RootDeviceName="/dev/xvda", Architecture="x86_64",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": other_snapshot}}],
        TagSpecifications=tag_specifications(other_tags, "image"))["ImageId"]
    images = own_image_ids(BASE)

    with pytest.raises(ImageNameTaken, match=f"{other_image}.*made by release {other_release}"):
        register("x86_64", builder_volume("x86_64"))
    assert own_image_ids(BASE) == images


def test_the_image_and_its_snapshot_carry_the_streams_tags_beside_the_releases(runtime, streams_config):
    streams_config(lambda raw: raw["streams"][STREAM].update(tags={"team": "os images", "cost-center": "1234"}))

    built = register("x86_64", builder_volume("x86_64"))

    for resource in (image(BASE, built["image_id"]), snapshot(BASE, built["snapshot_id"])):
        assert {k: tags(resource).get(k) for k in ("team", "cost-center", RELEASE)} == {
            "team": "os images", "cost-center": "1234", RELEASE: RELEASE_ID}
