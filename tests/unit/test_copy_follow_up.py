"""Distribute's follow-up of one region's copies, without AWS: EC2's description in, the
region's outcome and the copies to remove out; and the wait until the next follow."""

from datetime import UTC, datetime, timedelta

from chalicelib.models.regions import RegionalImage, RegionOutcome
from chalicelib.plan.latency import DEFAULT_MODEL
from chalicelib.stages.distribute import (
    COPY_DEADLINE,
    EARLY_LOOK,
    FOLLOW_CAP_S,
    FOLLOW_FLOOR_S,
    CopyWindow,
    copy_window,
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


# The wait until the next follow (next_follow_in): the run started at START, the copies were
# requested and are due at the times given.
START = NOW - timedelta(hours=1)


def window(requested_min_ago: float, due_in_s: float) -> CopyWindow:
    return CopyWindow(NOW - timedelta(minutes=requested_min_ago), NOW + timedelta(seconds=due_in_s))


def test_before_the_early_look_the_wait_is_until_the_latest_early_look():
    # requested 10 min ago, due in 20 min and 50 min: early looks at half of 30 and 60 minutes,
    # 5 and 20 min from now; the latest, sooner than the first due time
    assert EARLY_LOOK == 0.5
    assert next_follow_in([window(10, 20 * 60), window(10, 50 * 60)], NOW, START) == 20 * 60


def test_the_early_look_is_one_look_even_when_the_regions_were_requested_apart():
    # requested 1 and 2 min ago, each due 20 min after its request: early looks 9 and 8 min from
    # now. One follow at 9 min; from there both are past, so the next is at the first due time.
    pending = [window(1, 19 * 60), window(2, 18 * 60)]
    assert next_follow_in(pending, NOW, START) == 9 * 60
    later = NOW + timedelta(minutes=9)
    assert next_follow_in(pending, later, START) == 9 * 60
    # the region whose early look was the latest published there: the other's is past too
    assert next_follow_in(pending[1:], later, START) == 9 * 60


def test_a_due_time_before_the_early_look_comes_first():
    # due in 5 min (requested 5 min ago), and the other's early look 20 min from now
    assert next_follow_in([window(5, 5 * 60), window(10, 50 * 60)], NOW, START) == 5 * 60


def test_after_the_early_look_the_wait_is_until_the_earliest_is_due():
    # early looks 15 and 7.5 min ago; due in 20 and 7.5 min
    assert next_follow_in([window(35, 20 * 60), window(15, 450)], NOW, START) == 450


def test_once_a_copy_is_overdue_the_wait_is_a_share_of_the_run_s_time():
    # 3600 s of run x 0.0175 = 63 s, sooner than the other region's due time in 10 minutes
    assert next_follow_in([window(31, -60), window(50, 10 * 60)], NOW, START) == 63


def test_an_overdue_copy_does_not_delay_another_region_due_sooner_than_the_backstop():
    assert next_follow_in([window(31, -60), window(30, 20)], NOW, START) == 20


def test_an_early_look_still_to_come_cuts_the_backstop_short():
    # one copy overdue, the other requested a minute ago and due in an hour: its early look in
    # 29.5 min is later than the 63 s backstop, which comes first
    assert next_follow_in([window(31, -60), window(1, 60 * 60)], NOW, START) == 63
    # a backstop of 300 s (a run of 10 hours) is cut to the early look: requested 60 s ago, due in
    # 100 s, looked at 80 s after the request, 20 s from now
    assert next_follow_in([window(31, -60), window(1, 100)], NOW, NOW - timedelta(hours=10)) == 20


def test_the_wait_is_never_under_the_floor():
    assert next_follow_in([window(30, 3)], NOW, START) == FOLLOW_FLOOR_S == 10
    # the early look 3 s from now: the floor
    assert next_follow_in([window(1, 66)], NOW, START) == 10
    # a run of 5 minutes: 300 s x 0.0175 = 5.25 s, raised to the floor
    assert next_follow_in([window(4, -1)], NOW, NOW - timedelta(minutes=5)) == 10


def test_the_backstop_is_never_over_the_cap():
    # a run of 10 hours: 36000 s x 0.0175 = 630 s, lowered to the cap
    assert next_follow_in([window(120, -3600)], NOW, NOW - timedelta(hours=10)) == FOLLOW_CAP_S == 300


def test_a_copy_due_exactly_now_is_overdue():
    assert next_follow_in([window(30, 0)], NOW, START) == 63


def test_no_copy_pending_waits_the_floor():
    assert next_follow_in([], NOW, START) == FOLLOW_FLOOR_S


def test_a_region_is_due_when_preflight_expects_its_copies_else_at_the_default_median():
    region = copying(requested_at=NOW)
    assert copy_window(region, {"eu-west-1": 1234.0}, NOW) == CopyWindow(NOW, NOW + timedelta(seconds=1234))
    default_s = DEFAULT_MODEL.stages["copy"].median_s
    assert copy_window(region, {"us-east-2": 1234.0}, NOW).due == NOW + timedelta(seconds=default_s)
    # its early look: EARLY_LOOK of the way from its request to its due time
    assert copy_window(region, {"eu-west-1": 1234.0}, NOW).early_look == NOW + timedelta(seconds=617)


def test_a_region_not_requested_yet_counts_from_now():
    later = NOW + timedelta(minutes=3)
    assert copy_window(copying(requested_at=None), {"eu-west-1": 60.0}, later) == CopyWindow(
        later, later + timedelta(seconds=60))
