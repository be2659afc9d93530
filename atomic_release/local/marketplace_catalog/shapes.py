"""The DetailsDocument of AddDeliveryOptions, after AWS's published shapes for AmiProduct@1.0
(AddDeliveryOptionsChangeDetail and what it holds); a key the shapes do not name is refused."""

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


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


def shape_problems(value, shape, path: str) -> Iterator[tuple[str, str]]:
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
            yield from shape_problems(value[key], member, f"{path}.{key}")
    for key, member in shape.optional.items():
        if value.get(key) is not None:
            yield from shape_problems(value[key], member, f"{path}.{key}")
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
        yield from shape_problems(item, shape.item, f"{path}[{index}]")


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


_CHECKS: dict[type, Callable[[Any, Any, str], Iterator[tuple[str, str]]]] = {
    Record: _record_problems, Items: _items_problems, Text: _text_problems, Whole: _whole_problems}


def ami_sources(document: dict) -> list:
    return [option.get("Details", {}).get("AmiDeliveryOptionDetails", {}).get("AmiSource")
            for option in document.get("DeliveryOptions", [])]


def shared_source_problems(document: dict, path: str) -> Iterator[tuple[str, str]]:
    """AWS: all delivery options in the same version must have the same AmiSource object."""
    sources = ami_sources(document)
    for index, source in enumerate(sources[1:], start=1):
        if source != sources[0]:
            yield (f"{path}.DeliveryOptions[{index}].Details.AmiDeliveryOptionDetails.AmiSource",
                   "must equal DeliveryOptions[0]'s AmiSource: all delivery options of one version share one AmiSource")

