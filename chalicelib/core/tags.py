"""Tags that name what a release created, so cleanup and the sweeper can find it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from chalicelib.core.arch import Arch

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import FilterTypeDef, TagTypeDef

RELEASE = "atomic-release:release"
STREAM = "atomic-release:stream"
ARCH = "atomic-release:arch"
ROLE = "atomic-release:role"


def release_tags(release_id: str, stream: str, arch: Arch, role: str) -> list[dict[str, str]]:
    return [
        {"Key": RELEASE, "Value": release_id},
        {"Key": STREAM, "Value": stream},
        {"Key": ARCH, "Value": arch},
        {"Key": ROLE, "Value": role},
        {"Key": "Name", "Value": f"{release_id}-{arch}-{role}"},
    ]


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
