"""What every edge shares: JSON read strictly, errors and answers bounded."""

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.api.http import MAX_ANSWER_BYTES, MAX_REASON_CHARS, Answer, capped, error, json_object
from chalicelib.core.config import describe_validation_error
from chalicelib.core.errors import BadRequest


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"a": 1, "a": 2}', "body: duplicate key 'a'"),
    (b'{"a": {"b": 1, "b": 1}}', "body: duplicate key 'b'"),
    (b'[{"c": 1, "c": 2}]', "body: duplicate key 'c'"),
    (b"[]", "body: must be a JSON object"),
    (b"\xff", "body: not JSON"),
])
def test_json_object_refuses_what_two_readers_could_read_differently(raw, reason):
    with pytest.raises(BadRequest, match=reason.replace("[", r"\[")):
        json_object(raw)


def test_json_object_reads_an_object_and_an_empty_body():
    assert json_object(b'{"a": {"b": [1, {"b": 2}]}}') == {"a": {"b": [1, {"b": 2}]}}
    assert json_object(None) == {}


def test_an_error_keeps_a_few_hundred_characters_and_says_how_many_more():
    answer = error(400, "x" * 10_000)

    assert answer.body["error"] == "x" * MAX_REASON_CHARS + f"... ({10_000 - MAX_REASON_CHARS} more characters cut)"
    assert error(400, "short").body == {"error": "short"}
    assert capped("abc", 2) == "ab... (1 more characters cut)"


@pytest.mark.parametrize(("status", "kept"), [(200, 500), (409, 409)])
def test_an_answer_over_64_kb_is_replaced_by_an_error_saying_so(status, kept):
    answer = Answer(status=status, body={"items": ["y" * 1000] * 100})

    assert answer.status == kept
    assert list(answer.body) == ["error"]
    assert f"over the {MAX_ANSWER_BYTES // 1024} KB" in answer.body["error"]


def test_an_answer_under_64_kb_is_kept_whole():
    body = {"items": ["y" * 1000] * 60}
    assert Answer(status=200, body=body).body == body


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stream: str


def test_a_validation_error_names_ten_problems_and_counts_the_rest():
    with pytest.raises(ValidationError) as raised:
        _Strict.model_validate({"stream": "s", **{f"k{n}": n for n in range(1000)}})

    described = describe_validation_error(raised.value, "body")

    assert described.count("Extra inputs are not permitted") == 10
    assert described.startswith("body: k0: Extra inputs are not permitted; k1:")
    assert described.endswith("; and 990 more problems")
