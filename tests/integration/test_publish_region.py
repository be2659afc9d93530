"""publish_region (FollowCopies runs it for each region whose copies are available): each image of
a copied region made public with its snapshot, given the
stream's deprecation time and named in SSM by its version. ``latest`` is not moved here: only
Announce moves it, to validated images."""

from datetime import datetime, timedelta

import pytest

from atomic_release.local.patches.ec2_emulation import set_public_image_quota
from chalicelib.aws.clients import client
from chalicelib.core.errors import PublishFailed
from tests.integration.support import (
    ARCHES,
    COPY,
    STREAM,
    VERSION,
    available,
    copies_of,
    image,
    image_snapshots,
    parameter,
    parameter_names,
    publish,
    ssm_name,
)

MISSING_IMAGE = "ami-0123456789abcdef0"
BLOCKED_MESSAGE = ("You can’t publicly share this image because block public access for AMIs is enabled for this "
                   "account. To publicly share the image, you must call the DisableImageBlockPublicAccess API.")


@pytest.fixture
def distributed(copied) -> dict:
    """The region as FollowCopies finds it before publishing it: copied."""
    return available(copied)


@pytest.fixture
def published(distributed) -> dict:
    return publish(distributed)


def expected_deprecation(created: str, days: int) -> str:
    moment = datetime.fromisoformat(created.replace("Z", "+00:00")).replace(second=0, microsecond=0)
    return (moment + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize("arch", ARCHES)
def test_a_published_image_and_its_snapshot_are_public(distributed, published, arch):
    image_id = copies_of(distributed)[arch]

    assert image(COPY, image_id)["Public"] is True
    [snapshot_id] = image_snapshots(COPY, image_id)
    permissions = client("ec2", COPY).describe_snapshot_attribute(SnapshotId=snapshot_id,
                                                                 Attribute="createVolumePermission")
    assert permissions["CreateVolumePermissions"] == [{"Group": "all"}]


@pytest.mark.parametrize("arch", ARCHES)
def test_a_published_image_is_deprecated_after_the_streams_days_to_the_minute(distributed, published, arch):
    published_image = image(COPY, copies_of(distributed)[arch])

    assert published_image["DeprecationTime"] == expected_deprecation(published_image["CreationDate"], 90)


def test_the_deprecation_time_follows_the_streams_configuration(distributed, streams_config):
    streams_config(lambda raw: raw["streams"][STREAM].update(deprecate_after_days=7))

    publish(distributed)

    for image_id in copies_of(distributed).values():
        published_image = image(COPY, image_id)
        assert published_image["DeprecationTime"] == expected_deprecation(published_image["CreationDate"], 7)


@pytest.mark.parametrize("arch", ARCHES)
def test_ssm_names_the_published_image_by_its_version(distributed, published, arch):
    named = parameter(COPY, ssm_name(arch, VERSION))

    assert named["Value"] == copies_of(distributed)[arch]
    assert named["DataType"] == "aws:ec2:image"
    assert named["Type"] == "String"


def test_publishing_does_not_move_latest(published):
    assert parameter_names(COPY) == sorted(ssm_name(arch, VERSION) for arch in ARCHES)
    assert all(parameter(COPY, ssm_name(arch, "latest")) is None for arch in ARCHES)


def test_publish_reports_the_region_published_with_each_images_parameter(distributed, published):
    assert published == {
        **distributed, "status": "published", "stage": "publish",
        "images": [{**i, "public": True, "parameters": [ssm_name(i["arch"], VERSION)]} for i in distributed["images"]],
    }


def test_publishing_again_gives_the_same_result(distributed, published):
    assert publish(distributed) == published
    assert all(image(COPY, image_id)["Public"] for image_id in copies_of(distributed).values())


def test_a_region_blocking_public_images_fails_the_publish_naming_region_and_error(distributed):
    client("ec2", COPY).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")

    with pytest.raises(PublishFailed) as failed:
        publish(distributed)
    assert str(failed.value) == f"{COPY}: OperationNotPermitted: {BLOCKED_MESSAGE}"
    assert parameter_names(COPY) == []
    assert not any(image(COPY, image_id)["Public"] for image_id in copies_of(distributed).values())


def test_a_full_public_ami_quota_fails_the_publish_naming_region_and_error(distributed):
    set_public_image_quota(COPY, 1)

    with pytest.raises(PublishFailed, match=f"^{COPY}: ResourceLimitExceeded: You have reached your quota of 1 "):
        publish(distributed)
    assert parameter_names(COPY) == []


def test_an_image_that_does_not_exist_fails_the_publish_and_writes_no_parameter(runtime):
    region = {"region": COPY, "status": "copied", "stage": "copy",
              "images": [{"arch": "x86_64", "image_id": MISSING_IMAGE, "state": "available"}]}

    with pytest.raises(PublishFailed, match=f"^{COPY}: InvalidAMIID.NotFound: .*{MISSING_IMAGE}"):
        publish(region)
    assert parameter_names(COPY) == []


def test_a_missing_image_among_good_ones_writes_no_parameter_for_any(distributed):
    x86_64 = next(i for i in distributed["images"] if i["arch"] == "x86_64")
    region = {**distributed, "images": [x86_64, {"arch": "arm64", "image_id": MISSING_IMAGE, "state": "available"}]}

    with pytest.raises(PublishFailed, match=MISSING_IMAGE):
        publish(region)
    assert parameter_names(COPY) == []


ACCOUNT = "210987654321"
ORGANIZATION = "arn:aws:organizations::111122223333:organization/o-a1b2c3d4e5"
UNIT = "arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-cdef3456"


def launch_permissions(image_id: str) -> list[dict]:
    return client("ec2", COPY).describe_image_attribute(ImageId=image_id, Attribute="launchPermission")[
        "LaunchPermissions"]


def volume_permissions(image_id: str) -> list[dict]:
    [snapshot_id] = image_snapshots(COPY, image_id)
    return client("ec2", COPY).describe_snapshot_attribute(SnapshotId=snapshot_id,
                                                           Attribute="createVolumePermission")[
        "CreateVolumePermissions"]


def shared_with(streams_config, public: bool) -> None:
    streams_config(lambda raw: raw["streams"][STREAM].update(sharing={
        "public": public, "accounts": [ACCOUNT], "organizations": [ORGANIZATION], "organizational_units": [UNIT]}))


@pytest.mark.parametrize("arch", ARCHES)
def test_a_stream_shared_and_not_public_shares_with_whom_it_names_and_no_one_else(distributed, streams_config,
                                                                                   arch):
    shared_with(streams_config, public=False)

    published = publish(distributed)

    image_id = copies_of(distributed)[arch]
    assert image(COPY, image_id)["Public"] is False
    assert launch_permissions(image_id) == [{"UserId": ACCOUNT}, {"OrganizationArn": ORGANIZATION},
                                            {"OrganizationalUnitArn": UNIT}]
    assert volume_permissions(image_id) == [{"UserId": ACCOUNT}]  # AWS shares a snapshot with no organization
    assert {i["arch"]: i["public"] for i in published["images"]}[arch] is False
    assert parameter(COPY, ssm_name(arch, VERSION))["Value"] == image_id


def test_a_stream_shared_and_public_is_shared_with_both(distributed, streams_config):
    shared_with(streams_config, public=True)

    publish(distributed)

    for image_id in copies_of(distributed).values():
        assert image(COPY, image_id)["Public"] is True
        assert {"UserId": ACCOUNT} in launch_permissions(image_id)
        assert sorted(map(str, volume_permissions(image_id))) == sorted(map(str, [{"UserId": ACCOUNT},
                                                                                  {"Group": "all"}]))


def test_publishing_a_shared_stream_again_asks_for_nothing_shared_already(distributed, streams_config):
    shared_with(streams_config, public=True)
    publish(distributed)
    asked: list[str] = []
    events = client("ec2", COPY).meta.events
    for action in ("ModifyImageAttribute", "ModifySnapshotAttribute"):
        events.register(f"before-call.ec2.{action}", lambda model, **_: asked.append(model.name), unique_id=action)
    try:
        publish(distributed)
    finally:
        for action in ("ModifyImageAttribute", "ModifySnapshotAttribute"):
            events.unregister(f"before-call.ec2.{action}", unique_id=action)

    assert asked == []
