"""Tags that name what a release created, so cleanup and the sweeper can find it; and the
stream's own tags, which its images and snapshots carry beside them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from chalicelib.core.arch import Arch

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import FilterTypeDef, TagTypeDef

RELEASE = "atomic-release:release"
STREAM = "atomic-release:stream"
ARCH = "atomic-release:arch"
ROLE = "atomic-release:role"
NAME = "Name"
OUR_PREFIX = "atomic-release:"
TAGS_PER_RESOURCE = 50  # EC2's limit
OUR_TAGS_AT_MOST = 5  # release_tags on an image or snapshot
# AWS's rules for tags on any service: EC2 alone is laxer, but a key others refuse would not follow the image.
_TAG_CHARACTERS = re.compile(r"^[\w\s.:/=+\-@]*$")


def user_tag_problems(tags: Mapping[str, str]) -> list[str]:
    """Why a stream's tags cannot go beside the release's own on an image, if they cannot."""
    problems = []
    if len(tags) > TAGS_PER_RESOURCE - OUR_TAGS_AT_MOST:
        problems.append(f"{len(tags)} tags; an image has room for {TAGS_PER_RESOURCE - OUR_TAGS_AT_MOST} beside "
                        f"the release's own")
    for key, value in tags.items():
        if key == NAME or key.startswith(OUR_PREFIX):
            problems.append(f"{key!r} is atomic-release's own tag")
        elif key.lower().startswith("aws:"):
            problems.append(f"{key!r}: the aws: prefix is AWS's own")
        if not 1 <= len(key) <= 128 or not key.strip():
            problems.append(f"{key!r}: a key takes 1 to 128 characters, not all blank")
        if len(value) > 256:
            problems.append(f"{key!r}: a value takes at most 256 characters")
        for what, text in (("key", key), ("value", value)):
            if not _TAG_CHARACTERS.match(text):
                problems.append(f"{key!r}: the {what} has characters tags do not take (letters, digits, spaces "
                                "and _ . : / = + - @ only)")
    return problems


def release_tags(release_id: str, stream: str, arch: Arch, role: str) -> list[dict[str, str]]:
    return [
        {"Key": RELEASE, "Value": release_id},
        {"Key": STREAM, "Value": stream},
        {"Key": ARCH, "Value": arch},
        {"Key": ROLE, "Value": role},
        {"Key": NAME, "Value": f"{release_id}-{arch}-{role}"},
    ]


def image_tags(release_id: str, stream: str, arch: Arch, user_tags: Mapping[str, str]) -> list[dict[str, str]]:
    """An image's and its snapshots' tags: the release's, then the stream's own."""
    return [*release_tags(release_id, stream, arch, "image"),
            *({"Key": key, "Value": value} for key, value in sorted(user_tags.items()))]


def tag_specifications(tags: list[dict[str, str]], *resource_types: str) -> list[dict]:
    return [{"ResourceType": kind, "Tags": tags} for kind in resource_types]


def release_filters(release_id: str, arch: Arch | None = None, role: str | None = None) -> list[FilterTypeDef]:
    filters: list[FilterTypeDef] = [{"Name": f"tag:{RELEASE}", "Values": [release_id]}]
    if arch:
        filters.append({"Name": f"tag:{ARCH}", "Values": [arch]})
    if role:
        filters.append({"Name": f"tag:{ROLE}", "Values": [role]})
    return filters


def as_dict(tags: Sequence[TagTypeDef] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}
