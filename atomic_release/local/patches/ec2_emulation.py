"""EC2 behaviours moto 5.2.5 lacks, emulated behind the ordinary boto3 calls: image block public
access per region, image deprecation times, deregistration protection (which DeregisterImage
obeys), DescribeImageAttribute's answer for an unknown image, the per-region Public AMIs quota,
which Service Quotas reports and ModifyImageAttribute enforces, and each region's opt-in status,
which DescribeRegions reports (moto gives every opt-in region ``not-opted-in`` and ignores
``AllRegions``; the local account has opted into every region unless told otherwise).

State lives on moto's own backend objects (the EC2 and Service Quotas backend of each account and
region). moto's reset, which every new ``mock_aws`` runs, rebuilds those objects, so no value set
in one context is seen in the next."""

import threading
from datetime import UTC, datetime, timedelta

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidParameterValueError,
    OperationNotPermitted,
    UnvailableAMIIdError,
)
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.availability_zones_and_regions import AvailabilityZonesAndRegions
from moto.servicequotas.models import ServiceQuotasBackend, servicequotas_backends

UNBLOCKED = "unblocked"
BLOCK_NEW_SHARING = "block-new-sharing"
PUBLIC_IMAGE_QUOTA_CODE = "L-0E3CBAB9"
DEFAULT_PUBLIC_IMAGE_QUOTA = 1000
PUBLIC = {"Group": "all"}

# Both messages are what EC2 answers, as quoted from real failures (see the module's tests).
BLOCKED_MESSAGE = ("You can’t publicly share this image because block public access for AMIs is enabled for this "
                   "account. To publicly share the image, you must call the DisableImageBlockPublicAccess API.")
QUOTA_MESSAGE = ("You have reached your quota of {quota} for the number of public images allowed in this Region. "
                 "Deregister unused public images or make them private, or request an increase in your public AMIs "
                 "quota.")

_STATE_ATTRIBUTE = "emulated_image_block_public_access"
_QUOTA_ATTRIBUTE = "emulated_public_image_quota"
_OPT_IN_ATTRIBUTE = "emulated_opt_in_status"
NOT_OPTED_IN = "not-opted-in"
OPTED_IN = "opted-in"

_installed = False
_lock = threading.Lock()


def set_public_image_quota(region: str, value: int, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """The account's Public AMIs quota in one region, until moto next resets (a new ``mock_aws``)."""
    setattr(servicequotas_backends[account_id][region], _QUOTA_ATTRIBUTE, value)


def public_image_quota(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> int:
    return getattr(servicequotas_backends[account_id][region], _QUOTA_ATTRIBUTE, DEFAULT_PUBLIC_IMAGE_QUOTA)


def needs_opt_in(region: str) -> bool:
    """Whether an account must opt into the region before using it (moto's list of those that need not)."""
    return region not in RegionsAndZonesBackend.regions_opt_in_not_required


def set_opt_in_status(region: str, status: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Whether the account has opted into an opt-in region (``opted-in`` or ``not-opted-in``),
    until moto next resets."""
    if status not in (OPTED_IN, NOT_OPTED_IN):
        raise ValueError(f"an opt-in status is {OPTED_IN} or {NOT_OPTED_IN}, not {status!r}")
    if not needs_opt_in(region):
        raise ValueError(f"{region} needs no opt-in: every account has it enabled")
    setattr(ec2_backends[account_id][region], _OPT_IN_ATTRIBUTE, status)


def _opt_in_status(account_id: str, region: str, moto_status: str) -> str:
    if moto_status != NOT_OPTED_IN:
        return moto_status
    backend = ec2_backends[account_id].get(region)  # dict.get: no backend is made for a region never used
    return getattr(backend, _OPT_IN_ATTRIBUTE, OPTED_IN)


def describe_regions(self) -> ActionResult:
    """Every region with its opt-in status; only the enabled ones unless ``AllRegions`` is true."""
    self.error_on_dryrun()
    every = self._get_bool_param("AllRegions", False)
    answer = []
    for region in self.ec2_backend.describe_regions(self._get_param("RegionNames", [])):
        status = _opt_in_status(self.current_account, region.name, region.opt_in_status)
        if every or status != NOT_OPTED_IN:
            answer.append({"RegionName": region.name, "Endpoint": region.endpoint, "OptInStatus": status})
    return ActionResult({"Regions": answer})


def _block_state(backend) -> str:
    return getattr(backend, _STATE_ATTRIBUTE, UNBLOCKED)


def get_image_block_public_access_state(self) -> ActionResult:
    self.error_on_dryrun()
    return ActionResult({"ImageBlockPublicAccessState": _block_state(self.ec2_backend), "ManagedBy": "account"})


def enable_image_block_public_access(self) -> ActionResult:
    state = self._get_param("ImageBlockPublicAccessState")
    if state != BLOCK_NEW_SHARING:
        raise InvalidParameterValueError(state)
    self.error_on_dryrun()
    setattr(self.ec2_backend, _STATE_ATTRIBUTE, BLOCK_NEW_SHARING)
    return ActionResult({"ImageBlockPublicAccessState": BLOCK_NEW_SHARING})


def disable_image_block_public_access(self) -> ActionResult:
    self.error_on_dryrun()
    setattr(self.ec2_backend, _STATE_ATTRIBUTE, UNBLOCKED)
    return ActionResult({"ImageBlockPublicAccessState": UNBLOCKED})


def _image(backend, image_id: str) -> Ami:
    """The image, or the error moto gives elsewhere for a malformed, unknown or deregistered id."""
    if image_id in backend.deleted_amis:
        raise UnvailableAMIIdError(image_id)
    return backend.describe_images(ami_ids=[image_id])[0]


def _to_the_minute(moment: datetime) -> str:
    """EC2 rounds DeprecateAt to the nearest minute and reports it as CreationDate is reported."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    minute = moment.replace(second=0, microsecond=0)
    if moment - minute >= timedelta(seconds=30):
        minute += timedelta(minutes=1)
    return minute.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def enable_image_deprecation(self) -> ActionResult:
    image = _image(self.ec2_backend, self._get_param("ImageId"))
    deprecate_at = self._get_param("DeprecateAt")
    self.error_on_dryrun()
    # moto's Ami declares no deprecation time; DescribeImages answers with one when it is set
    image.deprecation_time = _to_the_minute(deprecate_at)  # type: ignore[attr-defined]
    return ActionResult({"Return": True})


def disable_image_deprecation(self) -> ActionResult:
    image = _image(self.ec2_backend, self._get_param("ImageId"))
    self.error_on_dryrun()
    image.deprecation_time = None  # type: ignore[attr-defined]
    return ActionResult({"Return": True})


PROTECTED = "enabled"
UNPROTECTED = "disabled"
# EC2's code for the refusal; the wording is ours, not quoted from a real failure.
PROTECTED_MESSAGE = "The image {image_id} cannot be deregistered while deregistration protection is enabled."


def enable_image_deregistration_protection(self) -> ActionResult:
    image = _image(self.ec2_backend, self._get_param("ImageId"))
    with_cooldown = str(self._get_param("WithCooldown", False)).lower() == "true"
    self.error_on_dryrun()
    # moto's Ami declares no protection; DescribeImages answers DeregistrationProtection when it is set
    image.deregistration_protection = "enabled-with-cooldown" if with_cooldown else PROTECTED  # type: ignore[attr-defined]
    return ActionResult({"Return": PROTECTED})


def disable_image_deregistration_protection(self) -> ActionResult:
    image = _image(self.ec2_backend, self._get_param("ImageId"))
    self.error_on_dryrun()
    # a cooldown would hold the image 24 more hours; the emulation keeps no clock, so it lifts at once
    image.deregistration_protection = UNPROTECTED  # type: ignore[attr-defined]
    return ActionResult({"Return": UNPROTECTED})


def _refuse_protected(original):
    """DeregisterImage refuses an image whose deregistration protection is on, as EC2 does."""

    def deregister_image(self, ami_id: str) -> None:
        image = self.amis.get(ami_id)
        if image is not None and getattr(image, "deregistration_protection", UNPROTECTED) != UNPROTECTED:
            raise OperationNotPermitted(PROTECTED_MESSAGE.format(image_id=ami_id))
        return original(self, ami_id)

    return deregister_image


def _known_image_first(original):
    """DescribeImageAttribute of an unknown or deregistered image is InvalidAMIID.*, not a crash."""

    def describe_image_attribute(self, ami_id: str, attribute_name: str):
        _image(self, ami_id)
        return original(self, ami_id, attribute_name)

    return describe_image_attribute


def _public_images_owned(backend) -> int:
    return sum(1 for ami in backend.amis.values() if ami.owner_id == backend.account_id and ami.is_public)


def _refuse_new_public_sharing(backend) -> None:
    if _block_state(backend) == BLOCK_NEW_SHARING:
        raise OperationNotPermitted(BLOCKED_MESSAGE)
    quota = public_image_quota(backend.region_name, backend.account_id)
    if _public_images_owned(backend) >= quota:
        raise EC2ClientError("ResourceLimitExceeded", QUOTA_MESSAGE.format(quota=quota))


def _guard_public_sharing(original):
    """Making an image public passes block public access and the Public AMIs quota first; an
    image that is public already stays so (block public access only blocks new sharing)."""

    def modify_image_attribute(self, ami_id, launch_permissions_to_add, launch_permissions_to_remove):
        if PUBLIC in launch_permissions_to_add and not _image(self, ami_id).is_public:
            _refuse_new_public_sharing(self)
        return original(self, ami_id, launch_permissions_to_add, launch_permissions_to_remove)

    return modify_image_attribute


def _public_image_quota(backend: ServiceQuotasBackend) -> dict:
    region, account = backend.region_name, backend.account_id
    return {
        "ServiceCode": "ec2",
        "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
        "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:ec2/{PUBLIC_IMAGE_QUOTA_CODE}",
        "QuotaCode": PUBLIC_IMAGE_QUOTA_CODE,
        "QuotaName": "Public AMIs",
        "Value": float(public_image_quota(region, account)),
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }


def _answer_public_image_quota(original):
    def get_service_quota(self, service_code: str, quota_code: str) -> dict:
        if (service_code, quota_code) == ("ec2", PUBLIC_IMAGE_QUOTA_CODE):
            return _public_image_quota(self)
        return original(self, service_code, quota_code)

    return get_service_quota


_EC2_ACTIONS = (get_image_block_public_access_state, enable_image_block_public_access,
                disable_image_block_public_access, enable_image_deprecation, disable_image_deprecation,
                enable_image_deregistration_protection, disable_image_deregistration_protection)


def install() -> None:
    """Patch moto's classes once per process; later calls do nothing."""
    global _installed
    with _lock:
        if _installed:
            return
        # moto dispatches an EC2 action to the response method of the action's snake_case name.
        for action in _EC2_ACTIONS:
            setattr(AmisResponse, action.__name__, action)
        AvailabilityZonesAndRegions.describe_regions = describe_regions
        AmiBackend.modify_image_attribute = _guard_public_sharing(AmiBackend.modify_image_attribute)
        AmiBackend.deregister_image = _refuse_protected(AmiBackend.deregister_image)
        AmiBackend.describe_image_attribute = _known_image_first(AmiBackend.describe_image_attribute)
        ServiceQuotasBackend.get_service_quota = _answer_public_image_quota(ServiceQuotasBackend.get_service_quota)
        _installed = True
