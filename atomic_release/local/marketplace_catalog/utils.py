"""Small pieces every part of the catalog shares."""

import string
from datetime import UTC, datetime

from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random

_ID_ALPHABET = string.ascii_lowercase + string.digits


def present(values: dict) -> dict:
    return {key: value for key, value in values.items() if value is not None}


def now() -> str:
    return timestamp(utcnow())


def timestamp(when: datetime) -> str:
    """A time as the Catalog API writes it: ISO 8601 in UTC to the second (``2018-02-27T13:45:22Z``)."""
    return (when.astimezone(UTC) if when.tzinfo else when).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_change_set_id() -> str:
    """Like the ids AWS gives: 25 lowercase letters and digits."""
    return "".join(mock_random.choice(_ID_ALPHABET) for _ in range(25))


def bare_id(identifier: str) -> str:
    """An entity identifier may carry a revision (``prod-x@1``); the entity is ``prod-x``."""
    return identifier.split("@", 1)[0]


def error_detail(code: str, message: str) -> dict:
    """An ErrorDetail of a change, as DescribeChangeSet lists them."""
    return {"ErrorCode": code, "ErrorMessage": message}
