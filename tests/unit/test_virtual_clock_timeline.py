"""The virtual clock's arithmetic on small hand-made histories: each event's time is its previous
event's plus what lies between them."""

import json

import pytest

from atomic_release.local.virtual_clock import TASK_S, TRANSITION_S, Timeline, VirtualClock, states_by_name
from chalicelib.plan.latency import Durations

DURATIONS = Durations(
    once={"prepare": 2.0, "check_build": 1.0, "preflight": 5.0, "validate": 10.0, "announce": 7.0,
          "marketplace": 100.0},
    per_arch={"x86_64": {"build": 600.0, "register": 300.0, "qa": 180.0, "evaluate": 2.0},
              "arm64": {"build": 900.0, "register": 200.0, "qa": 150.0, "evaluate": 3.0}},
    per_region={"us-east-1": {"copy": 0.0, "publish": 5.0}, "eu-west-1": {"copy": 1800.0, "publish": 6.0},
                "ap-south-1": {"copy": 2400.0, "publish": 4.0}})
REGIONS = ["eu-west-1", "us-east-1", "ap-south-1"]


def lambda_task(name: str) -> dict:
    return {"Type": "Task", "Resource": f"arn:{name}", "End": True}


# The release machine's states the clock reads, with retriers whose arithmetic is exact (the
# machine's CopyToRegion retrier draws FULL jitter; one test adds it).
DEFINITION = {"StartAt": "Prepare", "States": {
    "Prepare": lambda_task("prepare"),
    "Build": {"Type": "Map", "ItemProcessor": {"StartAt": "LaunchBuilder", "States": {
        "LaunchBuilder": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": True},
    }}, "End": True},
    "Distribute": {"Type": "Map", "MaxConcurrencyPath": "$.copy_concurrency", "ItemProcessor": {
        "StartAt": "CopyToRegion", "States": {"CopyToRegion": {**lambda_task("copy_to_region"), "Retry": [
            {"ErrorEquals": ["CopyThrottled"], "IntervalSeconds": 30, "BackoffRate": 2, "MaxAttempts": 10,
             "MaxDelaySeconds": 100}]}}}, "End": True},
    "FollowCopies": lambda_task("follow_copies"),
    "WaitForCopies": {"Type": "Wait", "SecondsPath": "$.distribution.wait_seconds", "End": True},
    # No Wait of the release machine waits fixed seconds now; the clock reads them from the definition.
    "Pause": {"Type": "Wait", "Seconds": 300, "End": True},
    "Announce": lambda_task("announce"),
}}
STATES = states_by_name(DEFINITION)


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

    def call(self, previous: int, name: str, given: dict) -> int:
        """A Lambda task's call scheduled, as moto records it: the state's resource, and its input
        once the state's Parameters are applied; returns the Scheduled event."""
        return self.add("LambdaFunctionScheduled", previous, resource=STATES[name]["Resource"], input=json.dumps(given))

    def task(self, previous: int, name: str, given: dict | None = None, callback: bool = False,
             failures: tuple[str, ...] = (), call: dict | None = None, answer: dict | None = None) -> int:
        """A task state from entered to exited (``call``: what its call is given, by default the
        state's input; ``answer``: its output); returns its exit."""
        entered = self.add("TaskStateEntered", previous, name=name, input=json.dumps(given or {}))
        last = entered
        kind = "Task" if callback else "LambdaFunction"

        def scheduled(after: int) -> int:
            return self.add("TaskScheduled", after) if callback else self.call(after, name, call or given or {})

        for error in failures:
            last = self.add(f"{kind}Failed", self.add(f"{kind}Started", scheduled(last)), error=error)
        started = self.add(f"{kind}Started", scheduled(last))
        ended = (self.add(f"{kind}Succeeded", started, output=json.dumps(answer)) if answer is not None
                 else self.add(f"{kind}Succeeded", started))
        return self.add("TaskStateExited", ended, name=name, output=json.dumps(answer or {}))

    def enter_map(self, previous: int, name: str, length: int, given: dict | None = None) -> int:
        """A Map entered and started; returns its MapStateStarted event."""
        entered = self.add("MapStateEntered", previous, name=name, input=json.dumps(given or {}))
        return self.add("MapStateStarted", entered, length=length)

    def map(self, previous: int, name: str, items: list[dict], state: str, given: dict | None = None,
            order: list[int] | None = None, failures: dict[int, tuple[str, ...]] | None = None
            ) -> tuple[int, list[int]]:
        """A Map whose iterations run one task each, recorded in ``order`` (moto's threads): its
        exit, which points at the last iteration recorded, and each iteration's end by index."""
        started = self.enter_map(previous, name, len(items), given)
        ends: dict[int, int] = {}
        for index in order or range(len(items)):
            began = self.add("MapIterationStarted", started, name=name, index=index)
            exited = self.task(began, state, items[index], callback=state == "LaunchBuilder",
                               failures=(failures or {}).get(index, ()))
            ends[index] = self.add("MapIterationSucceeded", exited, name=name, index=index)
        last = ends[(order or list(range(len(items))))[-1]]
        self.add("MapStateSucceeded", last)
        return self.add("MapStateExited", last, name=name), [ends[i] for i in range(len(items))]

    def timeline(self) -> Timeline:
        return Timeline(self.events, DEFINITION, DURATIONS)


def copy_item(region: str) -> dict:
    """A Distribute iteration's input: its ItemSelector names the region."""
    return {"release_id": "r-1", "region": region}


def region(name: str, status: str) -> dict:
    return {"region": name, "status": status, "stage": "publish" if status == "published" else "copy"}


def test_a_lambda_task_takes_its_stage_and_one_transition():
    history = History()
    exited = history.task(1, "Prepare")

    assert history.timeline().time(exited) == pytest.approx(TRANSITION_S + 2.0)


def test_a_task_the_model_has_no_stage_for_takes_the_small_constant():
    history = History()
    exited = history.task(1, "CopyToRegion", copy_item("eu-west-1"))

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
    fixed = history.add("WaitStateExited", history.add("WaitStateEntered", 1, name="Pause", input="{}"))
    read = history.add("WaitStateExited", history.add("WaitStateEntered", fixed, name="WaitForCopies",
                                                       input=json.dumps({"distribution": {"wait_seconds": 42}})))
    timeline = history.timeline()

    assert timeline.time(fixed) == pytest.approx(TRANSITION_S + 300)
    assert timeline.time(read) == pytest.approx(2 * TRANSITION_S + 342)


# Distribute's iterations with two slots: eu-west-1 is throttled once (32 s), us-east-1 not (1 s),
# ap-south-1 twice (93 s); ap-south-1 (index 2) takes the slot us-east-1 frees first.
THROTTLED = {0: ("CopyThrottled",), 2: ("CopyThrottled", "CopyThrottled")}


def test_with_max_concurrency_an_iteration_waits_for_the_first_slot_to_free():
    history = History()
    exited, ends = history.map(1, "Distribute", [copy_item(r) for r in REGIONS], "CopyToRegion",
                               given={"copy_concurrency": 2}, failures=THROTTLED)
    # moto records a queued iteration's start after the event that freed its slot in real time
    third = next(e for e in history.events if e["type"] == "MapIterationStarted"
                 and e["mapIterationStartedEventDetails"]["index"] == 2)
    third["previousEventId"] = ends[1] - 1
    timeline = history.timeline()

    step = TRANSITION_S   # each iteration's task state is entered once
    assert timeline.time(ends[0]) == pytest.approx(TRANSITION_S + step + TASK_S + 30 + TASK_S)
    assert timeline.time(ends[1]) == pytest.approx(TRANSITION_S + step + TASK_S)
    assert timeline.time(ends[2]) == pytest.approx(TRANSITION_S + step + TASK_S + step + 3 * TASK_S + 30 + 60)
    assert timeline.time(exited) == timeline.time(ends[2])


def test_without_a_limit_every_iteration_starts_with_the_map():
    history = History()
    exited, _ = history.map(1, "Distribute", [copy_item(r) for r in REGIONS], "CopyToRegion",
                            given={"copy_concurrency": 0}, failures=THROTTLED)

    assert history.timeline().time(exited) == pytest.approx(2 * TRANSITION_S + 3 * TASK_S + 30 + 60)


def prepared(history: History) -> int:
    """Prepare's exit naming the release's arch and regions (the clock samples their times)."""
    return history.task(1, "Prepare", answer={"arches": [{"arch": "x86_64"}], "regions": REGIONS,
                                              "base_region": "us-east-1"})


def test_a_map_read_while_it_runs_starts_a_later_iteration_when_an_ended_one_freed_its_slot():
    history = History()
    started = history.enter_map(prepared(history), "Distribute", 3, given={"copy_concurrency": 2})
    first = history.add("MapIterationStarted", started, name="Distribute", index=0)
    history.add("LambdaFunctionStarted", history.call(
        history.add("TaskStateEntered", first, name="CopyToRegion", input=json.dumps(copy_item(REGIONS[0]))),
        "CopyToRegion", copy_item(REGIONS[0])))   # still running when the history is read
    second = history.add("MapIterationStarted", started, name="Distribute", index=1)
    second_exit = history.task(second, "CopyToRegion", copy_item(REGIONS[1]))
    second_end = history.add("MapIterationSucceeded", second_exit, name="Distribute", index=1)
    third = history.add("MapIterationStarted", second_exit, name="Distribute", index=2)
    history.call(history.add("TaskStateEntered", third, name="CopyToRegion", input=json.dumps(copy_item(REGIONS[2]))),
                 "CopyToRegion", copy_item(REGIONS[2]))
    clock = VirtualClock(seed=1, definition=DEFINITION)
    timeline, third_called = clock.now(history.events, "copy_to_region", copy_item(REGIONS[2]))
    _, first_called = clock.now(history.events, "copy_to_region", copy_item(REGIONS[0]))

    map_started = timeline.time(started)
    # index 1 < MaxConcurrency: it starts with the Map, though iteration 0 has not ended
    assert timeline.time(second) == map_started
    # iteration 0 still holds its slot: iteration 2 takes the one iteration 1 freed
    assert timeline.time(third) == timeline.time(second_end) == pytest.approx(map_started + TRANSITION_S + TASK_S)
    # each call reads the time it was scheduled with its own input
    assert third_called == pytest.approx(timeline.time(second_end) + TRANSITION_S)
    assert first_called == pytest.approx(map_started + TRANSITION_S)


def test_a_map_read_while_it_runs_refuses_an_iteration_started_with_every_slot_taken():
    history = History()
    started = history.enter_map(1, "Distribute", 3, given={"copy_concurrency": 2})
    for index in range(2):
        began = history.add("MapIterationStarted", started, name="Distribute", index=index)
        history.add("TaskStateEntered", began, name="CopyToRegion", input=json.dumps(copy_item(REGIONS[index])))
    third = history.add("MapIterationStarted", started, name="Distribute", index=2)

    with pytest.raises(ValueError, match="every slot taken"):
        history.timeline().time(third)


def follow(history: History, previous: int, before: list[dict], after: list[dict]) -> int:
    """A FollowCopies: its state input holds the copies under ``distribution``, its call is given
    them as ``copies``, and it answers the regions published so far."""
    return history.task(previous, "FollowCopies", {"distribution": {"copies": before}}, call={"copies": before},
                        answer={"copies": after, "published": [r for r in after if r["status"] == "published"],
                                "wait_seconds": 60})


def test_a_follow_takes_its_own_time_and_the_longest_publish_of_the_regions_it_newly_published():
    history = History()
    copying = [region(name, "copying") for name in REGIONS]
    first = follow(history, 1, copying, [region("us-east-1", "published") if r["region"] == "us-east-1" else r
                                         for r in copying])
    partly = [region("us-east-1", "published"), region("eu-west-1", "copying"), region("ap-south-1", "copying")]
    idle = follow(history, first, partly, partly)
    last = follow(history, idle, partly, [region(name, "published") for name in REGIONS])
    timeline = history.timeline()

    assert timeline.time(first) == pytest.approx(TRANSITION_S + TASK_S + 5.0)   # us-east-1
    # nothing newly published: us-east-1's publish is not counted again
    assert timeline.time(idle) - timeline.time(first) == pytest.approx(TRANSITION_S + TASK_S)
    # eu-west-1 (6 s) and ap-south-1 (4 s) at once
    assert timeline.time(last) - timeline.time(idle) == pytest.approx(TRANSITION_S + TASK_S + 6.0)


def test_a_follow_publishes_at_most_eight_regions_at_once():
    # nine regions newly published, taking 1 s to 9 s: the ninth starts when the first (1 s) frees its worker
    names = [f"region-{n}" for n in range(9)]
    durations = Durations(once=DURATIONS.once, per_arch=DURATIONS.per_arch,
                          per_region={name: {"copy": 0.0, "publish": n + 1.0} for n, name in enumerate(names)})
    history = History()
    exited = follow(history, 1, [region(name, "copying") for name in names],
                    [region(name, "published") for name in names])

    assert Timeline(history.events, DEFINITION, durations).time(exited) == pytest.approx(
        TRANSITION_S + TASK_S + 1.0 + 9.0)


def test_a_retry_waits_its_backed_off_interval_at_most_the_max_delay():
    history = History()
    exited = history.task(1, "CopyToRegion", copy_item("eu-west-1"), failures=("CopyThrottled",) * 3)

    # four attempts, between them 30, 60, then 120 capped at 100
    assert history.timeline().time(exited) == pytest.approx(TRANSITION_S + 4 * TASK_S + 30 + 60 + 100)


def test_a_full_jitter_interval_is_drawn_below_the_backed_off_one_the_same_for_the_same_seed():
    definition = json.loads(json.dumps(DEFINITION))
    definition["States"]["Distribute"]["ItemProcessor"]["States"]["CopyToRegion"]["Retry"][0]["JitterStrategy"] = "FULL"
    history = History()
    exited = history.task(1, "CopyToRegion", copy_item("eu-west-1"), failures=("CopyThrottled",) * 2)

    def retried_s(seed: int) -> float:
        return Timeline(history.events, definition, DURATIONS, seed).time(exited) - TRANSITION_S - 3 * TASK_S

    assert 0 <= retried_s(1) <= 30 + 60
    assert retried_s(1) == retried_s(1)
    assert retried_s(1) != retried_s(2)


def test_an_error_no_retrier_matches_adds_no_interval():
    history = History()
    exited = history.task(1, "CopyToRegion", copy_item("eu-west-1"), failures=("Other",))

    assert history.timeline().time(exited) == pytest.approx(TRANSITION_S + 2 * TASK_S)


def test_figures_run_from_the_start_to_announces_exit_against_the_critical_path():
    history = History()
    announced = history.task(prepared(history), "Announce")
    clock = VirtualClock(seed=3, definition=DEFINITION)

    figures = clock.figures_of(history.events)
    sampled = clock.durations(history.events)

    assert figures.modeled_commit_to_public_s == pytest.approx(
        2 * TRANSITION_S + sampled.once["prepare"] + sampled.once["announce"])
    assert figures.modeled_overhead_ratio == pytest.approx(
        figures.modeled_commit_to_public_s / figures.modeled_critical_path_s)
    assert announced == history.events[-1]["id"]
