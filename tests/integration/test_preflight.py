"""preflight: before anything is copied, each region is asked whether it can take the release's
images as public images; the regions that cannot are skipped with the reason."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from atomic_release.local.patches.ec2_emulation import set_opt_in_status, set_public_image_quota
from chalicelib.aws.clients import client
from chalicelib.core.tags import release_tags, tag_specifications
from chalicelib.plan.latency import DEFAULTS, Estimate, LatencyModel
from chalicelib.stages.preflight import NOT_OPTED_IN_REASON
from functions import preflight
from tests.integration.support import (
    BASE,
    COPY,
    IMAGE_NAMES,
    OTHER_RELEASE_ID,
    RELEASE_ID,
    STREAM,
    VERSION,
    copies_of,
    foreign_image,
    invoke,
    make_public,
)

FAR = "us-west-2"
OPT_IN = "ap-east-1"  # a region an account must opt into
REGIONS = [BASE, COPY, FAR]
BLOCKED_REASON = "image block public access is block-new-sharing: images cannot be made public there"


def answer(built: dict, regions: list[str] = REGIONS) -> dict:
    return invoke(preflight, {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION,
                              "regions": regions, "images": list(built.values())})


def check(built: dict, regions: list[str] = REGIONS) -> dict:
    """Which regions are ready and which skipped (the expectations apart)."""
    checked = answer(built, regions)
    del checked["expected"]
    return checked


def test_the_copies_and_marketplace_are_expected_when_the_stream_s_model_says(built, monkeypatch):
    model = LatencyModel(copy_by_region={COPY: Estimate(900, 1200, 3, "history")})
    monkeypatch.setattr("chalicelib.stages.preflight.model_for_stream", lambda stream: model)

    assert answer(built)["expected"] == {"copy_s": {BASE: DEFAULTS["copy"].median_s, COPY: 900,
                                                    FAR: DEFAULTS["copy"].median_s},
                                         "marketplace_s": DEFAULTS["marketplace"].median_s}


def test_a_history_that_cannot_be_read_leaves_the_default_expectations(built, monkeypatch):
    def unreadable(stream):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetExecutionHistory")

    monkeypatch.setattr("chalicelib.stages.preflight.model_for_stream", unreadable)

    expected = answer(built)["expected"]
    assert expected["copy_s"][COPY] == DEFAULTS["copy"].median_s
    assert expected["marketplace_s"] == DEFAULTS["marketplace"].median_s


class UnmodelledHistory(LatencyModel):
    """A stream's model whose history holds what the model cannot estimate from."""

    def estimate(self, stage, region=None):
        raise ValueError(f"no estimate of {stage} in {region} from this history")


def malformed_history(stream):
    raise ValueError("a duration that is not a number")


@pytest.mark.parametrize("model_for_stream", [malformed_history, lambda stream: UnmodelledHistory()],
                         ids=["history-not-read", "history-not-modelled"])
def test_a_history_that_cannot_be_modelled_leaves_the_default_expectations(built, monkeypatch, model_for_stream):
    monkeypatch.setattr("chalicelib.stages.preflight.model_for_stream", model_for_stream)

    checked = answer(built)

    assert checked["ready"] == REGIONS, "the regions go on"
    assert checked["expected"]["copy_s"] == dict.fromkeys(REGIONS, DEFAULTS["copy"].median_s)
    assert checked["expected"]["marketplace_s"] == DEFAULTS["marketplace"].median_s


def skipped(region: str, reason: str) -> dict:
    return {"region": region, "status": "skipped", "stage": "preflight", "images": [], "reason": reason,
            "requested_at": None}


def quota_reason(quota: int, in_use: int, needed: int) -> str:
    return f"public AMI quota (L-0E3CBAB9) is {quota} and {in_use} are in use: no room for {needed} more"


def public_foreign_images(region: str, count: int) -> None:
    for n in range(count):
        make_public(region, foreign_image(region, f"someone-elses-public-image-{n}"))


def test_every_region_that_can_take_public_images_is_ready(built):
    assert check(built) == {"ready": REGIONS, "skipped": []}


def test_a_region_blocking_public_images_is_skipped_with_the_reason(built):
    client("ec2", COPY).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")

    assert check(built) == {"ready": [BASE, FAR], "skipped": [skipped(COPY, BLOCKED_REASON)]}


def test_the_base_region_blocking_public_images_is_skipped_too(built):
    client("ec2", BASE).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")

    assert check(built) == {"ready": [COPY, FAR], "skipped": [skipped(BASE, BLOCKED_REASON)]}


def test_a_region_whose_public_ami_quota_is_full_is_skipped_with_the_numbers(built):
    public_foreign_images(COPY, 1)
    set_public_image_quota(COPY, 2)

    assert check(built) == {"ready": [BASE, FAR], "skipped": [skipped(COPY, quota_reason(2, 1, 2))]}


def test_a_quota_with_room_for_exactly_the_release_is_ready(built):
    public_foreign_images(COPY, 1)
    set_public_image_quota(COPY, 3)

    assert check(built) == {"ready": REGIONS, "skipped": []}


def test_an_image_already_public_in_the_region_needs_no_room(built, copied):
    public_foreign_images(COPY, 1)
    make_public(COPY, copies_of(copied)["x86_64"])
    set_public_image_quota(COPY, 3)

    assert check(built) == {"ready": REGIONS, "skipped": []}

    set_public_image_quota(COPY, 2)

    assert check(built) == {"ready": [BASE, FAR], "skipped": [skipped(COPY, quota_reason(2, 2, 1))]}


def test_a_region_where_every_image_is_public_already_is_ready_at_a_full_quota(built, copied):
    for image_id in copies_of(copied).values():
        make_public(COPY, image_id)
    set_public_image_quota(COPY, 2)

    assert check(built) == {"ready": REGIONS, "skipped": []}


def test_a_region_where_another_release_took_the_name_is_skipped(built):
    ec2 = client("ec2", COPY)
    taken = ec2.register_image(
        Name=IMAGE_NAMES["arm64"], RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 10}}],
        TagSpecifications=tag_specifications(release_tags(OTHER_RELEASE_ID, STREAM, "arm64", "image"), "image"),
    )["ImageId"]

    result = check(built)

    assert result["ready"] == [BASE, FAR]
    assert result["skipped"] == [skipped(COPY, f"an image named {IMAGE_NAMES['arm64']} ({taken}) already exists in "
                                               f"{COPY}, made by release {OTHER_RELEASE_ID}")]


def test_a_region_that_cannot_be_asked_is_skipped_with_the_aws_error(built, monkeypatch):
    def refused(**kwargs):
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "You are not authorized."}},
                          "GetImageBlockPublicAccessState")

    monkeypatch.setattr(client("ec2", FAR), "get_image_block_public_access_state", refused)

    assert check(built) == {"ready": [BASE, COPY], "skipped": [
        skipped(FAR, "cannot check the region: UnauthorizedOperation: You are not authorized.")]}


def test_a_region_that_cannot_be_reached_is_skipped_and_the_others_go_on(built, monkeypatch):
    def unreachable(**kwargs):
        raise EndpointConnectionError(endpoint_url=f"https://ec2.{FAR}.amazonaws.com/")

    monkeypatch.setattr(client("ec2", FAR), "get_image_block_public_access_state", unreachable)

    assert check(built) == {"ready": [BASE, COPY], "skipped": [skipped(
        FAR, f'cannot check the region: Could not connect to the endpoint URL: "https://ec2.{FAR}.amazonaws.com/"')]}


@pytest.mark.parametrize("regions", [[FAR, COPY, BASE], [COPY]])
def test_ready_regions_keep_the_order_they_were_given_in(built, regions):
    assert check(built, regions) == {"ready": regions, "skipped": []}


def test_a_region_the_account_has_not_opted_into_is_skipped_with_the_reason(built):
    set_opt_in_status(OPT_IN, "not-opted-in")

    assert check(built, [*REGIONS, OPT_IN]) == {"ready": REGIONS, "skipped": [skipped(OPT_IN, NOT_OPTED_IN_REASON)]}


def test_an_opt_in_region_the_account_has_opted_into_goes_on(built):
    set_opt_in_status(OPT_IN, "opted-in")

    assert check(built, [BASE, OPT_IN]) == {"ready": [BASE, OPT_IN], "skipped": []}


def test_a_region_not_opted_into_is_not_asked_anything_else(built, monkeypatch):
    set_opt_in_status(OPT_IN, "not-opted-in")

    def not_to_be_asked(**kwargs):
        raise AssertionError("a region the account has not opted into was asked")

    monkeypatch.setattr(client("ec2", OPT_IN), "get_image_block_public_access_state", not_to_be_asked)

    assert check(built, [BASE, OPT_IN])["skipped"] == [skipped(OPT_IN, NOT_OPTED_IN_REASON)]


def test_the_regions_opt_in_status_is_asked_once_for_every_region(built, monkeypatch):
    ec2 = client("ec2")
    asked = []
    describe_regions = ec2.describe_regions

    def counted(**kwargs):
        asked.append(kwargs)
        return describe_regions(**kwargs)

    monkeypatch.setattr(ec2, "describe_regions", counted)

    check(built, [*REGIONS, OPT_IN])

    assert asked == [{"AllRegions": True}]


def test_when_opt_in_cannot_be_asked_each_region_is_still_checked(built, monkeypatch):
    def refused(**kwargs):
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "You are not authorized."}},
                          "DescribeRegions")

    monkeypatch.setattr(client("ec2"), "describe_regions", refused)
    client("ec2", COPY).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")

    assert check(built) == {"ready": [BASE, FAR], "skipped": [skipped(COPY, BLOCKED_REASON)]}


def shared_only(streams_config) -> None:
    streams_config(lambda raw: raw["streams"][STREAM].update(sharing={"public": False, "accounts": ["210987654321"]}))


def test_a_stream_that_is_not_public_is_not_held_to_public_image_limits(built, streams_config):
    """Its images are shared, never public: block public access and the public-AMI quota do not apply."""
    shared_only(streams_config)
    client("ec2", COPY).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
    public_foreign_images(FAR, 1)
    set_public_image_quota(FAR, 1)

    assert check(built) == {"ready": REGIONS, "skipped": []}


def test_a_stream_that_is_not_public_still_skips_a_region_where_another_release_took_the_name(built, streams_config):
    shared_only(streams_config)
    taken = foreign_image(COPY, IMAGE_NAMES["x86_64"])

    result = check(built)

    assert result["ready"] == [BASE, FAR]
    assert result["skipped"] == [skipped(COPY, f"an image named {IMAGE_NAMES['x86_64']} ({taken}) already exists in "
                                               f"{COPY}, made by something other than atomic-release")]


def test_a_stream_that_is_not_public_still_skips_a_region_not_opted_into(built, streams_config):
    shared_only(streams_config)
    set_opt_in_status(OPT_IN, "not-opted-in")

    assert check(built, [BASE, OPT_IN]) == {"ready": [BASE], "skipped": [skipped(OPT_IN, NOT_OPTED_IN_REASON)]}
