"""A whole local release under the virtual clock: the latency model's times pass in simulated
time while the real state machine and tasks run on moto."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from atomic_release.cli.local_release import LocalResult, run
from atomic_release.local.marketplace_catalog.faults import MarketplaceFault
from atomic_release.local.region_faults import RegionFault
from atomic_release.local.runtime import LocalRuntime
from atomic_release.local.virtual_clock import Figures, VirtualClock
from chalicelib.aws.clients import client
from chalicelib.plan import latency, observed
from chalicelib.stages import distribute
from chalicelib.stages.announce import read_document, release_index_key, release_key, stream_metadata_key
from chalicelib.store import records
from tests.helpers import nothing, release_resources

REGIONS = ["us-east-1", "us-east-2", "us-west-1"]
# What differs from run to run whatever the clock: ids AWS makes (EC2's, SNS's and EventBridge's
# uuids, Marketplace's change set ids), times, the execution's ARN. Each id is numbered in the order
# it first appears, so two runs agree only if every record names the same image (a region's SSM
# parameter, its row in the record, the metadata) as the others do. Times are replaced: under the
# clock the copies' requested_at and Marketplace's sent_at and ended_at are virtual
# (test_the_tasks_read_the_virtual_time_of_their_call checks the copies').
RUN_SPECIFIC_IDS = re.compile(r"\b(?:ami|snap|i|vol)-[0-9a-f]{8,17}\b"
                              r"|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
                              r'|(?<="change_set_id": ")[0-9a-z]+(?=")')
RUN_SPECIFIC = [(re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?"), "<time>"),
                (re.compile(r"arn:aws:states:[^\"\s]+"), "<execution-arn>")]


def release(developer_release, clock: VirtualClock | None = None, faults=()) -> tuple[LocalResult, Figures | None,
                                                                                      dict, list[dict]]:
    """One release in a runtime of its own: its result, its figures, what it recorded (run-specific
    values normalised away) and what each FollowCopies answered."""
    with LocalRuntime(clock=clock, faults=list(faults)) as runtime:
        result = run(runtime, developer_release)
        history = runtime.history(result.execution_arn)
        figures = clock.figures(result.execution_arn) if clock and result.status == "SUCCEEDED" else None
        recorded = final_records(result)
        assert nothing({kind: found for kind, found in release_resources(result.release_id, REGIONS).items()
                        if kind in ("instances", "volumes")}), "builders and QA guests are gone"
        assert not pending_images(), "no copy is left pending"
    return result, figures, recorded, [answer for _, answer in follows(history)]


def follows(history) -> list[tuple[dict, dict]]:
    """Each FollowCopies call: its Scheduled event, and its answer."""
    calls = []
    for event in history:
        if event["type"] == "LambdaFunctionScheduled" and event["lambdaFunctionScheduledEventDetails"][
                "resource"].endswith("-follow_copies"):
            calls.append([event, None])
        elif event["type"] == "LambdaFunctionSucceeded" and calls and calls[-1][1] is None:
            calls[-1][1] = json.loads(event["lambdaFunctionSucceededEventDetails"]["output"])
    return [(scheduled, answer) for scheduled, answer in calls if answer is not None]


def regions_of(answer: dict, status: str) -> list[str]:
    return sorted(r["region"] for r in answer["copies"] if r["status"] == status)


def pending_images() -> list[str]:
    return [image["ImageId"] for region in REGIONS for image in client("ec2", region).describe_images(
        Owners=["self"], Filters=[{"Name": "state", "Values": ["pending"]}])["Images"]]


def final_records(result: LocalResult) -> dict:
    """The releases-table record, the SSM parameters of every region and the stream metadata
    documents, with run-specific values normalised."""
    parameters = {region: sorted((p["Name"], p["Value"]) for p in client("ssm", region).get_parameters_by_path(
        Path="/atomic-release/", Recursive=True)["Parameters"]) for region in REGIONS}
    documents = {key: read_document(key) for key in (stream_metadata_key(result.stream), release_index_key(
        result.stream), release_key(result.stream, result.version))}
    recorded = {"record": records.get(result.release_id).model_dump(mode="json"), "parameters": parameters,
                "documents": documents}
    return json.loads(normalised(json.dumps(recorded, sort_keys=True)))


def normalised(text: str) -> str:
    """Run-specific ids numbered in the order they first appear (an id keeps its number wherever
    it appears), times and the execution's ARN replaced."""
    numbers: dict[str, int] = {}
    text = RUN_SPECIFIC_IDS.sub(lambda found: f"<id-{numbers.setdefault(found[0], len(numbers))}>", text)
    for pattern, replacement in RUN_SPECIFIC:
        text = pattern.sub(replacement, text)
    return text


def test_the_same_seed_gives_the_same_figures_and_another_seed_others(developer_release):
    first, figures, _, followed = release(developer_release, VirtualClock(seed=5))
    _, again, _, _ = release(developer_release, VirtualClock(seed=5))
    _, other, _, _ = release(developer_release, VirtualClock(seed=6))

    assert first.status == "SUCCEEDED", first.failure
    assert figures == again
    assert other != figures
    assert figures.modeled_commit_to_public_s > figures.modeled_critical_path_s > 0
    assert len(followed) > 1, "copies are pending until their modelled time: FollowCopies waited for them"


def test_a_release_under_the_clock_records_what_one_without_it_records(developer_release):
    plain, _, recorded, plain_follows = release(developer_release)
    timed, _, timed_recorded, timed_follows = release(developer_release, VirtualClock(seed=1))

    assert (plain.status, timed.status) == ("SUCCEEDED", "SUCCEEDED"), (plain.failure, timed.failure)
    assert len(plain_follows) == 1, "without the clock every copy is available at once"
    assert regions_of(plain_follows[0], "published") == sorted(REGIONS), "one follow publishes every region"
    assert len(timed_follows) > 1
    assert timed_recorded == recorded
    assert all(row.public and row.ssm_points_here for row in timed.images)


def test_a_failing_regions_copies_still_fail_under_the_clock(developer_release):
    result, _, _, answers = release(developer_release, VirtualClock(seed=2),
                                    faults=[RegionFault.parse("copy-fails:us-east-2")])

    assert len(answers) > 1, "us-west-1's copies were pending until their modelled time: followed again"
    assert result.status == "PARTIAL", result.failure
    assert list(result.missing_regions) == ["us-east-2"]
    assert {row.region for row in result.images} == {"us-east-1", "us-west-1"}


def test_marketplace_change_sets_settle_once_their_modelled_time_has_passed(developer_release):
    clock = VirtualClock(seed=4)
    with LocalRuntime(clock=clock, faults=[MarketplaceFault.parse("marketplace-rejects:x86_64")]) as runtime:
        result = run(runtime, developer_release)
        timeline = clock.timeline(runtime.history(result.execution_arn))

    sent = timeline.time(timeline.all("LambdaFunctionScheduled", "Marketplace")[0])
    settled = timeline.time(timeline.last("TaskStateEntered", "Finalize"))
    assert settled - sent >= timeline.durations.once["marketplace"]
    assert result.status == "MARKETPLACE_FAILED", result.failure
    assert len(result.marketplace_failed) == 1 and "AMI_SCAN_FAILED" in result.marketplace_failed[0]


def test_a_change_set_is_measured_by_marketplace_s_virtual_times_not_by_the_check_that_saw_it(developer_release):
    clock = VirtualClock(seed=4)
    with LocalRuntime(clock=clock) as runtime:
        result = run(runtime, developer_release)
        history = runtime.history(result.execution_arn)
        timeline = clock.timeline(history)
        products = records.get(result.release_id).marketplace

    modelled_s = timeline.durations.once["marketplace"]
    assert result.status == "SUCCEEDED", result.failure
    for change in products.values():
        # the catalog's StartTime and EndTime, to the second: sent, and ended once its modelled time passed
        assert abs((change.ended_at - change.sent_at).total_seconds() - modelled_s) <= 1, change
    checks = [timeline.time(e) for e in timeline.all("TaskStateExited", "Marketplace")]
    assert checks[-1] - checks[0] > modelled_s + 60, "the check that saw them settled came well after"
    assert abs(observed.stage_samples(list(history)).once["marketplace"] - modelled_s) <= 1


def test_copies_faster_than_expected_are_measured_faster_than_expected(developer_release):
    # Preflight expects the default 30 minutes (the stream has no history); the copies take ~5.
    defaults = latency.DEFAULT_MODEL
    fast = latency.LatencyModel({**defaults.stages, "copy": latency.Estimate(300, 360, 0, "a test's")})
    expected_s = defaults.stages["copy"].median_s
    clock = VirtualClock(model=fast, seed=3)
    with LocalRuntime(clock=clock) as runtime:
        result = run(runtime, developer_release)
        history = runtime.history(result.execution_arn)
    timeline = clock.timeline(history)
    # the history as Step Functions would have recorded it had the run taken its virtual time
    virtual_history = [{**event, "timestamp": history[0]["timestamp"] + timedelta(seconds=timeline.time(event["id"]))}
                       for event in history]

    assert result.status == "SUCCEEDED", result.failure
    assert max(timeline.durations.per_region[region]["copy"] for region in REGIONS) < 450
    measured = observed.model_from_histories([virtual_history]).stages["copy"]
    # found by the early look, half-way to the due time, not at the due time
    assert measured.median_s == pytest.approx(distribute.EARLY_LOOK * expected_s, abs=15)
    assert measured.median_s < expected_s


def test_the_tasks_read_the_virtual_time_of_their_call(developer_release):
    clock = VirtualClock(seed=1)
    with LocalRuntime(clock=clock) as runtime:
        result = run(runtime, developer_release)
        history = runtime.history(result.execution_arn)
        record = records.get(result.release_id)
    wall_s = (datetime.now(UTC) - history[0]["timestamp"]).total_seconds()
    timeline = clock.timeline(history)

    def virtual(event: dict) -> datetime:
        return history[0]["timestamp"] + timedelta(seconds=timeline.time(event["id"]))

    copy_calls = {json.loads(e["lambdaFunctionScheduledEventDetails"]["input"])["region"]: e for e in history
                  if e["type"] == "LambdaFunctionScheduled"
                  and e["lambdaFunctionScheduledEventDetails"]["resource"].endswith("-copy_to_region")}   # the last wins
    requested = {region: virtual(call) for region, call in copy_calls.items()}
    calls = follows(history)

    assert result.status == "SUCCEEDED", result.failure
    assert sorted(requested) == sorted(REGIONS)
    assert min(timeline.time(call["id"]) for call in copy_calls.values()) > wall_s, "virtual, not the system's time"
    for region, when in requested.items():
        assert abs(record.region_states[region].requested_at - when) < timedelta(seconds=1), region
        for scheduled, _ in calls:
            given = json.loads(scheduled["lambdaFunctionScheduledEventDetails"]["input"])
            copy = next(c for c in given["copies"] if c["region"] == region)
            assert abs(datetime.fromisoformat(copy["requested_at"]) - when) < timedelta(seconds=1), region
    # each wait is the rule's at the follow's virtual time: until the early look, until the first
    # copy is due, then the backstop
    waits = []
    for scheduled, answer in calls[:-1]:
        expected_s = json.loads(scheduled["lambdaFunctionScheduledEventDetails"]["input"])["expected_copy_s"]
        pending = [distribute.CopyWindow(requested[r], requested[r] + timedelta(seconds=expected_s[r]))
                   for r in regions_of(answer, "copying")]
        expected = distribute.next_follow_in(pending, virtual(scheduled), history[0]["timestamp"])
        assert abs(answer["wait_seconds"] - expected) <= 1, (answer["wait_seconds"], expected)
        waits.append(answer["wait_seconds"])
    assert len(waits) > 2 and max(waits[2:]) < min(waits[:2]), f"later follows wait the backstop: {waits}"
