"""Distribute's follow-up of one region's copies, without AWS: EC2's description in, the
region's outcome and the copies to remove out."""

from datetime import UTC, datetime, timedelta

from chalicelib.models.regions import RegionalImage, RegionOutcome
from chalicelib.stages.distribute import COPY_DEADLINE, followed

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
