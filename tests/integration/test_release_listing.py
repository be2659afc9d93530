"""The API's release listing reads the releases table through its indexes (stream and created
time, status and created time), never by a scan, a page at a time as before: newest first, cut
after the previous page's last release, filtered by stream and status."""

import base64
import json
from collections.abc import Iterator

import pytest

from atomic_release.local.synthetic import synthetic_release
from chalicelib.api import maintainers
from chalicelib.aws import dynamodb
from chalicelib.aws.clients import client
from chalicelib.core.errors import BadRequest
from chalicelib.models.record import ReleaseStatus
from chalicelib.store import records


@pytest.fixture
def dynamodb_calls(runtime) -> Iterator[list[tuple[str, dict]]]:
    """Every DynamoDB call made meanwhile: operation and parameters."""
    calls: list[tuple[str, dict]] = []

    def record(model, params, **_):
        calls.append((model.name, params))

    events = client("dynamodb").meta.events
    events.register("before-parameter-build.dynamodb", record)
    yield calls
    events.unregister("before-parameter-build.dynamodb", record)


def recorded(stream: str, version: str, created_at: str, status: ReleaseStatus = ReleaseStatus.SUCCEEDED) -> str:
    """A release's record as the releases' tasks write it: a put of the whole record."""
    release = synthetic_release(stream, version, 1)
    record = records.new_record(release, f"arn:aws:states:us-east-1:123456789012:execution:m:{release.release_id}",
                                release.regions or ["us-east-1"], created_at=created_at)
    dynamodb.put_item(records.table_name(), records._to_item(record.model_copy(update={"status": status})
                                                             .model_dump(mode="json")))
    return release.release_id


def listed(query: dict) -> tuple[list[str], str | None]:
    page = maintainers.list_releases(query)
    return [r.release_id for r in page.releases], page.next_token


def every_page(query: dict) -> list[list[str]]:
    pages, token = [], None
    while True:
        ids, token = listed({**query, **({"next_token": token} if token else {})})
        pages.append(ids)
        if not token:
            return pages


@pytest.fixture
def releases(runtime) -> dict[str, str]:
    """Seven releases of two streams in three statuses; two recorded in the same second."""
    return {
        "d1": recorded("developer", "43.1", "2026-11-01T00:00:00+00:00"),
        "s1": recorded("stable", "43.2", "2026-11-02T00:00:00+00:00", ReleaseStatus.FAILED),
        "d2": recorded("developer", "43.3", "2026-11-03T00:00:00+00:00", ReleaseStatus.FAILED),
        "d3": recorded("developer", "43.4", "2026-11-04T00:00:00+00:00"),
        "d4": recorded("developer", "43.5", "2026-11-04T00:00:00+00:00", ReleaseStatus.PARTIAL),
        "s2": recorded("stable", "43.6", "2026-11-05T00:00:00+00:00"),
        "d5": recorded("developer", "43.7", "2026-11-06T00:00:00+00:00", ReleaseStatus.RUNNING),
    }


def newest_first(ids: list[str]) -> list[str]:
    found = [records.get(release_id) for release_id in ids]
    return [r.release_id for r in sorted(found, key=records.position, reverse=True)]


@pytest.mark.parametrize("query, wanted", [
    ({}, ["d1", "s1", "d2", "d3", "d4", "s2", "d5"]),
    ({"stream": "developer"}, ["d1", "d2", "d3", "d4", "d5"]),
    ({"status": "SUCCEEDED"}, ["d1", "d3", "s2"]),
    ({"stream": "developer", "status": "FAILED"}, ["d2"]),
    ({"stream": "stable", "status": "RUNNING"}, []),
])
def test_every_page_holds_the_next_releases_newest_first_and_only_through_an_index(releases, dynamodb_calls,
                                                                                   query, wanted):
    expected = newest_first([releases[k] for k in wanted])
    dynamodb_calls.clear()

    pages = every_page({**query, "limit": "2"})

    assert [release_id for page in pages for release_id in page] == expected
    assert all(len(page) == 2 for page in pages[:-1]) and len(pages[-1]) <= 2
    operations = {operation for operation, _ in dynamodb_calls}
    assert operations == {"Query"}, operations
    indexes = {params["IndexName"] for _, params in dynamodb_calls}
    assert indexes == {records.BY_STREAM if "stream" in query else records.BY_STATUS}


def test_a_page_reads_only_what_it_needs(releases, dynamodb_calls):
    """A page of two of a stream of twelve releases reads the index three at a time, and no
    further than one read past the page (to close a tie in created time)."""
    for n in range(7):
        recorded("developer", f"44.{n}", f"2026-12-0{n + 1}T00:00:00+00:00")
    dynamodb_calls.clear()

    ids, _ = listed({"stream": "developer", "limit": "2"})

    assert len(ids) == 2
    limits = [params["Limit"] for _, params in dynamodb_calls]
    assert limits in ([3], [3, 3]), limits


def test_a_release_recorded_after_a_page_does_not_shift_the_next(releases):
    first, token = listed({"stream": "developer", "limit": "2"})
    recorded("developer", "43.8", "2026-11-07T00:00:00+00:00")

    rest = [release_id for page in every_page({"stream": "developer", "limit": "2", "next_token": token})
            for release_id in page]

    assert first + rest == newest_first([releases[k] for k in ("d1", "d2", "d3", "d4", "d5")])


# What a record held when the table had no index: the indexes' keys are among them.
FIRST_FIELDS = {"release_id", "stream", "version", "trigger", "status", "execution_arn", "commits", "regions",
                "created_at", "updated_at"}


def test_a_record_written_before_the_indexes_is_listed(runtime):
    legacy = synthetic_release("developer", "42.1", 1)
    record = records.new_record(legacy, "arn", ["us-east-1"], created_at="2025-01-01T00:00:00+00:00")
    first = {k: v for k, v in record.model_dump(mode="json").items() if k in FIRST_FIELDS}
    client("dynamodb").put_item(TableName=records.table_name(), Item=records._to_item(first))

    assert listed({})[0] == listed({"stream": "developer"})[0] == listed({"status": "RUNNING"})[0] \
        == [legacy.release_id]


@pytest.mark.parametrize("token", ["not-a-token", "WzEsIDJd", "eyJhIjogMX0=", "W10=", "=="])
def test_a_token_this_api_did_not_give_is_a_400(runtime, token):
    with pytest.raises(BadRequest, match="next_token"):
        maintainers.list_releases({"next_token": token})


def test_the_token_is_where_the_last_release_stands_and_nothing_else(releases):
    _, token = listed({"limit": "1"})

    assert token is not None
    assert json.loads(base64.urlsafe_b64decode(token)) == list(records.position(
        records.get(releases["d5"])))
