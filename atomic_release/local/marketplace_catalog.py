"""The AWS Marketplace Catalog API as far as a release uses it: ``AddDeliveryOptions`` change sets
that add a version to an AMI product. moto 5.2.5 has no ``marketplace-catalog`` service; this
module is one, which ``install()`` registers with moto so that plain boto3 calls reach it.

What AWS refuses when StartChangeSet is called (a malformed request, an unknown product, a product
locked by a change set in flight) fails that call here too. What Marketplace finds later (the
AMI, its sharing, the access role, the version title, the product's visibility) shows as a FAILED
change set in DescribeChangeSet. Each DescribeChangeSet moves a change set one step, PREPARING ->
APPLYING -> SUCCEEDED or FAILED, unless its product is held (``hold``); ListChangeSets only looks.

State lives on this service's moto backend objects, one per account. moto's reset, which every
new ``mock_aws`` runs, drops them as it drops every other service's, so nothing outlives a context.
Operation, field and error names follow botocore's model of the service (marketplace-catalog
2018-09-17) and AWS's published DetailsDocument shapes for AmiProduct@1.0."""

import base64
import copy
import ipaddress
import itertools
import json
import operator
import re
import string
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import moto.backend_index
import moto.backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random

SERVICE = "marketplace-catalog"
# The Catalog API has one endpoint, in us-east-1; a client of another Region finds no service.
REGION = "us-east-1"
SERVICE_URL = r"https?://catalog\.marketplace\.us-east-1\.amazonaws\.com"
CATALOG = "AWSMarketplace"
ENTITY_TYPE = "AmiProduct@1.0"
LISTED_ENTITY_TYPE = "AmiProduct"
# The other types ListEntities documents: valid to ask for, and none of them exists locally.
OTHER_ENTITY_TYPES = ("ContainerProduct", "DataProduct", "SaaSProduct", "ProcurementPolicy", "Experience", "Audience",
                      "BrandingSettings", "Offer", "OfferSet", "Seller", "ResaleAuthorization", "Solution",
                      "SubsidiaryAuthorization")
CHANGE_TYPE = "AddDeliveryOptions"
INTENTS = ("APPLY", "VALIDATE")

PREPARING, APPLYING, SUCCEEDED, FAILED, CANCELLED = "PREPARING", "APPLYING", "SUCCEEDED", "FAILED", "CANCELLED"
STATUSES = (PREPARING, APPLYING, SUCCEEDED, FAILED, CANCELLED)
IN_FLIGHT = (PREPARING, APPLYING)
VISIBILITIES = ("Limited", "Public", "Restricted", "Draft")  # AmiProductVisibilityString in the model
OPEN_VISIBILITIES = ("Public", "Limited")

# Documented by AWS ("Errors in the AMI products API" of the Catalog API reference), code and message.
INVALID_PRODUCT = ("INVALID_PRODUCT", "Use an existing limited or public product.")
DUPLICATE_VERSION_TITLE = ("DUPLICATE_VERSION_TITLE",
                           "The version title must be different from any other version titles of this product.")
# Modeled: AWS documents no code for these findings, so codes and messages are this module's own.
INVALID_AMI_ID = "INVALID_AMI_ID"
AMI_NOT_SHARED_WITH_ACCESS_ROLE = "AMI_NOT_SHARED_WITH_ACCESS_ROLE"
INVALID_ACCESS_ROLE_ARN = "INVALID_ACCESS_ROLE_ARN"
CLIENT_ERROR = "CLIENT_ERROR"
# Modeled as well: AWS's wording of FailureDescription is not documented.
FAILURE_DESCRIPTION = "The change set failed: the ErrorDetailList of its changes says why."

_TIME = re.compile(r"^\d{4}-(1[0-2]|0[1-9])-(3[01]|0[1-9]|[12]\d)T(2[0-3]|[01]\d):[0-5]\d:[0-5]\dZ$")
_CHANGE_SET_NAME = re.compile(r"^[\w\s+=.:@-]{1,100}$")
_ID_ALPHABET = string.ascii_lowercase + string.digits
_DEFAULT_PAGE = 20

_installed = False
_lock = threading.Lock()


# Errors: their HTTP status and __type come from botocore's model (ValidationException 422,
# ResourceNotFoundException 404, ResourceInUseException 423), which moto's serializer reads by code.


class ValidationException(ServiceException):
    code = "ValidationException"

    def __init__(self, message: str, fields: list[dict] | None = None):
        super().__init__(message)
        self.validation_exception_field_list = fields or None


class ResourceNotFoundException(ServiceException):
    code = "ResourceNotFoundException"


class ResourceInUseException(ServiceException):
    code = "ResourceInUseException"


@dataclass(frozen=True)
class ChangeContext:
    """Which change of a request a problem is in: its index and what it names."""

    index: int
    entity_type: str | None
    entity_id: str | None
    change_type: str | None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: the JSON path of the field (inside its change, when it is
    in one) and what is wrong with it."""

    path: str
    says: str
    change: ChangeContext | None = None
    reason: str = "FieldValidationFailed"

    def __str__(self) -> str:
        where = f"ChangeSet[{self.change.index}].{self.path}" if self.change else self.path
        return f"{where}: {self.says}"

    def as_field(self) -> dict:
        """A ValidationExceptionField; Field is relative to the change, as in the model's example
        (``Details.DeliveryOptions[0].Type``)."""
        context = self.change
        return _present({"Reason": self.reason, "Field": self.path, "Message": self.says,
                         "EntityType": context and context.entity_type, "EntityId": context and context.entity_id,
                         "ChangeType": context and context.change_type})


def _refuse(problems: list[Problem]) -> None:
    if problems:
        raise ValidationException("; ".join(map(str, problems)), [problem.as_field() for problem in problems])


def _refuse_field(path: str, says: str) -> None:
    _refuse([Problem(path, says)])


# The DetailsDocument of AddDeliveryOptions, after AWS's published shapes for AmiProduct@1.0
# (AddDeliveryOptionsChangeDetail and what it holds); a key the shapes do not name is refused.


@dataclass(frozen=True)
class Text:
    max_length: int | None = None
    pattern: str | None = None
    # AWS's ``^\S+[\S\s]*``: not empty and not starting with whitespace.
    starts_with_text: bool = False
    choices: tuple[str, ...] = ()
    cidr: bool = False


@dataclass(frozen=True)
class Whole:
    low: int
    high: int


@dataclass(frozen=True)
class Items:
    item: object
    least: int
    most: int | None = None


@dataclass(frozen=True)
class Record:
    required: dict
    optional: dict = field(default_factory=dict)


PORT = Whole(1, 65535)
AMI_SOURCE = Record(
    required={
        "AmiId": Text(pattern=r"^ami-([a-zA-Z0-9]{8}|[a-zA-Z0-9]{17})$"),
        "AccessRoleArn": Text(pattern=r"^arn:aws:iam::\d{12}:role\/[a-zA-Z_0-9+=,.@\-_\/]+$"),
        "UserName": Text(100, pattern=r"^[\w\-_]+$"),
        "OperatingSystemName": Text(100, starts_with_text=True),
        "OperatingSystemVersion": Text(100, starts_with_text=True),
    },
    optional={"ScanningPort": PORT},
)
SECURITY_GROUP = Record(required={
    "IpProtocol": Text(choices=("tcp", "udp")),  # AWS: at most 3 characters, tcp or udp
    "FromPort": PORT,
    "ToPort": PORT,
    "IpRanges": Items(Text(cidr=True), 1, 5),
})
ACCESS_ENDPOINT_URL = Record(required={"Port": PORT, "Protocol": Text(5, starts_with_text=True)},
                             optional={"RelativePath": Text(2000, pattern=r"^(?!\/)\S+[\S\s]*")})
AMI_DELIVERY_OPTION_DETAILS = Record(
    required={
        "AmiSource": AMI_SOURCE,
        "UsageInstructions": Text(4000, starts_with_text=True),
        "RecommendedInstanceType": Text(pattern=r"^\S{1,24}$"),
        "SecurityGroups": Items(SECURITY_GROUP, 1, 25),
    },
    optional={"AccessEndpointUrl": ACCESS_ENDPOINT_URL},
)
ADD_DELIVERY_OPTIONS = Record(required={
    "Version": Record(required={"VersionTitle": Text(64, starts_with_text=True),
                                "ReleaseNotes": Text(30000, starts_with_text=True)}),
    "DeliveryOptions": Items(Record(required={"Details": Record(required={
        "AmiDeliveryOptionDetails": AMI_DELIVERY_OPTION_DETAILS})}), 1),
})


def _shape_problems(value, shape, path: str) -> Iterator[tuple[str, str]]:
    """Every (path, what is wrong) of ``value`` against ``shape``."""
    yield from _CHECKS[type(shape)](value, shape, path)


def _record_problems(value, shape: Record, path: str) -> Iterator[tuple[str, str]]:
    if not isinstance(value, dict):
        yield path, "must be an object"
        return
    for key, member in shape.required.items():
        if value.get(key) is None:
            yield f"{path}.{key}", "required"
        else:
            yield from _shape_problems(value[key], member, f"{path}.{key}")
    for key, member in shape.optional.items():
        if value.get(key) is not None:
            yield from _shape_problems(value[key], member, f"{path}.{key}")
    for key in value.keys() - shape.required.keys() - shape.optional.keys():
        yield f"{path}.{key}", "unknown field"


def _items_problems(value, shape: Items, path: str) -> Iterator[tuple[str, str]]:
    if not isinstance(value, list):
        yield path, "must be a list"
        return
    if len(value) < shape.least:
        yield path, f"needs at least {shape.least} item(s)"
    if shape.most is not None and len(value) > shape.most:
        yield path, f"takes at most {shape.most} items"
    for index, item in enumerate(value):
        yield from _shape_problems(item, shape.item, f"{path}[{index}]")


def _text_problems(value, shape: Text, path: str) -> Iterator[tuple[str, str]]:
    if not isinstance(value, str):
        yield path, "must be a string"
        return
    if shape.choices:
        if value not in shape.choices:
            yield path, f"must be one of {', '.join(shape.choices)}"
        return
    if shape.starts_with_text and (not value or value[0].isspace()):
        yield path, "must not be empty or start with whitespace"
    if shape.max_length is not None and len(value) > shape.max_length:
        yield path, f"takes at most {shape.max_length} characters"
    if shape.pattern and not re.match(shape.pattern, value):
        yield path, f"must match {shape.pattern}"
    if shape.cidr and not _is_cidr(value):
        yield path, "must be a CIDR block such as 0.0.0.0/0"


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


def _whole_problems(value, shape: Whole, path: str) -> Iterator[tuple[str, str]]:
    if not isinstance(value, int) or isinstance(value, bool):
        yield path, "must be an integer"
    elif not shape.low <= value <= shape.high:
        yield path, f"must be from {shape.low} to {shape.high}"


_CHECKS = {Record: _record_problems, Items: _items_problems, Text: _text_problems, Whole: _whole_problems}


def _ami_sources(document: dict) -> list:
    return [option.get("Details", {}).get("AmiDeliveryOptionDetails", {}).get("AmiSource")
            for option in document.get("DeliveryOptions", [])]


def _shared_source_problems(document: dict, path: str) -> Iterator[tuple[str, str]]:
    """AWS: all delivery options in the same version must have the same AmiSource object."""
    sources = _ami_sources(document)
    for index, source in enumerate(sources[1:], start=1):
        if source != sources[0]:
            yield (f"{path}.DeliveryOptions[{index}].Details.AmiDeliveryOptionDetails.AmiSource",
                   "must equal DeliveryOptions[0]'s AmiSource: all delivery options of one version share one AmiSource")


# What the catalog holds.


@dataclass
class Product:
    """An AmiProduct entity: what a seller already has, and the versions change sets added."""

    product_id: str
    title: str
    visibility: str
    arn: str
    last_modified: str
    sequence: int
    versions: list[dict] = field(default_factory=list)

    def details_document(self) -> dict:
        return {"Description": {"ProductTitle": self.title, "Visibility": self.visibility},
                "Versions": copy.deepcopy(self.versions)}

    def description(self) -> dict:
        document = self.details_document()
        return {"EntityType": ENTITY_TYPE, "EntityIdentifier": f"{self.product_id}@1", "EntityArn": self.arn,
                "LastModifiedDate": self.last_modified, "Details": json.dumps(document), "DetailsDocument": document}

    def summary(self) -> dict:
        return {"Name": self.title, "EntityType": LISTED_ENTITY_TYPE, "EntityId": self.product_id,
                "EntityArn": self.arn, "LastModifiedDate": self.last_modified, "Visibility": self.visibility,
                "AmiProductSummary": {"ProductTitle": self.title, "Visibility": self.visibility}}


@dataclass
class Change:
    """One change of a change set, as sent, and what became of it."""

    change_type: str
    entity: dict
    product_id: str
    details: dict
    sent: dict
    name: str | None = None
    findings: list[dict] = field(default_factory=list)
    scripted: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    image: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return _present({"ChangeType": self.change_type, "Entity": dict(self.entity), **copy.deepcopy(self.sent),
                         "ErrorDetailList": list(self.errors), "ChangeName": self.name})


@dataclass
class ChangeSet:
    change_set_id: str
    arn: str
    name: str
    intent: str
    start_time: str
    changes: list[Change]
    sequence: int
    tags: list[dict]
    status: str = PREPARING
    end_time: str | None = None
    failure_code: str | None = None
    failure_description: str | None = None

    @property
    def entity_ids(self) -> list[str]:
        return list(dict.fromkeys(change.product_id for change in self.changes))

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    def description(self) -> dict:
        return _present({
            "ChangeSetId": self.change_set_id, "ChangeSetArn": self.arn, "ChangeSetName": self.name,
            "Intent": self.intent, "StartTime": self.start_time, "EndTime": self.end_time, "Status": self.status,
            "FailureCode": self.failure_code, "FailureDescription": self.failure_description,
            "ChangeSet": [change.summary() for change in self.changes],
        })

    def summary(self) -> dict:
        return _present({
            "ChangeSetId": self.change_set_id, "ChangeSetArn": self.arn, "ChangeSetName": self.name,
            "StartTime": self.start_time, "EndTime": self.end_time, "Status": self.status,
            "EntityIdList": self.entity_ids, "FailureCode": self.failure_code,
        })


def _present(values: dict) -> dict:
    return {key: value for key, value in values.items() if value is not None}


def _now() -> str:
    return utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_change_set_id() -> str:
    """Like the ids AWS gives: 25 lowercase letters and digits."""
    return "".join(mock_random.choice(_ID_ALPHABET) for _ in range(25))


def _bare_id(identifier: str) -> str:
    """An entity identifier may carry a revision (``prod-x@1``); the entity is ``prod-x``."""
    return identifier.split("@", 1)[0]


# Reading a StartChangeSet request.


def _check_catalog(catalog: str | None) -> None:
    # ValidationException rather than ResourceNotFoundException: the model documents Catalog as a
    # parameter with a fixed value (AWSMarketplace), so any other value is a malformed request.
    if catalog != CATALOG:
        _refuse_field("Catalog", f"'{catalog}' is not a catalog: the only catalog is {CATALOG}")


def _request_problems(name: str | None, intent: str, changes: list) -> list[Problem]:
    problems = []
    if name is not None and not _CHANGE_SET_NAME.match(name):
        problems.append(Problem("ChangeSetName", r"must be 1 to 100 characters of [\w\s+=.:@-]"))
    if intent not in INTENTS:
        problems.append(Problem("Intent", f"must be one of {', '.join(INTENTS)}"))
    if not 1 <= len(changes) <= 20:
        problems.append(Problem("ChangeSet", "takes 1 to 20 changes"))
    return problems


def _read_change(index: int, raw: dict, problems: list[Problem]) -> Change:
    """The change as this catalog keeps it; whatever is wrong with it goes to ``problems``."""
    entity = raw.get("Entity") or {}
    context = ChangeContext(index, entity.get("Type"), entity.get("Identifier"), raw.get("ChangeType"))
    found: list[tuple[str, str, str]] = []
    if context.change_type != CHANGE_TYPE:
        found.append(("ChangeType", f"the local catalog does not implement change type '{context.change_type}': "
                                    f"it implements {CHANGE_TYPE} only", "UnknownOperation"))
    if context.entity_type != ENTITY_TYPE:
        found.append(("Entity.Type", f"must be {ENTITY_TYPE}, the only entity type {CHANGE_TYPE} applies to",
                      "FieldValidationFailed"))
    if not context.entity_id:
        found.append(("Entity.Identifier", "required", "FieldValidationFailed"))
    details, sent = _read_details(raw, found)
    if details is not None and context.change_type == CHANGE_TYPE:
        key = next(iter(sent))
        shape_problems = list(_shape_problems(details, ADD_DELIVERY_OPTIONS, key))
        if not shape_problems:
            shape_problems = list(_shared_source_problems(details, key))
        found += [(path, says, "FieldValidationFailed") for path, says in shape_problems]
    problems += [Problem(path, says, context, reason) for path, says, reason in found]
    return Change(change_type=context.change_type, entity=dict(entity), product_id=_bare_id(context.entity_id or ""),
                  details=details or {}, sent=sent, name=raw.get("ChangeName"))


def _read_details(raw: dict, found: list) -> tuple[dict | None, dict]:
    """The change's details, from exactly one of Details (a JSON string) and DetailsDocument."""
    has_string, has_document = raw.get("Details") is not None, raw.get("DetailsDocument") is not None
    if has_string and has_document:
        found.append(("DetailsDocument", "give Details or DetailsDocument, not both", "FieldValidationFailed"))
        return None, {}
    if has_document:
        return raw["DetailsDocument"], {"DetailsDocument": raw["DetailsDocument"]}
    if not has_string:
        found.append(("DetailsDocument", "required (or Details)", "FieldValidationFailed"))
        return None, {}
    try:
        return json.loads(raw["Details"]), {"Details": raw["Details"]}
    except ValueError as error:
        found.append(("Details", f"is not JSON: {error}", "CannotParse"))
        return None, {"Details": raw["Details"]}


def _repeated_changes(changes: list[Change]) -> list[Problem]:
    """AWS: within a single change set, you can't start the same change type against the same
    entity multiple times."""
    problems, seen = [], {}
    for index, change in enumerate(changes):
        key = (change.change_type, change.product_id)
        if key in seen:
            context = ChangeContext(index, change.entity.get("Type"), change.entity.get("Identifier"),
                                    change.change_type)
            problems.append(Problem("ChangeType", f"{change.change_type} against entity '{change.product_id}' is "
                                                  f"already ChangeSet[{seen[key]}]: a change set runs a change type "
                                                  "once per entity", context))
        seen.setdefault(key, index)
    return problems


# What Marketplace checks once a change set is APPLYING (reported through DescribeChangeSet).


def _error(code: str, message: str) -> dict:
    return {"ErrorCode": code, "ErrorMessage": message}


def _ami_source(change: Change) -> dict:
    return _ami_sources(change.details)[0]


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
    return _present({"Architecture": image.architecture, "VirtualizationType": image.virtualization_type})


def _findings(change: Change, product: Product) -> list[dict]:
    source = _ami_source(change)
    ami_id, role_arn = source["AmiId"], source["AccessRoleArn"]
    role_account = role_arn.split(":")[4]
    findings = []
    if product.visibility not in OPEN_VISIBILITIES:
        findings.append(_error(*INVALID_PRODUCT))
    image = _find_image(ami_id, role_account)
    if image is None or image.state != "available":
        findings.append(_error(INVALID_AMI_ID, f"The AMI {ami_id} is not an available image in {REGION}."))
    elif not _usable_by(image, role_account):
        findings.append(_error(AMI_NOT_SHARED_WITH_ACCESS_ROLE,
                               f"The AMI {ami_id} belongs to account {image.owner_id} and is not shared with "
                               f"account {role_account} of the access role {role_arn}."))
    if image is not None:
        change.image = _image_facts(image)
    if not _role_exists(role_arn):
        findings.append(_error(INVALID_ACCESS_ROLE_ARN, f"The access role {role_arn} does not exist in IAM."))
    title = change.details["Version"]["VersionTitle"]
    if any(version["VersionTitle"] == title for version in product.versions):
        findings.append(_error(*DUPLICATE_VERSION_TITLE))
    return findings


def _new_version(change: Change, product: Product, now: str) -> dict:
    """The version AddDeliveryOptions adds, shaped like AWS's AmiProduct entity: one source (the
    AMI) and the delivery options that deliver it."""
    source = _ami_source(change)
    source_id = str(mock_random.uuid4())
    if not change.image:
        image = _find_image(source["AmiId"], source["AccessRoleArn"].split(":")[4])
        change.image = _image_facts(image) if image is not None else {}
    operating_system = _present({"Name": source["OperatingSystemName"], "Version": source["OperatingSystemVersion"],
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


# Listing: filters, sorting and pages.


_TIME_FILTERS = {
    "BeforeStartTime": ("start_time", operator.le),
    "AfterStartTime": ("start_time", operator.ge),
    "BeforeEndTime": ("end_time", operator.le),
    "AfterEndTime": ("end_time", operator.ge),
}
_CHANGE_SET_FILTERS = ("ChangeSetName", "Status", "EntityId", *_TIME_FILTERS)
_CHANGE_SET_SORT_KEYS = {"StartTime": "start_time", "EndTime": "end_time", "Status": "status",
                         "ChangeSetName": "name", "Name": "name", "ChangeSetId": "change_set_id"}
_ENTITY_SORT_KEYS = {"LastModifiedDate": "last_modified", "EntityId": "product_id", "ProductTitle": "title",
                     "Visibility": "visibility"}


def _filter_values(raw: dict) -> tuple[str, list[str]]:
    name, values = raw.get("Name"), raw.get("ValueList") or []
    if not values:
        _refuse_field("FilterList", f"filter {name} needs a ValueList of at least one value")
    return name, values


def _change_set_filter(raw: dict) -> Callable[[ChangeSet], bool]:
    """One filter of ListChangeSets: any of its values matches (filters match all together).
    The time filters compare inclusively, as the model's date ranges do elsewhere."""
    name, values = _filter_values(raw)
    if name == "ChangeSetName":
        return lambda change_set: change_set.name in values
    if name == "EntityId":
        return lambda change_set: any(entity_id in values for entity_id in change_set.entity_ids)
    if name == "Status":
        if unknown := [value for value in values if value not in STATUSES]:
            _refuse_field("FilterList", f"Status {unknown} is not a status: use {', '.join(STATUSES)}")
        return lambda change_set: change_set.status in values
    if name in _TIME_FILTERS:
        if len(values) != 1 or not _TIME.match(values[0]):
            _refuse_field("FilterList", f"{name} takes one time such as 2018-02-27T13:45:22Z")
        attribute, compare = _TIME_FILTERS[name]
        return lambda change_set: (getattr(change_set, attribute) is not None
                                   and compare(getattr(change_set, attribute), values[0]))
    _refuse_field("FilterList", f"ListChangeSets filters by {', '.join(_CHANGE_SET_FILTERS)}, not '{name}'")


def _sorted(items: list, sort: dict | None, keys: dict[str, str], default: str) -> list:
    """Sorted by the requested attribute, DESCENDING unless asked (the model's default); items
    without that attribute (no EndTime yet) come last, ties in the order they were made."""
    sort = sort or {}
    by, order = sort.get("SortBy", default), sort.get("SortOrder", "DESCENDING")
    if by not in keys:
        _refuse_field("Sort.SortBy", f"must be one of {', '.join(keys)}")
    if order not in ("ASCENDING", "DESCENDING"):
        _refuse_field("Sort.SortOrder", "must be ASCENDING or DESCENDING")
    attribute = keys[by]
    present = [item for item in items if getattr(item, attribute) is not None]
    absent = [item for item in items if getattr(item, attribute) is None]
    ordered = sorted(present, key=lambda item: (getattr(item, attribute), item.sequence),
                     reverse=order == "DESCENDING")
    return ordered + absent


def _page(items: list, max_results: int | None, next_token: str | None, most: int) -> tuple[list, str | None]:
    size = _DEFAULT_PAGE if max_results is None else max_results
    if not 1 <= size <= most:
        _refuse_field("MaxResults", f"must be from 1 to {most}")
    start = _offset(next_token) if next_token else 0
    end = start + size
    return items[start:end], (_token(end) if end < len(items) else None)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str) -> int:
    try:
        kind, offset = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if kind == "offset" and int(offset) >= 0:
            return int(offset)
    except ValueError:
        pass
    _refuse_field("NextToken", "is not a token this catalog gave: pass the NextToken of the previous page")


# The backend: one per account (and us-east-1, the Catalog API's only Region).


class MarketplaceCatalogBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.lock = threading.RLock()
        self.products: dict[str, Product] = {}
        self.change_sets: dict[str, ChangeSet] = {}
        self.change_sets_by_token: dict[str, str] = {}
        self.held: set[str] = set()
        self.scripted_failures: dict[str, dict] = {}
        self._sequence = itertools.count()

    @property
    def urls(self) -> dict:
        return {f"{SERVICE_URL}/[A-Za-z]+$": MarketplaceCatalogResponse.dispatch}

    def _arn(self, resource: str) -> str:
        return f"arn:aws:aws-marketplace:{REGION}:{self.account_id}:{CATALOG}/{resource}"

    def _product(self, product_id: str) -> Product:
        if product_id not in self.products:
            raise ResourceNotFoundException(f"The entity '{product_id}' does not exist in the {CATALOG} catalog of "
                                            f"account {self.account_id}.")
        return self.products[product_id]

    def _change_set(self, change_set_id: str) -> ChangeSet:
        if change_set_id not in self.change_sets:
            raise ResourceNotFoundException(f"The change set '{change_set_id}' does not exist in the {CATALOG} "
                                            f"catalog of account {self.account_id}.")
        return self.change_sets[change_set_id]

    # The operations.

    def start_change_set(self, catalog: str, changes: list[dict], name: str | None = None, token: str | None = None,
                         tags: list[dict] | None = None, intent: str | None = None) -> ChangeSet:
        with self.lock:
            _check_catalog(catalog)
            intent = intent or "APPLY"
            problems = _request_problems(name, intent, changes)
            read = [_read_change(index, raw, problems) for index, raw in enumerate(changes)]
            _refuse(problems + _repeated_changes(read))
            if token in self.change_sets_by_token:
                return self.change_sets[self.change_sets_by_token[token]]
            for change in read:
                self._product(change.product_id)
            self._refuse_locked(read)
            return self._create(read, name, token, tags or [], intent)

    def _refuse_locked(self, changes: list[Change]) -> None:
        """AWS: when a change set is running, all the entities targeted by its changes are locked
        until it has completed (succeeded, cancelled or failed)."""
        for entity_id in dict.fromkeys(change.product_id for change in changes):
            locking = [change_set.change_set_id for change_set in self.change_sets.values()
                       if change_set.in_flight and entity_id in change_set.entity_ids]
            if locking:
                raise ResourceInUseException("Requested change set has entities locked by change sets - entity: "
                                             f"'{entity_id}', change sets: '{','.join(locking)}'.")

    def _create(self, changes: list[Change], name: str | None, token: str | None, tags: list[dict],
                intent: str) -> ChangeSet:
        change_set_id = _new_change_set_id()
        # AWS names an unnamed change set itself, in an undocumented form: here, by its id.
        change_set = ChangeSet(change_set_id=change_set_id, arn=self._arn(f"ChangeSet/{change_set_id}"),
                               name=name or change_set_id, intent=intent, start_time=_now(), changes=changes,
                               sequence=next(self._sequence), tags=tags)
        for change in changes:
            if scripted := self.scripted_failures.pop(change.product_id, None):
                change.scripted.append(scripted)
        self.change_sets[change_set_id] = change_set
        if token:
            self.change_sets_by_token[token] = change_set_id
        return change_set

    def describe_change_set(self, catalog: str, change_set_id: str) -> ChangeSet:
        with self.lock:
            _check_catalog(catalog)
            change_set = self._change_set(change_set_id)
            self._advance(change_set)
            return change_set

    def list_change_sets(self, catalog: str, filters: list[dict] | None = None, sort: dict | None = None,
                         max_results: int | None = None, next_token: str | None = None) -> tuple[list, str | None]:
        with self.lock:
            _check_catalog(catalog)
            matches = [_change_set_filter(raw) for raw in filters or []]
            found = [change_set for change_set in self.change_sets.values()
                     if all(match(change_set) for match in matches)]
            ordered = _sorted(found, sort, _CHANGE_SET_SORT_KEYS, "StartTime")
            page, token = _page(ordered, max_results, next_token, most=20)
            return [change_set.summary() for change_set in page], token

    def cancel_change_set(self, catalog: str, change_set_id: str) -> ChangeSet:
        """The model: "Must be sent before the status of the request changes to APPLYING, the
        final stage of completing your change request." A change set APPLYING or ended is in
        use for good, hence ResourceInUseException (one of CancelChangeSet's modeled errors)."""
        with self.lock:
            _check_catalog(catalog)
            change_set = self._change_set(change_set_id)
            if change_set.status == APPLYING:
                raise ResourceInUseException(f"Change set '{change_set_id}' is APPLYING and can no longer be "
                                             "cancelled: a change set is cancelled before it starts APPLYING.")
            if not change_set.in_flight:
                raise ResourceInUseException(f"Change set '{change_set_id}' has already ended "
                                             f"({change_set.status}) and cannot be cancelled.")
            self._end(change_set, CANCELLED)
            return change_set

    def describe_entity(self, catalog: str, entity_id: str) -> dict:
        with self.lock:
            _check_catalog(catalog)
            return self._product(_bare_id(entity_id)).description()

    def list_entities(self, catalog: str, entity_type: str, filters: list[dict] | None = None,
                      sort: dict | None = None, max_results: int | None = None, next_token: str | None = None,
                      ownership: str | None = None) -> tuple[list, str | None]:
        with self.lock:
            _check_catalog(catalog)
            if entity_type not in (LISTED_ENTITY_TYPE, *OTHER_ENTITY_TYPES):
                _refuse_field("EntityType", f"'{entity_type}' is not an entity type ListEntities lists")
            products = list(self.products.values()) if entity_type == LISTED_ENTITY_TYPE else []
            # Nothing is shared with an account through AWS RAM locally.
            products = [] if ownership == "SHARED" else products
            for raw in filters or []:
                name, values = _filter_values(raw)
                if name != "EntityId":
                    _refuse_field("FilterList", f"ListEntities filters by EntityId, not '{name}'")
                products = [product for product in products if product.product_id in values]
            ordered = _sorted(products, sort, _ENTITY_SORT_KEYS, "LastModifiedDate")
            page, token = _page(ordered, max_results, next_token, most=50)
            return [product.summary() for product in page], token

    # The change set's life.

    def _held(self, change_set: ChangeSet) -> bool:
        return any(entity_id in self.held for entity_id in change_set.entity_ids)

    def _advance(self, change_set: ChangeSet) -> None:
        if not change_set.in_flight or self._held(change_set):
            return
        if change_set.status == PREPARING:
            self._apply(change_set)
        elif any(change.findings or change.scripted for change in change_set.changes):
            self._fail(change_set, None)
        else:
            self._succeed(change_set)

    def _apply(self, change_set: ChangeSet) -> None:
        change_set.status = APPLYING
        for change in change_set.changes:
            change.findings = _findings(change, self.products[change.product_id])

    def _succeed(self, change_set: ChangeSet) -> None:
        self._end(change_set, SUCCEEDED)
        if change_set.intent == "APPLY":
            for change in change_set.changes:
                product = self.products[change.product_id]
                product.versions.append(_new_version(change, product, change_set.end_time))
                product.last_modified = change_set.end_time

    def _fail(self, change_set: ChangeSet, errors: list[dict] | None) -> None:
        for change in change_set.changes:
            change.errors = list(errors) if errors is not None else change.findings + change.scripted
        change_set.failure_code, change_set.failure_description = CLIENT_ERROR, FAILURE_DESCRIPTION
        self._end(change_set, FAILED)

    @staticmethod
    def _end(change_set: ChangeSet, status: str) -> None:
        change_set.status, change_set.end_time = status, _now()

    # What tests and the local runtime arrange (the module's public helpers).

    def add_product(self, product_id: str, title: str, visibility: str) -> None:
        with self.lock:
            if visibility not in VISIBILITIES:
                raise ValueError(f"visibility {visibility!r} is not one of {VISIBILITIES}")
            if product_id in self.products:
                raise ValueError(f"product {product_id} already exists in account {self.account_id}")
            self.products[product_id] = Product(product_id, title, visibility, self._arn(f"AmiProduct/{product_id}"),
                                                _now(), next(self._sequence))

    def known_product(self, product_id: str) -> Product:
        if product_id not in self.products:
            raise ValueError(f"product {product_id} does not exist in account {self.account_id}: add_product first")
        return self.products[product_id]

    def steer(self, change_set_id: str, status: str, errors: list[tuple[str, str]] | None) -> None:
        with self.lock:
            change_set = self.change_sets.get(change_set_id)
            if change_set is None:
                raise ValueError(f"change set {change_set_id} does not exist in account {self.account_id}")
            if not change_set.in_flight:
                raise ValueError(f"change set {change_set_id} has ended ({change_set.status}) and stays so")
            if status == APPLYING and change_set.status == PREPARING:
                self._apply(change_set)
            elif status == SUCCEEDED:
                self._succeed(change_set)
            elif status == FAILED:
                self._fail(change_set, None if errors is None else [_error(*error) for error in errors])
            elif status == CANCELLED:
                self._end(change_set, CANCELLED)
            else:
                raise ValueError(f"cannot steer change set {change_set_id} from {change_set.status} to {status}")


marketplace_catalog_backends = BackendDict(MarketplaceCatalogBackend, SERVICE)


class MarketplaceCatalogResponse(BaseResponse):
    """The REST-JSON side: moto routes by botocore's model, parses each request with it and
    serializes each answer and error with it."""

    def __init__(self) -> None:
        super().__init__(service_name=SERVICE)
        self.automated_parameter_parsing = True

    @property
    def catalog_backend(self) -> MarketplaceCatalogBackend:
        return marketplace_catalog_backends[self.current_account][REGION]

    def start_change_set(self) -> ActionResult:
        change_set = self.catalog_backend.start_change_set(
            self._get_param("Catalog"), self._get_param("ChangeSet") or [], name=self._get_param("ChangeSetName"),
            token=self._get_param("ClientRequestToken"), tags=self._get_param("ChangeSetTags"),
            intent=self._get_param("Intent"))
        return ActionResult({"ChangeSetId": change_set.change_set_id, "ChangeSetArn": change_set.arn})

    def describe_change_set(self) -> ActionResult:
        change_set = self.catalog_backend.describe_change_set(self._get_param("Catalog"),
                                                              self._get_param("ChangeSetId"))
        return ActionResult(change_set.description())

    def list_change_sets(self) -> ActionResult:
        summaries, token = self.catalog_backend.list_change_sets(
            self._get_param("Catalog"), self._get_param("FilterList"), self._get_param("Sort"),
            self._get_param("MaxResults"), self._get_param("NextToken"))
        return ActionResult(_present({"ChangeSetSummaryList": summaries, "NextToken": token}))

    def cancel_change_set(self) -> ActionResult:
        change_set = self.catalog_backend.cancel_change_set(self._get_param("Catalog"), self._get_param("ChangeSetId"))
        return ActionResult({"ChangeSetId": change_set.change_set_id, "ChangeSetArn": change_set.arn})

    def describe_entity(self) -> ActionResult:
        return ActionResult(self.catalog_backend.describe_entity(self._get_param("Catalog"),
                                                                 self._get_param("EntityId")))

    def list_entities(self) -> ActionResult:
        if self._get_param("EntityTypeFilters") or self._get_param("EntityTypeSort"):
            _refuse_field("EntityTypeFilters", "the local catalog does not implement EntityTypeFilters or "
                                               "EntityTypeSort: use FilterList and Sort")
        summaries, token = self.catalog_backend.list_entities(
            self._get_param("Catalog"), self._get_param("EntityType"), self._get_param("FilterList"),
            self._get_param("Sort"), self._get_param("MaxResults"), self._get_param("NextToken"),
            self._get_param("OwnershipType"))
        return ActionResult(_present({"EntitySummaryList": summaries, "NextToken": token}))


# Public helpers: each acts on the current mock's backend of the account.


def _backend(account_id: str) -> MarketplaceCatalogBackend:
    return marketplace_catalog_backends[account_id][REGION]


def add_product(product_id: str, title: str, visibility: str = "Public", account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """An AmiProduct entity the seller already has, without versions."""
    _backend(account_id).add_product(product_id, title, visibility)


def fail_next_change_set(product_id: str, code: str, message: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """The next change set started on the product ends FAILED (CLIENT_ERROR) with this error
    detail when it leaves APPLYING: a rejection Marketplace decides late, such as a failed scan."""
    backend = _backend(account_id)
    with backend.lock:
        backend.known_product(product_id)
        backend.scripted_failures[product_id] = _error(code, message)


def hold(product_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Change sets on the product stay where they are, however often they are described."""
    backend = _backend(account_id)
    with backend.lock:
        backend.known_product(product_id)
        backend.held.add(product_id)


def let_go(product_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Change sets on the product move on again with each DescribeChangeSet."""
    backend = _backend(account_id)
    with backend.lock:
        backend.known_product(product_id)
        backend.held.discard(product_id)


def steer(change_set_id: str, status: str, errors: list[tuple[str, str]] | None = None,
          account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Put a change set in flight straight into APPLYING (running Marketplace's checks),
    SUCCEEDED (adding the version when its intent is APPLY), FAILED (with ``errors`` as
    (code, message) pairs, or else what the checks found) or CANCELLED; ending unlocks its
    products."""
    _backend(account_id).steer(change_set_id, status, errors)


def versions(product_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[dict]:
    backend = _backend(account_id)
    with backend.lock:
        return copy.deepcopy(backend.known_product(product_id).versions)


def _answer_for_the_catalog(original):
    """moto finds a service's backends by name through ``moto.backends.get_backend``, which only
    knows moto's own packages."""

    def get_backend(name):
        if name == SERVICE:
            return marketplace_catalog_backends
        return original(name)

    return get_backend


def install() -> None:
    """Register the service with moto once per process; later calls do nothing. moto matches a
    request's URL against ``moto.backend_index.backend_url_patterns`` and then asks the service's
    backend for its ``urls``."""
    global _installed
    with _lock:
        if _installed:
            return
        moto.backend_index.backend_url_patterns.insert(0, (SERVICE, re.compile(SERVICE_URL)))
        moto.backends.get_backend = _answer_for_the_catalog(moto.backends.get_backend)
        _installed = True
