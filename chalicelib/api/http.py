"""An HTTP answer as the routes give it: a status and a JSON body; an error says why.

Every edge reads JSON through ``json_object``, which refuses a key named twice (JSON leaves it
to the reader, and two readers may pick different values). Every answer is bounded: an error's
reason keeps at most ``MAX_REASON_CHARS`` characters (the rest is counted, not echoed), and a
body is at most ``MAX_ANSWER_BYTES`` of JSON, far under Lambda's 6 MB response limit."""

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError, model_validator

from chalicelib.core.config import describe_validation_error
from chalicelib.core.errors import BadRequest

MAX_REASON_CHARS = 400
MAX_ANSWER_BYTES = 64 * 1024

Parsed = TypeVar("Parsed", bound=BaseModel)


class Answer(BaseModel):
    status: int
    body: dict

    @model_validator(mode="after")
    def _bounded(self) -> "Answer":
        size = len(json.dumps(self.body, default=str).encode())
        if size > MAX_ANSWER_BYTES:
            status = self.status if self.status >= 400 else 500
            self.status, self.body = status, {"error": f"the answer would be {size} bytes, over the "
                                                       f"{MAX_ANSWER_BYTES // 1024} KB an answer may carry"}
        return self


def capped(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters cut)"


def error(status: int, reason: str) -> Answer:
    return Answer(status=status, body={"error": capped(reason)})


class DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(f"duplicate key {capped(key, 80)!r}")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    found: dict = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(key)
        found[key] = value
    return found


def strict_loads(raw: bytes | str) -> Any:
    """``json.loads`` that refuses an object naming a key twice (DuplicateKey, a ValueError)."""
    return json.loads(raw, object_pairs_hook=_refuse_duplicates)


def json_object(raw: bytes | None, what: str = "body") -> dict:
    """The JSON object of a request body; BadRequest (400) naming the problem: not JSON, not an
    object, or a key named twice."""
    try:
        data = strict_loads(raw or b"{}")
    except DuplicateKey as duplicate:
        raise BadRequest(f"{what}: {duplicate}") from None
    except ValueError as not_json:
        raise BadRequest(f"{what}: not JSON ({not_json})") from None
    if not isinstance(data, dict):
        raise BadRequest(f"{what}: must be a JSON object")
    return data


def parse(model: type[Parsed], data: Any, what: str) -> Parsed:
    """``data`` as ``model``; BadRequest (400) naming each field ``what`` got wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise BadRequest(describe_validation_error(error, what)) from None


def parse_body(model: type[Parsed], raw: bytes | None) -> Parsed:
    """A request body (``json_object``) as ``model``; BadRequest (400) saying what is wrong."""
    return parse(model, json_object(raw), "body")
