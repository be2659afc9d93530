"""Listing change sets and entities: filters, sorting and pages."""

import base64
import operator
import re
from collections.abc import Callable

from atomic_release.local.marketplace_catalog.constants import STATUSES
from atomic_release.local.marketplace_catalog.entities import ChangeSet
from atomic_release.local.marketplace_catalog.exceptions import refuse_field

_TIME = re.compile(r"^\d{4}-(1[0-2]|0[1-9])-(3[01]|0[1-9]|[12]\d)T(2[0-3]|[01]\d):[0-5]\d:[0-5]\dZ$")
_DEFAULT_PAGE = 20


_TIME_FILTERS = {
    "BeforeStartTime": ("start_time", operator.le),
    "AfterStartTime": ("start_time", operator.ge),
    "BeforeEndTime": ("end_time", operator.le),
    "AfterEndTime": ("end_time", operator.ge),
}
_CHANGE_SET_FILTERS = ("ChangeSetName", "Status", "EntityId", *_TIME_FILTERS)
CHANGE_SET_SORT_KEYS = {"StartTime": "start_time", "EndTime": "end_time", "Status": "status",
                        "ChangeSetName": "name", "Name": "name", "ChangeSetId": "change_set_id"}
ENTITY_SORT_KEYS = {"LastModifiedDate": "last_modified", "EntityId": "product_id", "ProductTitle": "title",
                    "Visibility": "visibility"}


def filter_values(raw: dict) -> tuple[str | None, list[str]]:
    name, values = raw.get("Name"), raw.get("ValueList") or []
    if not values:
        refuse_field("FilterList", f"filter {name} needs a ValueList of at least one value")
    return name, values


def change_set_filter(raw: dict) -> Callable[[ChangeSet], bool]:
    """One filter of ListChangeSets: any of its values matches (filters match all together).
    The time filters compare inclusively, as the model's date ranges do elsewhere."""
    name, values = filter_values(raw)
    if name == "ChangeSetName":
        return lambda change_set: change_set.name in values
    if name == "EntityId":
        return lambda change_set: any(entity_id in values for entity_id in change_set.entity_ids)
    if name == "Status":
        if unknown := [value for value in values if value not in STATUSES]:
            refuse_field("FilterList", f"Status {unknown} is not a status: use {', '.join(STATUSES)}")
        return lambda change_set: change_set.status in values
    if name in _TIME_FILTERS:
        if len(values) != 1 or not _TIME.match(values[0]):
            refuse_field("FilterList", f"{name} takes one time such as 2018-02-27T13:45:22Z")
        attribute, compare = _TIME_FILTERS[name]
        return lambda change_set: (getattr(change_set, attribute) is not None
                                   and compare(getattr(change_set, attribute), values[0]))
    refuse_field("FilterList", f"ListChangeSets filters by {', '.join(_CHANGE_SET_FILTERS)}, not '{name}'")


def in_order(items: list, sort: dict | None, keys: dict[str, str], default: str) -> list:
    """Sorted by the requested attribute, DESCENDING unless asked (the model's default); items
    without that attribute (no EndTime yet) come last, ties in the order they were made."""
    sort = sort or {}
    by, order = sort.get("SortBy", default), sort.get("SortOrder", "DESCENDING")
    if by not in keys:
        refuse_field("Sort.SortBy", f"must be one of {', '.join(keys)}")
    if order not in ("ASCENDING", "DESCENDING"):
        refuse_field("Sort.SortOrder", "must be ASCENDING or DESCENDING")
    attribute = keys[by]
    present = [item for item in items if getattr(item, attribute) is not None]
    absent = [item for item in items if getattr(item, attribute) is None]
    ordered = sorted(present, key=lambda item: (getattr(item, attribute), item.sequence),
                     reverse=order == "DESCENDING")
    return ordered + absent


def one_page(items: list, max_results: int | None, next_token: str | None, most: int) -> tuple[list, str | None]:
    size = _DEFAULT_PAGE if max_results is None else max_results
    if not 1 <= size <= most:
        refuse_field("MaxResults", f"must be from 1 to {most}")
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
    refuse_field("NextToken", "is not a token this catalog gave: pass the NextToken of the previous page")

