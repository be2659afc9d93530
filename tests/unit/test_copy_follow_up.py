"""Distribute's follow-up of one region's copies, without AWS: EC2's description in, the
region's outcome and the copies to remove out; and the wait until the next follow."""

from datetime import UTC, datetime, timedelta

from chalicelib.models.regions import RegionalImage, RegionOutcome
from chalicelib.plan.latency import DEFAULT_MODEL
from chalicelib.stages.distribute import (
    COPY_DEADLINE,
    FOLLOW_CAP_S,
    FOLLOW_FLOOR_S,
    due_at,
    followed,
    next_follow_in,
)

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


def copying(requested_at: datetime = NOW - timedelta(minutes=30)) -> RegionOutcome:
    return RegionOutcome(region="eu-west-1", status="copying", stage="copy", requested_at=requested_at,
                         images=[RegionalImage(arch="x86_64", image_id="ami-x"),
                                 RegionalImage(arch="arm64", image_id="ami-a")])


def image(image_id: str, state: str) -> dict:
    return {"ImageId": image_id, "State": state}


def test_copies_all_available_are_copied():
    outcome, doomed = followed(copying(), {"ami-x": image("ami-x", "available"),
                                           "ami-a": image("ami-a", "available")}, NOW)
    assert (outcome.status, [i.state for i in outcome.images], doomed) == ("copied", ["available", "available"], [])


def test_a_pending_copy_in_time_is_still_copying():
    outcome, doomed = followed(copying(), {"ami-x": image("ami-x", "available"),
                                           "ami-a": image("ami-a", "pending")}, NOW)
    assert (outcome.status, doomed) == ("copying", [])


def test_a_broken_or_missing_copy_fails_the_region_and_what_ec2_still_has_of_it_goes():
    described = {"ami-x": image("ami-x", "failed")}
    outcome, doomed = followed(copying(), described, NOW)
    assert outcome.status == "failed"
    assert outcome.reason == "x86_64 ami-x is failed, arm64 ami-a is missing"
    assert doomed == [described["ami-x"]]


def test_an_overdue_copy_fails_the_region_and_only_the_unfinished_copies_go():
    described = {"ami-x": image("ami-x", "available"), "ami-a": image("ami-a", "pending")}
    outcome, doomed = followed(copying(NOW - COPY_DEADLINE - timedelta(seconds=1)), described, NOW)
    assert (outcome.status, outcome.reason) == ("failed", f"still pending after {COPY_DEADLINE}")
    assert doomed == [described["ami-a"]]


def test_copies_done_after_the_deadline_are_copied():
    described = {"ami-x": image("ami-x", "available"), "ami-a": image("ami-a", "available")}
    outcome, _ = followed(copying(NOW - COPY_DEADLINE - timedelta(hours=1)), described, NOW)
    assert outcome.status == "copied"


# The wait until the next follow (next_follow_in): the run started at START, the copies are due
# at the times given.
START = NOW - timedelta(hours=1)


def test_before_any_copy_is_due_the_wait_is_until_the_earliest_is():
    due = [NOW + timedelta(minutes=20), NOW + timedelta(minutes=7, seconds=30)]
    assert next_follow_in(due, NOW, START) == 450


def test_once_a_copy_is_overdue_the_wait_is_a_share_of_the_run_s_time():
    # 3600 s of run x 0.0175 = 63 s, sooner than the other region's due time in 10 minutes
    assert next_follow_in([NOW - timedelta(minutes=1), NOW + timedelta(minutes=10)], NOW, START) == 63


def test_an_overdue_copy_does_not_delay_another_region_due_sooner_than_the_backstop():
    assert next_follow_in([NOW - timedelta(minutes=1), NOW + timedelta(seconds=20)], NOW, START) == 20


def test_the_wait_is_never_under_the_floor():
    assert next_follow_in([NOW + timedelta(seconds=3)], NOW, START) == FOLLOW_FLOOR_S == 10
    # a run of 5 minutes: 300 s x 0.0175 = 5.25 s, raised to the floor
    assert next_follow_in([NOW - timedelta(seconds=1)], NOW, NOW - timedelta(minutes=5)) == 10


def test_the_backstop_is_never_over_the_cap():
    # a run of 10 hours: 36000 s x 0.0175 = 630 s, lowered to the cap
    assert next_follow_in([NOW - timedelta(hours=1)], NOW, NOW - timedelta(hours=10)) == FOLLOW_CAP_S == 300


def test_a_copy_due_exactly_now_is_overdue():
    assert next_follow_in([NOW], NOW, START) == 63


def test_a_region_is_due_when_preflight_expects_its_copies_else_at_the_default_median():
    region = copying(requested_at=NOW)
    assert due_at(region, {"eu-west-1": 1234.0}, NOW) == NOW + timedelta(seconds=1234)
    assert due_at(region, {"us-east-2": 1234.0}, NOW) == NOW + timedelta(seconds=DEFAULT_MODEL.stages["copy"].median_s)
