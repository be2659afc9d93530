"""What Marketplace checks once a change set is APPLYING (reported through DescribeChangeSet), and
the version a change adds when its change set succeeds."""

from moto.moto_api._internal import mock_random

from atomic_release.local.marketplace_catalog.constants import (
    AMI_NOT_SHARED_WITH_ACCESS_ROLE,
    DUPLICATE_VERSION_TITLE,
    INVALID_ACCESS_ROLE_ARN,
    INVALID_AMI_ID,
    INVALID_PRODUCT,
    OPEN_VISIBILITIES,
    REGION,
)
from atomic_release.local.marketplace_catalog.entities import Change, Product
from atomic_release.local.marketplace_catalog.shapes import ami_sources
from atomic_release.local.marketplace_catalog.utils import error_detail, present


def _ami_source(change: Change) -> dict:
    return ami_sources(change.details)[0]


def _find_image(ami_id: str, preferred_account: str):
    """The AMI in us-east-1, in whichever account holds it (the access role's account first).
    AmiSource names no Region and the Catalog API lives in us-east-1 only, so Marketplace is
    modeled as reading the AMI there."""
    from moto.ec2.models import ec2_backends

    accounts = sorted(list(ec2_backends.items()), key=lambda item: item[0] != preferred_account)
    for _, account_backends in accounts:
        backend = dict.get(account_backends, REGION)
        if backend is not None and ami_id in backend.amis:
            return backend.amis[ami_id]
    return None


def _usable_by(image, account_id: str) -> bool:
    return image.owner_id == account_id or image.is_public or {"UserId": account_id} in image.launch_permissions


def _role_exists(role_arn: str) -> bool:
    """Looked up without creating the account's IAM backend (which loads every managed policy)."""
    from moto.iam.models import NotFoundException, iam_backends

    account_backends = dict.get(iam_backends, role_arn.split(":")[4])
    backend = dict.get(account_backends, "aws") if account_backends is not None else None
    if backend is None:
        return False
    try:
        backend.get_role_by_arn(role_arn)
    except NotFoundException:
        return False
    return True


def _image_facts(image) -> dict:
    return present({"Architecture": image.architecture, "VirtualizationType": image.virtualization_type})


def marketplace_findings(change: Change, product: Product) -> list[dict]:
    source = _ami_source(change)
    ami_id, role_arn = source["AmiId"], source["AccessRoleArn"]
    role_account = role_arn.split(":")[4]
    findings = []
    if product.visibility not in OPEN_VISIBILITIES:
        findings.append(error_detail(*INVALID_PRODUCT))
    image = _find_image(ami_id, role_account)
    if image is None or image.state != "available":
        findings.append(error_detail(INVALID_AMI_ID, f"The AMI {ami_id} is not an available image in {REGION}."))
    elif not _usable_by(image, role_account):
        findings.append(error_detail(AMI_NOT_SHARED_WITH_ACCESS_ROLE,
                                     f"The AMI {ami_id} belongs to account {image.owner_id} and is not shared with "
                                     f"account {role_account} of the access role {role_arn}."))
    if image is not None:
        change.image = _image_facts(image)
    if not _role_exists(role_arn):
        findings.append(error_detail(INVALID_ACCESS_ROLE_ARN, f"The access role {role_arn} does not exist in IAM."))
    title = change.details["Version"]["VersionTitle"]
    if any(version["VersionTitle"] == title for version in product.versions):
        findings.append(error_detail(*DUPLICATE_VERSION_TITLE))
    return findings


def new_version(change: Change, product: Product, now: str) -> dict:
    """The version AddDeliveryOptions adds, shaped like AWS's AmiProduct entity: one source (the
    AMI) and the delivery options that deliver it."""
    source = _ami_source(change)
    source_id = str(mock_random.uuid4())
    if not change.image:
        image = _find_image(source["AmiId"], source["AccessRoleArn"].split(":")[4])
        change.image = _image_facts(image) if image is not None else {}
    operating_system = present({"Name": source["OperatingSystemName"], "Version": source["OperatingSystemVersion"],
                                "Username": source["UserName"], "ScanningPort": source.get("ScanningPort")})
    version = change.details["Version"]
    return {
        "Id": str(mock_random.uuid4()),
        "VersionTitle": version["VersionTitle"],
        "ReleaseNotes": version["ReleaseNotes"],
        "CreationDate": now,
        "Sources": [{"Id": source_id, "Type": "AmazonMachineImage", "Image": source["AmiId"], **change.image,
                     "OperatingSystem": operating_system}],
        "DeliveryOptions": [_delivery_option(option["Details"]["AmiDeliveryOptionDetails"], source_id, product)
                            for option in change.details["DeliveryOptions"]],
    }


def _delivery_option(details: dict, source_id: str, product: Product) -> dict:
    security_groups = [{"Protocol": group["IpProtocol"], "FromPort": group["FromPort"], "ToPort": group["ToPort"],
                        "CidrIps": list(group["IpRanges"])} for group in details["SecurityGroups"]]
    return {"Id": str(mock_random.uuid4()), "Type": "AmazonMachineImage", "SourceId": source_id,
            "Visibility": product.visibility, "Instructions": {"Usage": details["UsageInstructions"]},
            "Recommendations": {"InstanceType": details["RecommendedInstanceType"], "SecurityGroups": security_groups}}

