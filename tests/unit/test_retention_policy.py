"""Retention's keep policy, without AWS: which releases keep their images and which retire."""

from datetime import UTC, datetime

from chalicelib.core.config import Retention
from chalicelib.models.record import ReleaseRecord
from chalicelib.upkeep.retention import keep_reason, keeping, months_before

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
POLICY = Retention(keep_releases=2, keep_months=3)


def release(release_id: str, committed: str, status: str = "SUCCEEDED") -> ReleaseRecord:
    commit = {"ref": "fedora/x86_64/coreos/developer", "checksum": "a" * 64, "timestamp": committed}
    return ReleaseRecord(release_id=release_id, stream="developer", version=release_id, trigger="poll",
                         status=status, execution_arn=f"arn:aws:states:us-east-1:1:execution:m:{release_id}",
                         commits={"x86_64": commit}, regions=["us-east-1"], created_at=committed,
                         updated_at=committed)


def test_the_newest_and_the_young_are_kept_newest_first_and_the_rest_retire():
    old, older, young, newest, newer = (release("old", "2025-01-01T00:00:00+00:00"),
                                        release("older", "2024-01-01T00:00:00+00:00"),
                                        release("young", "2026-04-01T00:00:00+00:00"),
                                        release("newest", "2026-06-01T00:00:00+00:00"),
                                        release("newer", "2026-05-01T00:00:00+00:00"))

    kept, retiring = keeping([old, older, young, newest, newer], POLICY, NOW)

    assert [(r.release_id, why) for r, why in kept] == [
        ("newest", "newest 2"), ("newer", "newest 2"), ("young", "within 3 months")]
    assert [r.release_id for r in retiring] == ["old", "older"]


def test_a_release_that_ended_unreleased_always_retires_and_a_running_one_is_left_alone():
    failed = release("failed", "2026-06-10T00:00:00+00:00", status="FAILED")
    running = release("running", "2026-06-12T00:00:00+00:00", status="RUNNING")
    published = release("published", "2026-06-11T00:00:00+00:00", status="PUBLISHED")
    released = release("released", "2020-01-01T00:00:00+00:00")

    kept, retiring = keeping([failed, running, published, released], POLICY, NOW)

    assert [r.release_id for r, _ in kept] == ["published", "released"]
    assert [r.release_id for r in retiring] == ["failed"]


def test_a_release_is_young_from_the_same_day_months_back():
    edge = release("edge", "2026-03-15T12:00:00+00:00")
    assert keep_reason(5, edge, POLICY, NOW) == "within 3 months"
    assert keep_reason(5, release("before", "2026-03-15T11:59:59+00:00"), POLICY, NOW) is None
    assert months_before(datetime(2026, 5, 31, tzinfo=UTC), 3) == datetime(2026, 2, 28, tzinfo=UTC)
