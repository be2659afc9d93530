"""publish_region: each image of a region made public, then named in SSM."""

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws import client
from chalicelib.errors import PublishFailed
from functions import publish_region
from tests.integration.support import ARCHES, COPY, RELEASE_ID, STREAM, VERSION, image, invoke

MISSING_IMAGE = "ami-0123456789abcdef0"


def publish(region: dict) -> dict:
    return invoke(publish_region, {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION, "region": region})


def parameter(region: str, name: str) -> dict | None:
    try:
        return client("ssm", region).get_parameter(Name=name)["Parameter"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ParameterNotFound":
            return None
        raise


def parameter_names(region: str) -> list[str]:
    return [p["Name"] for p in client("ssm", region).describe_parameters()["Parameters"]]


@pytest.fixture
def published(copied) -> dict:
    return publish(copied)


@pytest.mark.parametrize("arch", ARCHES)
def test_published_image_and_its_snapshot_are_public(copied, published, arch):
    image_id = next(i["image_id"] for i in copied["images"] if i["arch"] == arch)
    ec2 = client("ec2", COPY)

    assert image(COPY, image_id)["Public"] is True
    snapshot_id = image(COPY, image_id)["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    permissions = ec2.describe_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")
    assert {"Group": "all"} in permissions["CreateVolumePermissions"]


@pytest.mark.parametrize("arch", ARCHES)
def test_ssm_names_the_published_image_by_version_and_as_latest(copied, published, arch):
    image_id = next(i["image_id"] for i in copied["images"] if i["arch"] == arch)

    for label in ("latest", VERSION):
        named = parameter(COPY, f"/atomic-release/{STREAM}/{arch}/{label}")
        assert named["Value"] == image_id, label
        assert named["DataType"] == "aws:ec2:image", label


def test_publish_reports_each_image_public_with_its_parameters(copied, published):
    assert published["region"] == COPY
    by_arch = {i["arch"]: i for i in published["images"]}
    for arch in ARCHES:
        assert by_arch[arch]["public"] is True
        assert sorted(by_arch[arch]["parameters"]) == sorted(
            [f"/atomic-release/{STREAM}/{arch}/latest", f"/atomic-release/{STREAM}/{arch}/{VERSION}"])


def test_publishing_again_gives_the_same_result(copied, published):
    assert publish(copied) == published
    assert all(image(COPY, i["image_id"])["Public"] for i in copied["images"])


def test_an_image_that_does_not_exist_fails_the_publish_and_writes_no_parameter(runtime):
    region = {"region": COPY, "images": [{"arch": "x86_64", "image_id": MISSING_IMAGE, "state": "available"}]}

    with pytest.raises(PublishFailed, match=f"{COPY}: .*{MISSING_IMAGE}"):
        publish(region)
    assert parameter_names(COPY) == []


def test_a_missing_image_among_good_ones_writes_no_parameter_for_any(copied):
    x86_64 = next(i for i in copied["images"] if i["arch"] == "x86_64")
    region = {**copied, "images": [x86_64, {"arch": "arm64", "image_id": MISSING_IMAGE, "state": "available"}]}

    with pytest.raises(PublishFailed, match=MISSING_IMAGE):
        publish(region)
    assert parameter_names(COPY) == []
