"""The release view reads a bounded part of a long run's history: its first events (how the run
started, what it built) and its latest (where it stands), never the middle of a long copy wait,
and says so when it left events out."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from atomic_release.local.synthetic import synthetic_release
from chalicelib.api import release_view
from chalicelib.models.release import run_name
from chalicelib.store import records
from chalicelib.triggers.starter import execution_arn

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:atomic-release-test-release"
REGIONS = ["us-east-1", "us-east-2"]
START = datetime(2026, 11, 25, tzinfo=UTC)


class LongRun:
    """Step Functions for one run, as AWS pages GetExecutionHistory (maxResults, reverseOrder,
    nextToken); every call recorded."""

    def __init__(self, arn: str, events: list[dict]):
        self.arn, self.events, self.calls = arn, events, []

    def describe_execution(self, executionArn):
        if executionArn != self.arn:
            raise ClientError({"Error": {"Code": "ExecutionDoesNotExist", "Message": "no"}}, "DescribeExecution")
        return {"executionArn": self.arn, "status": "RUNNING", "startDate": START}

    def get_execution_history(self, executionArn, maxResults=100, reverseOrder=False, nextToken=None):
        self.calls.append({"maxResults": maxResults, "reverseOrder": reverseOrder})
        events = self.events[::-1] if reverseOrder else self.events
        start = int(nextToken or 0)
        page = {"events": events[start:start + maxResults]}
        if start + maxResults < len(events):
            page["nextToken"] = str(start + maxResults)
        return page


def copies(status: str) -> list[dict]:
    return [{"region": region, "status": status, "stage": "copy",
             "images": [{"arch": "x86_64", "image_id": f"ami-{region}", "state": "pending"}]} for region in REGIONS]


def long_copy_wait(waits: int) -> list[dict]:
    """A run through Prepare, Build and Preflight into Distribute, then ``waits`` rounds of the copy
    wait (FollowCopies says copying), the last round saying us-east-1's copy is done."""
    states: list[tuple[str, dict]] = [("Prepare", {}), ("Build", {}), ("CheckBuild", {}), ("Preflight", {}),
                                      ("Distribute", {"distribution": {"copies": copies("copying")}})]
    for _ in range(waits):
        states += [("FollowCopies", {"distribution": {"copies": copies("copying")}}), ("CopiesDone", {}),
                   ("WaitForCopies", {})]
    done = copies("copying")
    done[0]["status"] = "copied"
    states.append(("FollowCopies", {"distribution": {"copies": done}}))
    events: list[dict] = [{"type": "ExecutionStarted"}]
    for name, output in states:
        events += [{"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name, "input": "{}"}},
                   {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name,
                                                                         "output": json.dumps(output)}}]
    events.append({"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "CopiesDone", "input": "{}"}})
    return [{**event, "id": n + 1, "timestamp": START + timedelta(seconds=n)} for n, event in enumerate(events)]


@pytest.fixture
def release():
    release = synthetic_release("developer", "43.1", len(REGIONS))
    return records.new_record(release, execution_arn(MACHINE, run_name(release.release_id)), REGIONS)


def seen(record, events) -> tuple[release_view.ReleaseView, LongRun]:
    run = LongRun(record.execution_arn, events)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chalicelib.aws.stepfunctions.client", lambda service, region=None: run)
        return release_view.view(record, MACHINE), run


def test_a_long_copy_wait_is_read_in_three_pages_and_the_view_says_it_was_cut(release):
    events = long_copy_wait(waits=4000)   # 24,000 events: megabytes of history on AWS

    shown, run = seen(release, events)

    assert len(run.calls) == 1 + release_view.HISTORY_NEWEST_PAGES
    assert sum(call["maxResults"] for call in run.calls) <= 1500
    assert shown.history_truncated is True
    stages = {stage.name: stage.status for stage in shown.stages}
    assert [stages[name] for name in ("prepare", "build", "preflight", "distribute", "validate")] == \
        ["succeeded", "succeeded", "succeeded", "running", "pending"]
    assert {region.region: region.status for region in shown.regions} == {"us-east-1": "copied",
                                                                          "us-east-2": "copying"}


def test_a_short_run_is_read_whole_and_not_said_to_be_cut(release):
    events = long_copy_wait(waits=3)

    shown, run = seen(release, events)

    assert len(run.calls) == 1 and shown.history_truncated is False
    assert {region.region: region.status for region in shown.regions} == {"us-east-1": "copied",
                                                                          "us-east-2": "copying"}


def test_a_run_just_past_one_page_is_read_whole(release):
    events = long_copy_wait(waits=100)   # past the first page, within the newest pages

    shown, run = seen(release, events)

    assert len(events) > release_view.HISTORY_PAGE and shown.history_truncated is False
    assert [call["reverseOrder"] for call in run.calls] == [False, True]


def test_the_stage_a_run_is_in_is_read_from_its_newest_events_alone(release):
    run = LongRun(release.execution_arn, long_copy_wait(waits=4000))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chalicelib.aws.stepfunctions.client", lambda service, region=None: run)
        stage = release_view.stage_now(release.execution_arn)

    assert stage == "distribute"
    assert run.calls == [{"maxResults": release_view.STAGE_LOOKBACK, "reverseOrder": True}]


def region_outcome(region: str, status: str, stage: str) -> dict:
    return {"region": region, "status": status, "stage": stage,
            "images": [{"arch": "x86_64", "image_id": f"ami-{region}", "state": "available"}]}


def former_run(published: list[str]) -> list[dict]:
    """A run of the definition before the copy follow published the regions: the Copy map,
    CheckCopies, and the Publish map of PublishRegion tasks, here into Publish with ``published``
    done."""
    copied = [region_outcome(region, "copied", "copy") for region in REGIONS]
    states: list[tuple[str, dict | None]] = [
        ("Prepare", {}), ("Build", {}), ("CheckBuild", {}), ("Preflight", {}),
        ("Copy", {"distribution": {"copies": copies("copying")}}),
        ("CheckCopies", {"distribution": {"copies": copied}}), ("CopiesDone", {}), ("Publish", None),
        *[("PublishRegion", region_outcome(region, "published", "publish")) for region in published]]
    events: list[dict] = [{"type": "ExecutionStarted"}]
    for name, output in states:
        events.append({"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name, "input": "{}"}})
        if output is not None:
            events.append({"type": "TaskStateExited",
                           "stateExitedEventDetails": {"name": name, "output": json.dumps(output)}})
    return [{**event, "id": n + 1, "timestamp": START + timedelta(seconds=n)} for n, event in enumerate(events)]


def ended(events: list[dict], *states: str) -> list[dict]:
    """The run's events, then the Publish map's end with the copies it was given, then ``states``."""
    more = [{"type": "MapStateExited", "stateExitedEventDetails": {"name": "Publish", "output": json.dumps(
        {"distribution": {"copies": [region_outcome(region, "copied", "copy") for region in REGIONS]}})}}]
    for name in states:
        more += [{"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name, "input": "{}"}},
                 {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name, "output": "{}"}}]
    more.append({"type": "ExecutionSucceeded"})
    return events + [{**event, "id": len(events) + n + 1, "timestamp": START + timedelta(seconds=len(events) + n)}
                     for n, event in enumerate(more)]


class EndedRun(LongRun):
    def describe_execution(self, executionArn):
        return {**super().describe_execution(executionArn), "status": "SUCCEEDED"}


def test_a_run_from_before_the_follow_published_shows_its_distribute_stage_and_published_regions(release):
    shown, _ = seen(release, former_run(published=["us-east-1"]))

    stages = {stage.name: stage for stage in shown.stages}
    assert [stages[name].status for name in ("preflight", "distribute", "validate")] == \
        ["succeeded", "running", "pending"]
    assert stages["distribute"].started_at == START + timedelta(seconds=9), "from the Copy map's start"
    assert {region.region: (region.status, region.stage) for region in shown.regions} == {
        "us-east-1": ("published", "publish"), "us-east-2": ("copied", "copy")}


def test_a_succeeded_run_from_before_the_follow_published_ran_every_stage(release):
    events = ended(former_run(published=REGIONS), "Validate", "Announce", "RecordPublication", "Finalize")
    run = EndedRun(release.execution_arn, events)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chalicelib.aws.stepfunctions.client", lambda service, region=None: run)
        shown = release_view.view(release, MACHINE)

    stages = {stage.name: stage for stage in shown.stages}
    assert stages["distribute"].status == "succeeded", "not not-run: Copy, CheckCopies and Publish were its states"
    assert stages["distribute"].ended_at == next(event["timestamp"] for event in events
                                                 if event["type"] == "MapStateExited")
    assert all(stages[name].status == "succeeded" for name in ("prepare", "build", "preflight", "validate"))
    assert {region.status for region in shown.regions} == {"published"}, \
        "the Publish map's output holds the regions as copied, before they were published"


def test_the_stage_a_run_from_before_the_follow_published_is_in_is_distribute(release):
    events = former_run(published=[])
    following = [event for event in events if event.get("stateEnteredEventDetails", {}).get("name") == "CopiesDone"]
    run = LongRun(release.execution_arn, events[:events.index(following[0])])   # just out of CheckCopies

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chalicelib.aws.stepfunctions.client", lambda service, region=None: run)
        assert release_view.stage_now(release.execution_arn) == "distribute"
