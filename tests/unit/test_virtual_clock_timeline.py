"""The virtual clock's arithmetic on small hand-made histories: each event's time is its previous
event's plus what lies between them."""

import json

import pytest

from atomic_release.local.virtual_clock import TASK_S, TRANSITION_S, Timeline, VirtualClock
from chalicelib.plan.latency import Durations

DURATIONS = Durations(
    once={"prepare": 2.0, "check_build": 1.0, "preflight": 5.0, "validate": 10.0, "announce": 7.0,
          "marketplace": 100.0},
    per_arch={"x86_64": {"build": 600.0, "register": 300.0, "qa": 180.0, "evaluate": 2.0},
              "arm64": {"build": 900.0, "register": 200.0, "qa": 150.0, "evaluate": 3.0}},
    per_region={"us-east-1": {"copy": 0.0, "publish": 5.0}, "eu-west-1": {"copy": 1800.0, "publish": 6.0},
                "ap-south-1": {"copy": 2400.0, "publish": 4.0}})


def lambda_task(name: str) -> dict:
    return {"Type": "Task", "Resource": f"arn:{name}", "End": True}


DEFINITION = {"StartAt": "Prepare", "States": {
    "Prepare": lambda_task("prepare"),
    "Build": {"Type": "Map", "ItemProcessor": {"StartAt": "LaunchBuilder", "States": {
        "LaunchBuilder": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": True},
    }}, "End": True},
    "Publish": {"Type": "Map", "MaxConcurrencyPath": "$.slots", "ItemProcessor": {
        "StartAt": "PublishRegion", "States": {"PublishRegion": lambda_task("publish")}}, "End": True},
    "WaitForCopies": {"Type": "Wait", "Seconds": 300, "End": True},
    "WaitForMarketplace": {"Type": "Wait", "SecondsPath": "$.marketplace.wait_seconds", "End": True},
    "CheckCopies": {**lambda_task("check_copies"), "Retry": [
        {"ErrorEquals": ["Throttled"], "IntervalSeconds": 30, "BackoffRate": 2, "MaxAttempts": 5,
         "MaxDelaySeconds": 100}]},
    "Announce": lambda_task("announce"),
}}


class History:
    """Events as GetExecutionHistory answers them; each ``add`` returns the new event's id."""

    def __init__(self):
        self.events: list[dict] = []
        self.add("ExecutionStarted", 0)

    def add(self, kind: str, previous: int, **details) -> int:
        event: dict = {"id": len(self.events) + 1, "type": kind, "previousEventId": previous}
        if details:
            key = kind[0].lower() + kind[1:]
            key = {"TaskStateEntered": "stateEnteredEventDetails", "TaskStateExited": "stateExitedEventDetails",
                   "MapStateEntered": "stateEnteredEventDetails", "WaitStateEntered": "stateEnteredEventDetails",
                   }.get(kind, key + "EventDetails")
            event[key] = details
        self.events.append(event)
        return event["id"]

    def task(self, previous: int, name: str, given: dict | None = None, callback: bool = False,
             failures: tuple[str, ...] = ()) -> int:
        """A task state from entered to exited; returns its exit."""
        entered = self.add("TaskStateEntered", previous, name=name, input=json.dumps(given or {}))
        last = entered
        kind = "Task" if callback else "LambdaFunction"
        for error in failures:
            scheduled = self.add(f"{kind}Scheduled", last)
            last = self.add(f"{kind}Failed", self.add(f"{kind}Started", scheduled), error=error)
        scheduled = self.add(f"{kind}Scheduled", last)
        ended = self.add(f"{kind}Succeeded", self.add(f"{kind}Started", scheduled))
        return self.add("TaskStateExited", ended, name=name, output="{}")

    def map(self, previous: int, name: str, items: list[dict], state: str, given: dict | None = None,
            order: list[int] | None = None) -> tuple[int, list[int]]:
        """A Map whose iterations run one task each, recorded in ``order`` (moto's threads): its
        exit, which points at the last iteration recorded, and each iteration's end by index."""
        entered = self.add("MapStateEntered", previous, name=name, input=json.dumps(given or {}))
        started = self.add("MapStateStarted", entered, length=len(items))
        ends: dict[int, int] = {}
        for index in order or range(len(items)):
            began = self.add("MapIterationStarted", started, name=name, index=index)
            exited = self.task(began, state, items[index], callback=state == "LaunchBuilder")
            ends[index] = self.add("MapIterationSucceeded", exited, name=name, index=index)
        last = ends[(order or list(range(len(items))))[-1]]
        self.add("MapStateSucceeded", last)
        return self.add("MapStateExited", last, name=name), [ends[i] for i in range(len(items))]

    def timeline(self) -> Timeline:
        return Timeline(self.events, DEFINITION, DURATIONS)


def test_a_lambda_task_takes_its_stage_and_one_transition():
    history = History()
    exited = history.task(1, "Prepare")

    assert history.timeline().time(exited) == pytest.approx(TRANSITION_S + 2.0)


def test_a_task_the_model_has_no_stage_for_takes_the_small_constant():
    history = History()
    exited = history.task(1, "CopyToRegion", {"region": "eu-west-1"})

    assert history.timeline().time(exited) == pytest.approx(TRANSITION_S + TASK_S)


def test_a_callback_takes_its_guests_time_and_a_maps_end_is_its_slowest_iteration():
    history = History()
    # arm64's builder (900 s) is the slower, but x86_64's iteration is recorded last
    exited, ends = history.map(1, "Build", [{"arch": "x86_64"}, {"arch": "arm64"}], "LaunchBuilder", order=[1, 0])
    timeline = history.timeline()

    assert timeline.time(ends[0]) == pytest.approx(2 * TRANSITION_S + 600.0)
    assert timeline.time(ends[1]) == pytest.approx(2 * TRANSITION_S + 900.0)
    assert timeline.time(exited) == pytest.approx(2 * TRANSITION_S + 900.0)


def test_a_wait_adds_its_seconds_from_the_definition_or_from_its_input():
    history = History()
    fixed = history.add("WaitStateExited", history.add("WaitStateEntered", 1, name="WaitForCopies", input="{}"))
    read = history.add("WaitStateExited", history.add("WaitStateEntered", fixed, name="WaitForMarketplace",
                                                       input=json.dumps({"marketplace": {"wait_seconds": 42}})))
    timeline = history.timeline()

    assert timeline.time(fixed) == pytest.approx(TRANSITION_S + 300)
    assert timeline.time(read) == pytest.approx(2 * TRANSITION_S + 342)


def test_with_max_concurrency_an_iteration_waits_for_the_first_slot_to_free():
    history = History()
    regions = [{"region": {"region": name}} for name in ("eu-west-1", "us-east-1", "ap-south-1")]
    # two slots: ap-south-1 (index 2) takes the slot us-east-1 frees (5 s), before eu-west-1's (6 s)
    exited, ends = history.map(1, "Publish", regions, "PublishRegion", given={"slots": 2})
    # moto records a queued iteration's start after the event that freed its slot in real time
    third = next(e for e in history.events if e["type"] == "MapIterationStarted"
                 and e["mapIterationStartedEventDetails"]["index"] == 2)
    third["previousEventId"] = ends[0] - 1
    timeline = history.timeline()

    step = TRANSITION_S   # each iteration's task state is entered once
    assert timeline.time(ends[1]) == pytest.approx(TRANSITION_S + step + 5.0)
    assert timeline.time(ends[2]) == pytest.approx(TRANSITION_S + step + 5.0 + step + 4.0)
    assert timeline.time(exited) == pytest.approx(TRANSITION_S + 2 * step + 9.0)


def test_without_a_limit_every_iteration_starts_with_the_map():
    history = History()
    regions = [{"region": {"region": name}} for name in ("eu-west-1", "us-east-1", "ap-south-1")]
    exited, _ = history.map(1, "Publish", regions, "PublishRegion", given={"slots": 0})

    assert history.timeline().time(exited) == pytest.approx(2 * TRANSITION_S + 6.0)


def test_a_retry_waits_its_backed_off_interval_at_most_the_max_delay():
    history = History()
    exited = history.task(1, "CheckCopies", failures=("Throttled", "Throttled", "Throttled"))

    # four attempts, between them 30, 60, then 120 capped at 100
    assert history.timeline().time(exited) == pytest.approx(TRANSITION_S + 4 * TASK_S + 30 + 60 + 100)


def test_a_full_jitter_interval_is_drawn_below_the_backed_off_one_the_same_for_the_same_seed():
    definition = json.loads(json.dumps(DEFINITION))
    definition["States"]["CheckCopies"]["Retry"][0]["JitterStrategy"] = "FULL"
    history = History()
    exited = history.task(1, "CheckCopies", failures=("Throttled", "Throttled"))

    def retried_s(seed: int) -> float:
        return Timeline(history.events, definition, DURATIONS, seed).time(exited) - TRANSITION_S - 3 * TASK_S

    assert 0 <= retried_s(1) <= 30 + 60
    assert retried_s(1) == retried_s(1)
    assert retried_s(1) != retried_s(2)


def test_an_error_no_retrier_matches_adds_no_interval():
    history = History()
    exited = history.task(1, "CheckCopies", failures=("Other",))

    assert history.timeline().time(exited) == pytest.approx(TRANSITION_S + 2 * TASK_S)


def test_figures_run_from_the_start_to_announces_exit_against_the_critical_path():
    history = History()
    prepared = history.add("TaskStateExited", history.add("LambdaFunctionSucceeded", history.add(
        "LambdaFunctionStarted", history.add("LambdaFunctionScheduled", history.add(
            "TaskStateEntered", 1, name="Prepare", input="{}")))), name="Prepare", output=json.dumps(
        {"arches": [{"arch": "x86_64"}], "regions": ["us-east-1", "eu-west-1"], "base_region": "us-east-1"}))
    announced = history.task(prepared, "Announce")
    clock = VirtualClock(seed=3, definition=DEFINITION)

    figures = clock.figures_of(history.events)
    sampled = clock.durations(history.events)

    assert figures.modeled_commit_to_public_s == pytest.approx(
        2 * TRANSITION_S + sampled.once["prepare"] + sampled.once["announce"])
    assert figures.modeled_overhead_ratio == pytest.approx(
        figures.modeled_commit_to_public_s / figures.modeled_critical_path_s)
    assert announced == history.events[-1]["id"]
