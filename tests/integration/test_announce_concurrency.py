"""Two announcements of one stream at once: neither loses the other's entry."""

import pytest

from chalicelib.core.errors import AnnounceFailed
from chalicelib.stages import announce

KEY = "streams/developer/releases.json"


def add(version: str):
    return lambda previous: {"releases": [*(previous or {}).get("releases", []), version]}


@pytest.fixture
def competitor(runtime, monkeypatch):
    """Writes a competing version right after each of the next reads, as another Announce would."""
    original = announce._read_with_etag
    versions: list[str] = []

    def read_then_lose_the_race(key):
        found = original(key)
        if versions:
            announce.write_document(key, add(versions.pop(0))(original(key)[0]))
        return found

    monkeypatch.setattr(announce, "_read_with_etag", read_then_lose_the_race)
    return versions


def test_a_write_that_lost_the_race_is_redone_on_the_new_document(competitor):
    announce.write_document(KEY, {"releases": ["1"]})
    competitor.extend(["2"])

    written = announce.update_document(KEY, add("3"))

    assert written == {"releases": ["1", "2", "3"]}
    assert announce.read_document(KEY) == written


def test_the_first_document_is_created_only_if_nobody_created_it_meanwhile(competitor):
    competitor.extend(["2"])

    announce.update_document(KEY, add("3"))

    assert announce.read_document(KEY) == {"releases": ["2", "3"]}


def test_a_document_that_keeps_changing_fails_the_announcement(competitor):
    announce.write_document(KEY, {"releases": []})
    competitor.extend(str(n) for n in range(5))

    with pytest.raises(AnnounceFailed, match="kept changing under 5 attempts"):
        announce.update_document(KEY, add("x"))
