"""The EC2 behaviours atomic_release.local.patches.ec2_emulation adds to moto, through plain boto3 calls.

The expected error codes and messages are EC2's own, as real failures quoted them:
OperationNotPermitted from ModifyImageAttribute under block public access
(https://github.com/hortonworks/cloudbreak-images/pull/926), ResourceLimitExceeded at the Public
AMIs quota (https://github.com/iterative/studio-selfhosted/pull/90)."""

from datetime import UTC, datetime
from functools import partial

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.ec2.models.amis import AmiBackend
from moto.ec2.responses.availability_zones_and_regions import AvailabilityZonesAndRegions
from moto.servicequotas.models import ServiceQuotasBackend

from atomic_release.local.patches import ec2_emulation
from atomic_release.local.patches.ec2_emulation import install, set_opt_in_status, set_public_image_quota

BLOCKED = "us-east-1"
OTHER = "us-east-2"
OPT_IN = "ap-east-2"  # a region an account must opt into
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
QUOTA = {"ServiceCode": "ec2", "QuotaCode": "L-0E3CBAB9"}
BLOCKED_MESSAGE = ("You can’t publicly share this image because block public access for AMIs is enabled for this "
                   "account. To publicly share the image, you must call the DisableImageBlockPublicAccess API.")


def quota_message(quota: int) -> str:
    return (f"You have reached your quota of {quota} for the number of public images allowed in this Region. "
            "Deregister unused public images or make them private, or request an increase in your public AMIs quota.")


def own_mock_aws(test):
    """Mark a test that opens its own ``mock_aws`` contexts: nested contexts would share one state."""
    test.own_mock_aws = True
    return test


@pytest.fixture(autouse=True)
def aws(request, monkeypatch):
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    install()
    if getattr(request.function, "own_mock_aws", False):
        yield
        return
    with mock_aws():
        yield


def ec2(region: str = BLOCKED):
    return boto3.client("ec2", region_name=region)


def register(region: str = BLOCKED, name: str = "atomic-test-image") -> str:
    return ec2(region).register_image(Name=name)["ImageId"]


def make_public(image_id: str, region: str = BLOCKED) -> None:
    ec2(region).modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})


def make_private(image_id: str, region: str = BLOCKED) -> None:
    ec2(region).modify_image_attribute(ImageId=image_id, LaunchPermission={"Remove": [{"Group": "all"}]})


def image(image_id: str, region: str = BLOCKED) -> dict:
    return ec2(region).describe_images(ImageIds=[image_id])["Images"][0]


def own_public_images(region: str) -> list[str]:
    pages = ec2(region).get_paginator("describe_images").paginate(
        Owners=["self"], Filters=[{"Name": "is-public", "Values": ["true"]}])
    return sorted(i["ImageId"] for page in pages for i in page["Images"])


def quota_value(region: str) -> float:
    return boto3.client("service-quotas", region_name=region).get_service_quota(**QUOTA)["Quota"]["Value"]


def error_of(call) -> dict:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]


# Image block public access


def test_every_region_starts_unblocked():
    for region in (BLOCKED, OTHER):
        state = ec2(region).get_image_block_public_access_state()
        assert (state["ImageBlockPublicAccessState"], state["ManagedBy"]) == ("unblocked", "account")


def test_enabling_answers_the_new_state_and_only_that_region_reports_it():
    answer = ec2(BLOCKED).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")

    assert answer["ImageBlockPublicAccessState"] == "block-new-sharing"
    assert ec2(BLOCKED).get_image_block_public_access_state()["ImageBlockPublicAccessState"] == "block-new-sharing"
    assert ec2(OTHER).get_image_block_public_access_state()["ImageBlockPublicAccessState"] == "unblocked"


def test_a_blocked_region_refuses_new_public_sharing_in_either_request_form():
    ec2(BLOCKED).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
    image_id = register(BLOCKED)

    by_launch_permission = error_of(lambda: make_public(image_id))
    by_operation_type = error_of(lambda: ec2(BLOCKED).modify_image_attribute(
        ImageId=image_id, Attribute="launchPermission", OperationType="add", UserGroups=["all"]))

    expected = {"Code": "OperationNotPermitted", "Message": BLOCKED_MESSAGE}
    assert {k: by_launch_permission[k] for k in expected} == expected
    assert {k: by_operation_type[k] for k in expected} == expected
    assert image(image_id)["Public"] is False


def test_a_blocked_region_still_shares_with_accounts_and_leaves_public_images_public():
    already_public, private = register(BLOCKED, "already-public"), register(BLOCKED, "private")
    make_public(already_public)
    ec2(BLOCKED).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")

    ec2(BLOCKED).modify_image_attribute(ImageId=private, LaunchPermission={"Add": [{"UserId": OTHER_ACCOUNT}]})

    assert image(already_public)["Public"] is True
    permissions = ec2(BLOCKED).describe_image_attribute(ImageId=private, Attribute="launchPermission")
    assert permissions["LaunchPermissions"] == [{"UserId": OTHER_ACCOUNT}]


def test_another_region_shares_publicly_while_one_is_blocked():
    ec2(BLOCKED).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
    image_id = register(OTHER)

    make_public(image_id, OTHER)

    assert image(image_id, OTHER)["Public"] is True


def test_disabling_answers_unblocked_and_public_sharing_works_again():
    ec2(BLOCKED).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
    image_id = register(BLOCKED)

    answer = ec2(BLOCKED).disable_image_block_public_access()
    make_public(image_id)

    assert answer["ImageBlockPublicAccessState"] == "unblocked"
    assert ec2(BLOCKED).get_image_block_public_access_state()["ImageBlockPublicAccessState"] == "unblocked"
    assert image(image_id)["Public"] is True


def test_enabling_with_any_other_state_is_refused():
    error = error_of(lambda: ec2().enable_image_block_public_access(ImageBlockPublicAccessState="unblocked"))

    assert error["Code"] == "InvalidParameterValue"
    assert ec2().get_image_block_public_access_state()["ImageBlockPublicAccessState"] == "unblocked"


# Image deprecation


def test_a_deprecation_time_shows_in_describe_images_rounded_to_the_nearest_minute():
    early, late = register(name="rounds-down"), register(name="rounds-up")

    answer = ec2().enable_image_deprecation(ImageId=early, DeprecateAt="2030-01-02T03:04:29Z")
    ec2().enable_image_deprecation(ImageId=late, DeprecateAt=datetime(2030, 1, 2, 3, 4, 30, tzinfo=UTC))

    assert answer["Return"] is True
    assert image(early)["DeprecationTime"] == "2030-01-02T03:04:00.000Z"
    assert image(late)["DeprecationTime"] == "2030-01-02T03:05:00.000Z"


def test_a_new_deprecation_time_replaces_the_old_one():
    image_id = register()
    ec2().enable_image_deprecation(ImageId=image_id, DeprecateAt="2030-01-02T03:04:00Z")

    ec2().enable_image_deprecation(ImageId=image_id, DeprecateAt="2031-06-07T08:09:00Z")

    assert image(image_id)["DeprecationTime"] == "2031-06-07T08:09:00.000Z"


def test_disabling_deprecation_removes_the_time():
    image_id, untouched = register(name="deprecated"), register(name="untouched")
    ec2().enable_image_deprecation(ImageId=image_id, DeprecateAt="2030-01-02T03:04:00Z")

    answer = ec2().disable_image_deprecation(ImageId=image_id)

    assert answer["Return"] is True
    assert "DeprecationTime" not in image(image_id)
    assert "DeprecationTime" not in image(untouched)


def test_deprecation_of_an_unknown_or_deregistered_image_fails_as_moto_fails_for_any_image():
    gone = register()
    ec2().deregister_image(ImageId=gone)
    calls = {
        "enable": lambda image_id: ec2().enable_image_deprecation(ImageId=image_id, DeprecateAt="2030-01-01T00:00:00Z"),
        "disable": lambda image_id: ec2().disable_image_deprecation(ImageId=image_id),
    }

    for call in calls.values():
        unknown = error_of(partial(call, "ami-0123456789abcdef0"))
        deregistered = error_of(partial(call, gone))
        assert (unknown["Code"], unknown["Message"]) == (
            "InvalidAMIID.NotFound", "The image id '[ami-0123456789abcdef0]' does not exist")
        assert (deregistered["Code"], deregistered["Message"]) == (
            "InvalidAMIID.Unavailable", f"The image id '[{gone}]' is no longer available")


# Deregistration protection


def test_a_protected_image_says_so_and_cannot_be_deregistered():
    image_id, other = register(name="protected"), register(name="unprotected")

    answer = ec2().enable_image_deregistration_protection(ImageId=image_id, WithCooldown=False)

    assert answer["Return"] == "enabled"
    assert image(image_id)["DeregistrationProtection"] == "enabled"
    refused = error_of(partial(ec2().deregister_image, ImageId=image_id))
    assert refused["Code"] == "OperationNotPermitted"
    assert image_id in refused["Message"]
    assert image(image_id)["State"] == "available"
    ec2().deregister_image(ImageId=other)


def test_with_the_cooldown_the_image_says_so():
    image_id = register()

    ec2().enable_image_deregistration_protection(ImageId=image_id, WithCooldown=True)

    assert image(image_id)["DeregistrationProtection"] == "enabled-with-cooldown"


def test_once_protection_is_off_the_image_can_be_deregistered():
    image_id = register()
    ec2().enable_image_deregistration_protection(ImageId=image_id)

    answer = ec2().disable_image_deregistration_protection(ImageId=image_id)

    assert answer["Return"] == "disabled"
    assert image(image_id)["DeregistrationProtection"] == "disabled"
    ec2().deregister_image(ImageId=image_id)
    assert ec2().describe_images(ImageIds=[image_id])["Images"] == []


def test_protection_of_an_unknown_image_and_attributes_of_one_fail_as_for_any_image():
    calls = {
        "enable": lambda image_id: ec2().enable_image_deregistration_protection(ImageId=image_id),
        "disable": lambda image_id: ec2().disable_image_deregistration_protection(ImageId=image_id),
        "attribute": lambda image_id: ec2().describe_image_attribute(ImageId=image_id, Attribute="launchPermission"),
    }

    for call in calls.values():
        unknown = error_of(partial(call, "ami-0123456789abcdef0"))
        assert unknown["Code"] == "InvalidAMIID.NotFound"


# Public AMIs quota


def test_the_public_image_quota_has_the_module_default_in_every_region():
    quota = boto3.client("service-quotas", region_name=OTHER).get_service_quota(**QUOTA)["Quota"]

    assert quota == {
        "ServiceCode": "ec2",
        "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
        "QuotaArn": f"arn:aws:servicequotas:{OTHER}:{ACCOUNT}:ec2/L-0E3CBAB9",
        "QuotaCode": "L-0E3CBAB9",
        "QuotaName": "Public AMIs",
        "Value": 1000.0,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }
    assert quota_value(BLOCKED) == float(ec2_emulation.DEFAULT_PUBLIC_IMAGE_QUOTA) == 1000.0


def test_a_quota_set_for_one_region_is_that_region_only():
    set_public_image_quota(BLOCKED, 7)

    assert (quota_value(BLOCKED), quota_value(OTHER)) == (7.0, 1000.0)


def test_other_ec2_quotas_stay_unknown_as_in_moto():
    quotas = boto3.client("service-quotas", region_name=BLOCKED)

    error = error_of(lambda: quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A"))

    assert error["Code"] == "NoSuchResourceException"


def test_describe_images_lists_only_this_accounts_public_images():
    public, private = register(name="public-one"), register(name="private-one")
    make_public(public)

    assert own_public_images(BLOCKED) == [public]
    assert private not in own_public_images(BLOCKED)
    assert own_public_images(OTHER) == []


def test_making_an_image_public_at_the_quota_fails_and_leaves_it_private():
    set_public_image_quota(BLOCKED, 2)
    first, second, third = (register(name=f"image-{n}") for n in range(3))
    make_public(first)
    make_public(second)

    error = error_of(lambda: ec2().modify_image_attribute(
        ImageId=third, Attribute="launchPermission", OperationType="add", UserGroups=["all"]))

    assert (error["Code"], error["Message"]) == ("ResourceLimitExceeded", quota_message(2))
    assert image(third)["Public"] is False
    assert own_public_images(BLOCKED) == sorted([first, second])


def test_at_the_quota_public_images_stay_public_and_freeing_one_makes_room():
    set_public_image_quota(BLOCKED, 1)
    first, second = register(name="first"), register(name="second")
    make_public(first)

    make_public(first)
    refused = error_of(lambda: make_public(second))
    make_private(first)
    make_public(second)

    assert refused["Code"] == "ResourceLimitExceeded"
    assert own_public_images(BLOCKED) == [second]


def test_the_quota_of_one_region_does_not_limit_another():
    set_public_image_quota(BLOCKED, 1)
    make_public(register(BLOCKED))
    in_other = [register(OTHER, f"other-{n}") for n in range(2)]

    for image_id in in_other:
        make_public(image_id, OTHER)

    assert own_public_images(OTHER) == sorted(in_other)


def test_block_public_access_is_checked_before_the_quota():
    set_public_image_quota(BLOCKED, 0)
    ec2().enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")

    assert error_of(lambda: make_public(register()))["Code"] == "OperationNotPermitted"


# Each region's opt-in status (DescribeRegions)


def opt_in_statuses(region: str = BLOCKED, **request) -> dict[str, str]:
    return {r["RegionName"]: r["OptInStatus"] for r in ec2(region).describe_regions(**request)["Regions"]}


def test_the_local_account_has_opted_into_every_opt_in_region():
    statuses = opt_in_statuses(AllRegions=True)
    assert (statuses[OPT_IN], statuses["ap-southeast-6"], statuses[BLOCKED]) == (
        "opted-in", "opted-in", "opt-in-not-required")


def test_a_region_not_opted_into_is_listed_only_with_all_regions():
    set_opt_in_status(OPT_IN, "not-opted-in")

    assert opt_in_statuses(AllRegions=True)[OPT_IN] == "not-opted-in"
    assert OPT_IN not in opt_in_statuses()
    assert OPT_IN not in opt_in_statuses(AllRegions=False)
    assert opt_in_statuses(OTHER, AllRegions=True)[OPT_IN] == "not-opted-in"  # the account's, asked anywhere


def test_opting_in_is_per_account():
    set_opt_in_status(OPT_IN, "not-opted-in", account_id=OTHER_ACCOUNT)

    assert opt_in_statuses(AllRegions=True)[OPT_IN] == "opted-in"


def test_a_region_every_account_has_cannot_be_made_not_opted_in():
    with pytest.raises(ValueError, match="us-east-2 needs no opt-in"):
        set_opt_in_status(OTHER, "not-opted-in")
    assert opt_in_statuses(AllRegions=True)[OTHER] == "opt-in-not-required"


def test_region_names_narrow_the_answer():
    set_opt_in_status(OPT_IN, "not-opted-in")

    assert opt_in_statuses(RegionNames=[OPT_IN, OTHER], AllRegions=True) == {
        OPT_IN: "not-opted-in", OTHER: "opt-in-not-required"}


# Lifetime and installation


@own_mock_aws
def test_nothing_leaks_from_one_mock_aws_context_into_the_next():
    with mock_aws():
        ec2(BLOCKED).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
        set_public_image_quota(OTHER, 3)
        set_opt_in_status(OPT_IN, "not-opted-in")
        deprecated = register(BLOCKED)
        ec2(BLOCKED).enable_image_deprecation(ImageId=deprecated, DeprecateAt="2030-01-02T03:04:00Z")
        assert quota_value(OTHER) == 3.0

    with mock_aws():
        assert ec2(BLOCKED).get_image_block_public_access_state()["ImageBlockPublicAccessState"] == "unblocked"
        assert (quota_value(BLOCKED), quota_value(OTHER)) == (1000.0, 1000.0)
        assert opt_in_statuses(AllRegions=True)[OPT_IN] == "opted-in"
        assert ec2(BLOCKED).describe_images(Owners=["self"])["Images"] == []
        make_public(register(BLOCKED))


def test_install_twice_patches_once():
    def patched_now():
        return (AmiBackend.modify_image_attribute, ServiceQuotasBackend.get_service_quota,
                AvailabilityZonesAndRegions.describe_regions)

    patched = patched_now()

    install()

    assert patched_now() == patched
    assert AvailabilityZonesAndRegions.describe_regions is ec2_emulation.describe_regions
