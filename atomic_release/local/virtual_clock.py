"""A virtual clock for the local runtime: the real state machine and the real tasks run on moto in
seconds of wall time, while the latency model's stage times pass in simulated time.

Virtual time is read from an execution's history, never kept in a counter: each event happens at
its previous event's time (``previousEventId``) plus what lies between the two (a task's modelled
seconds, a guest's, a Wait's, a retry's interval, a state transition), and a Map's iterations start
when a slot is free. The same history and seed give the same times, whatever order moto's threads
wrote the events in.

Copies are where the clock acts on the run: a copy starts ``pending``, and becomes available
before a task that reads copies' states once the virtual time of that task's call has passed its
request plus the region's sampled copy time. So are Marketplace change sets: one starts at the
virtual time of the task that sends it and moves on once the sampled Marketplace time has passed
since; its StartTime and EndTime are those virtual times, as Marketplace's are its own."""

from __future__ import annotations

import heapq
import json
import math
import random
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from atomic_release.local import marketplace_catalog
from chalicelib.core import clock as task_clock
from chalicelib.core.regions import REGIONS_AT_ONCE
from chalicelib.plan.latency import DEFAULT_MODEL, PER_ARCH, PER_REGION, Durations, LatencyModel, critical_path

# An execution's history as GetExecutionHistory answers it, oldest event first.
History = Sequence[Mapping[str, Any]]
# Assumed: the order of Step Functions' own latency between one state and the next.
TRANSITION_S = 0.05
# Assumed: a task the model has no stage for makes a few API calls (CopyToRegion, FollowCopies, ...).
TASK_S = 1.0
# The task states the model has a stage for; a stage per architecture or per region reads the
# arch or region from the state's input. A callback's stage is its guest's time.
TASK_STAGES: Mapping[str, str] = {
    "Prepare": "prepare", "LaunchBuilder": "build", "RegisterImage": "register", "LaunchQA": "qa",
    "EvaluateQA": "evaluate", "CheckBuild": "check_build", "Preflight": "preflight", "Validate": "validate",
    "Announce": "announce",
}
# The task that publishes each region whose copies it finds available: it takes its own time, and
# the time its pool takes to publish the regions it published, REGIONS_AT_ONCE at a time.
PUBLISHED_BY = "FollowCopies"
# The tasks that read copies' states: pending copies whose time has come are made available first.
COPY_READERS = ("follow_copies",)
# The tasks whose decisions depend on the time (when a copy was requested, when the copies are
# next followed): they read the virtual time of their own call (chalicelib/core/clock.py).
TIMED_TASKS = ("copy_to_region", "follow_copies", "marketplace")
# The tasks that follow Marketplace change sets: a change set moves on once its time has come.
# (The clock knows one execution following Marketplace at a time.)
MARKETPLACE_FOLLOWERS = ("marketplace",)
# Its output names the release's arches, regions and base region.
PREPARED_BY = "Prepare"
# Its output names the copies it requested (the last request of a copy is when it began).
COPIED_BY = "CopyToRegion"
# Its exit is when the release is public: the stream metadata names it.
PUBLIC_AT = "Announce"

_ENDS = ("Succeeded", "Failed", "TimedOut", "Aborted")
_ITERATION_ENDS = tuple(f"MapIteration{end}" for end in _ENDS)
_MAP_ENDS = ("MapStateSucceeded", "MapStateFailed", "MapStateAborted", "MapStateExited")
_TASK_ENDS = tuple(f"{kind}{end}" for kind in ("LambdaFunction", "Task") for end in ("Succeeded", "Failed", "TimedOut"))
_FAILURES = tuple(f"{kind}{end}" for kind in ("LambdaFunction", "Task") for end in ("Failed", "TimedOut"))
_SCHEDULED = ("LambdaFunctionScheduled", "TaskScheduled")
_AMI = re.compile(r"ami-[0-9a-f]+")


@dataclass(frozen=True)
class Figures:
    modeled_commit_to_public_s: float
    modeled_critical_path_s: float

    @property
    def modeled_overhead_ratio(self) -> float:
        return self.modeled_commit_to_public_s / self.modeled_critical_path_s

    def as_dict(self) -> dict[str, float]:
        return {"modeled_commit_to_public_s": round(self.modeled_commit_to_public_s, 1),
                "modeled_critical_path_s": round(self.modeled_critical_path_s, 1),
                "modeled_overhead_ratio": round(self.modeled_overhead_ratio, 4)}


def states_by_name(definition: Mapping[str, Any]) -> dict[str, dict]:
    """Every state of a definition, those inside Map iterations too, by name."""
    found: dict[str, dict] = {}
    for name, state in definition["States"].items():
        found[name] = state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found |= states_by_name(processor)
    return found


def read_path(document: Any, path: str) -> Any:
    """A reference path of plain names (``$.a.b``), as Wait's SecondsPath and Map's
    MaxConcurrencyPath use them here."""
    if not re.fullmatch(r"\$(\.[A-Za-z0-9_]+)*", path):
        raise ValueError(f"the virtual clock reads plain reference paths, not {path!r}")
    for name in path.split(".")[1:]:
        document = document[name]
    return document


@dataclass(frozen=True)
class _Context:
    """Where an event happens: the state it belongs to (its StateEntered event) and the Map
    iteration around it (the MapStateStarted event and the index), with the context outside."""
    state: int | None
    iteration: tuple[int, int] | None = None
    outer: _Context | None = None

    @property
    def path(self) -> str:
        """The iterations' indexes, outermost first: the same in every run of the same release."""
        indexes = []
        context: _Context | None = self
        while context is not None:
            if context.iteration:
                indexes.append(str(context.iteration[1]))
            context = context.outer
        return "/".join(reversed(indexes))


class Timeline:
    """The virtual time of each event of one execution's history (complete or so far)."""

    def __init__(self, history: History, definition: Mapping[str, Any],
                 durations: Durations, seed: int = 0):
        self.events: dict[int, dict] = {event["id"]: dict(event) for event in history}
        self.states = states_by_name(definition)
        self.durations = durations
        self.seed = seed
        self.contexts = self._contexts()
        self._times: dict[int, float] = {0: 0.0}

    # -- which state and iteration each event belongs to ------------------------------------------
    def _contexts(self) -> dict[int, _Context]:
        contexts: dict[int, _Context] = {0: _Context(None)}
        self.iterations: dict[int, dict[int, list[int]]] = {}   # map (MapStateStarted id) -> index -> end events
        self.map_entered: dict[int, int] = {}                   # MapStateStarted id -> MapStateEntered id
        self.iteration_ends: set[int] = set()
        self.iteration_started: dict[int, int] = {}             # MapIterationStarted id -> MapStateStarted id
        # A queued iteration's start names the event that freed its slot, not its Map: the Map is
        # the last one started of the iteration's name (this clock knows no Map nested in a Map of
        # the same name).
        started_maps: dict[str, int] = {}
        for event_id in sorted(self.events):
            event = self.events[event_id]
            kind, previous = event["type"], event["previousEventId"]
            before = contexts[previous]
            if kind.endswith("StateEntered"):
                contexts[event_id] = _Context(event_id, before.iteration, before.outer)
            elif kind == "MapStateStarted":
                self.map_entered[event_id] = before.state or 0
                self.iterations[event_id] = {}
                started_maps[self.events[before.state or 0]["stateEnteredEventDetails"]["name"]] = event_id
                contexts[event_id] = before
            elif kind == "MapIterationStarted":
                details = event["mapIterationStartedEventDetails"]
                started = started_maps[details["name"]]
                self.iterations[started].setdefault(details["index"], [])
                self.iteration_started[event_id] = started
                contexts[event_id] = _Context(None, (started, details["index"]), contexts[started])
            elif kind in _ITERATION_ENDS:
                started, index = self._iteration_of(before)
                self.iterations[started].setdefault(index, []).append(event_id)
                self.iteration_ends.add(event_id)
                contexts[event_id] = before
            elif kind in _MAP_ENDS and previous in self.iteration_ends:
                contexts[event_id] = self._outside_map(before)
            else:
                contexts[event_id] = before
        return contexts

    @staticmethod
    def _iteration_of(context: _Context) -> tuple[int, int]:
        if context.iteration is None:
            raise ValueError("an iteration ends outside any Map iteration")
        return context.iteration

    def _outside_map(self, context: _Context) -> _Context:
        started, _ = self._iteration_of(context)
        outer = context.outer or _Context(None)
        return _Context(self.map_entered[started], outer.iteration, outer.outer)

    # -- time ------------------------------------------------------------------------------------
    def time(self, event_id: int) -> float:
        """The event's virtual seconds since the execution started. Only what it depends on is
        computed: a history read part way through the run answers for its events."""
        pending = [event_id]
        while pending:
            current = pending[-1]
            if current in self._times:
                pending.pop()
                continue
            missing = [d for d in self._depends_on(current) if d not in self._times]
            if missing:
                pending.extend(missing)
                continue
            self._times[current] = self._compute(current)
            pending.pop()
        return self._times[event_id]

    def _depends_on(self, event_id: int) -> list[int]:
        event = self.events[event_id]
        kind, previous = event["type"], event["previousEventId"]
        if kind in _MAP_ENDS and previous in self.iteration_ends:
            started, _ = self._iteration_of(self.contexts[previous])
            return [previous, *self._ends_of(started)]
        if kind == "MapIterationStarted":
            started = self.iteration_started[event_id]
            index = event["mapIterationStartedEventDetails"]["index"]
            queued = range(index) if index >= self._concurrency(started) > 0 else range(0)
            return [started, *(end for i in queued if (end := self._end_if_ended(started, i)) is not None)]
        return [previous] if previous in self.events or previous == 0 else []

    def _ends_of(self, started: int) -> list[int]:
        return [ends[-1] for ends in self.iterations[started].values() if ends]

    def _compute(self, event_id: int) -> float:
        event = self.events[event_id]
        kind, previous = event["type"], event["previousEventId"]
        if kind == "ExecutionStarted":
            return 0.0
        if kind in _MAP_ENDS and previous in self.iteration_ends:
            started, _ = self._iteration_of(self.contexts[previous])
            return max(self._times[end] for end in self._ends_of(started))
        if kind == "MapIterationStarted":
            started = self.iteration_started[event_id]
            if not self._concurrency(started):
                return self._times[started]
            return self._slot_free(started, event["mapIterationStartedEventDetails"]["index"])
        return self._times[previous] + self._between(event_id)

    def _between(self, event_id: int) -> float:
        event = self.events[event_id]
        kind = event["type"]
        context = self.contexts[event_id]
        if kind.endswith("StateEntered"):
            return TRANSITION_S
        if kind in _TASK_ENDS:
            return self._task_seconds(context, event)
        if kind == "WaitStateExited":
            return self._wait_seconds(context)
        if kind in _SCHEDULED and self.events[event["previousEventId"]]["type"] in _FAILURES:
            return self._retry_interval(event["previousEventId"])
        return 0.0

    # -- what lies between events ----------------------------------------------------------------
    def _entered(self, context: _Context) -> tuple[str, dict]:
        """The name and input of the state an event belongs to."""
        if context.state is None:
            raise ValueError("an event outside any state")
        details = self.events[context.state]["stateEnteredEventDetails"]
        return details["name"], json.loads(details.get("input") or "{}")

    def _task_seconds(self, context: _Context, ended: Mapping[str, Any]) -> float:
        name, given = self._entered(context)
        if name == PUBLISHED_BY:
            return TASK_S + _publishing_s([self.durations.per_region[region]["publish"]
                                           for region in _newly_published(self._call_input(ended), ended)])
        stage = TASK_STAGES.get(name)
        if stage is None:
            return TASK_S
        if stage in PER_ARCH:
            return self.durations.per_arch[given["arch"]][stage]
        if stage in PER_REGION:
            region = given["region"]
            return self.durations.per_region[region if isinstance(region, str) else region["region"]][stage]
        return self.durations.once[stage]

    def _call_input(self, ended: Mapping[str, Any]) -> dict:
        """What the call a task's end answers was given: its Scheduled event's input (the state's
        Parameters applied), not the state's input."""
        started = self.events.get(ended["previousEventId"], {})
        scheduled = self.events.get(started.get("previousEventId", 0), {})
        return json.loads((scheduled.get("lambdaFunctionScheduledEventDetails") or {}).get("input") or "{}")

    def _wait_seconds(self, context: _Context) -> float:
        name, given = self._entered(context)
        state = self.states[name]
        return float(state["Seconds"] if "Seconds" in state else read_path(given, state["SecondsPath"]))

    def _concurrency(self, map_started: int) -> int:
        """The Map's MaxConcurrency (0: no limit), from its definition or its input."""
        name, given = self._entered(_Context(self.map_entered[map_started]))
        state = self.states[name]
        if "MaxConcurrencyPath" in state:
            return int(read_path(given, state["MaxConcurrencyPath"]))
        return int(state.get("MaxConcurrency", 0))

    def _slot_free(self, map_started: int, index: int) -> float:
        """Iterations start in index order, each when one of the Map's slots is free: each earlier
        iteration took the slot that freed first, and holds it until it ends. Read while the Map
        runs, an earlier iteration that has not ended holds its slot still (the Map started this
        one, so a slot was free)."""
        slots = [self._times[map_started]] * self._concurrency(map_started)
        if index < len(slots):
            return slots[0]
        for before in range(index):
            end = self._end_if_ended(map_started, before)
            heapq.heapreplace(slots, math.inf if end is None else self._times[end])
        if slots[0] == math.inf:
            raise ValueError(f"iteration {index} of the Map at event {map_started} started with every slot taken")
        return slots[0]

    def _end_if_ended(self, map_started: int, index: int) -> int | None:
        ends = self.iterations[map_started].get(index)
        return ends[-1] if ends else None

    def _retry_interval(self, failure_id: int) -> float:
        """The interval of the retrier that caught the failure: IntervalSeconds x BackoffRate^n,
        at most MaxDelaySeconds, and with FULL jitter a draw below it (seeded by where it is)."""
        failure = self.events[failure_id]
        name, _ = self._entered(self.contexts[failure_id])
        error = _error_of(failure)
        retriers = self.states[name].get("Retry", [])
        retrier = next((r for r in retriers if _matches(r["ErrorEquals"], error)), None)
        if retrier is None:
            return 0.0
        attempts = sum(1 for earlier in self._failures_before(failure_id)
                       if _matches(retrier["ErrorEquals"], _error_of(self.events[earlier])))
        interval = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** attempts
        if "MaxDelaySeconds" in retrier:
            interval = min(interval, retrier["MaxDelaySeconds"])
        if retrier.get("JitterStrategy") == "FULL":
            where = f"{self.seed}:{self.contexts[failure_id].path}:{name}:{attempts}:{self._times[failure_id]!r}"
            interval = random.Random(where).uniform(0, interval)
        return interval

    def _failures_before(self, failure_id: int) -> list[int]:
        """The failures of the same state entry before this one."""
        state = self.contexts[failure_id].state
        earlier, current = [], self.events[failure_id]["previousEventId"]
        while current and current != state:
            if self.events[current]["type"] in _FAILURES:
                earlier.append(current)
            current = self.events[current]["previousEventId"]
        return earlier

    # -- questions about the run -----------------------------------------------------------------
    def all(self, kind: str, state: str | None = None) -> list[int]:
        """The events of this type (of this state), oldest first."""
        return [event_id for event_id in sorted(self.events) if self.events[event_id]["type"] == kind
                and (state is None or self.state_name(event_id) == state)]

    def last(self, kind: str, state: str | None = None, where: Callable[[dict], bool] = lambda event: True
             ) -> int | None:
        """The last event of this type (of this state, and matching ``where``), or None."""
        return next((event_id for event_id in reversed(self.all(kind, state)) if where(self.events[event_id])), None)

    def state_name(self, event_id: int) -> str | None:
        context = self.contexts[event_id]
        return self._entered(context)[0] if context.state is not None else None


def _error_of(failure: Mapping[str, Any]) -> str:
    details: dict = next((value for key, value in failure.items() if key.endswith("EventDetails")), {})
    return details.get("error") or ("States.Timeout" if failure["type"].endswith("TimedOut") else "States.TaskFailed")


def _matches(errors: Sequence[str], error: str) -> bool:
    return error in errors or "States.ALL" in errors or ("States.TaskFailed" in errors and error != "States.Timeout")


def _newly_published(given: Mapping[str, Any], ended: Mapping[str, Any]) -> list[str]:
    """The regions a follow published, in the order it published them: published in its answer,
    not yet in the copies it was given."""
    answer = json.loads((ended.get("lambdaFunctionSucceededEventDetails") or {}).get("output") or "{}")
    before = {r["region"] for r in given.get("copies", []) if r.get("status") == "published"}
    return [r["region"] for r in answer.get("published", []) if r.get("status") == "published"
            and r["region"] not in before]


def _publishing_s(seconds: Sequence[float]) -> float:
    """How long a follow's pool of REGIONS_AT_ONCE workers takes to publish regions that take
    these seconds, in this order: each region starts on the first worker to free."""
    workers = [0.0] * min(REGIONS_AT_ONCE, len(seconds))
    for publish_s in seconds:
        heapq.heapreplace(workers, workers[0] + publish_s)
    return max(workers, default=0.0)


def _output(event: Mapping[str, Any]) -> str:
    return (event.get("stateExitedEventDetails") or {}).get("output") or ""


@dataclass
class VirtualClock:
    """Stage times drawn once per execution from the model with the seed; what the runtime asks it:
    what to do with a new copy, what to do before a task runs, and a finished run's figures."""

    model: LatencyModel = DEFAULT_MODEL
    seed: int = 0
    definition: Mapping[str, Any] | None = None   # None: the state machine the runtime runs
    history: Callable[[str], History] | None = None
    _pending: dict[str, tuple[str, Any]] = field(default_factory=dict)   # copy id -> (region, moto's image)
    _sent: dict[str, datetime] = field(default_factory=dict)             # change set id -> virtual send time
    # the virtual time of the last Marketplace task, and the sampled Marketplace time
    _marketplace_at: tuple[datetime, float] | None = None
    _running: threading.local = field(default_factory=threading.local)   # .time: the timed task's virtual time

    def durations(self, timeline_history: History) -> Durations:
        """This execution's stage times: the arches and regions Prepare decided, drawn with the seed."""
        prepared = next(json.loads(_output(e)) for e in timeline_history if e["type"] == "TaskStateExited"
                        and e["stateExitedEventDetails"]["name"] == PREPARED_BY)
        return self.model.sample([a["arch"] for a in prepared["arches"]], prepared["regions"],
                                 prepared["base_region"], random.Random(self.seed))

    def timeline(self, history: History) -> Timeline:
        return Timeline(history, self._definition(), self.durations(history), self.seed)

    def _definition(self) -> Mapping[str, Any]:
        if self.definition is None:
            from atomic_release.local.runtime import ASL

            self.definition = json.loads(ASL.read_text())
        return self.definition

    # -- hooks of the local runtime --------------------------------------------------------------
    def attach(self, history: Callable[[str], History]) -> None:
        """The runtime the clock runs in, and how it reads an execution's history; the time the
        tasks read is the clock's while it runs a timed task."""
        self.history = history
        self._pending.clear()
        self._sent.clear()
        self._marketplace_at = None
        task_clock.answered_by(self.task_time)

    def detach(self) -> None:
        task_clock.answered_by(None)

    def task_ended(self) -> None:
        """The thread's task is done: nothing it runs next reads that task's time."""
        self._running.time = None

    def task_time(self) -> datetime | None:
        """The virtual time of the timed task this thread runs (None: the system's clock)."""
        return getattr(self._running, "time", None)

    def copy_made(self, region: str, ami) -> None:
        """A copy is pending until its time has come (a failed one stays failed)."""
        if ami.state == "failed":
            return
        ami.state = "pending"
        self._pending[ami.id] = (region, ami)

    def before_invoke(self, function_name: str, event: dict) -> None:
        """Before a task that reads copies' states, the copies whose time has come are available;
        before one that follows Marketplace, change sets move on once theirs has."""
        self._running.time = None
        if not _one_of(function_name, TIMED_TASKS) or self.history is None:
            return   # the tasks that read copies or follow Marketplace are timed tasks too
        reads_copies = _one_of(function_name, COPY_READERS) and bool(self._pending)
        follows_marketplace = _one_of(function_name, MARKETPLACE_FOLLOWERS)
        execution_arn = _running_execution_of(event.get("release_id"))
        if execution_arn is None:
            return
        history = self.history(execution_arn)
        timeline, now = self.now(history, function_name, event)
        virtual_now = _started_at(history) + timedelta(seconds=now)
        self._running.time = virtual_now
        if reads_copies:
            self.settle_copies(timeline, now)
        if follows_marketplace:
            self._marketplace_at = (virtual_now, timeline.durations.once["marketplace"])
            marketplace_catalog.gate(self._change_set_due, self.task_time)

    def after_invoke(self, function_name: str, event: dict) -> None:
        """The change sets a Marketplace task started were sent at the virtual time it ran."""
        if _one_of(function_name, MARKETPLACE_FOLLOWERS) and self._marketplace_at is not None:
            for change_set_id in marketplace_catalog.in_flight():
                self._sent.setdefault(change_set_id, self._marketplace_at[0])

    def _change_set_due(self, change_set) -> datetime | None:
        """When the change set's modelled time came (its virtual end), once it has; None: not yet."""
        if self._marketplace_at is None:
            return datetime.now(UTC)
        now, marketplace_s = self._marketplace_at
        due = self._sent.get(change_set.change_set_id, now) + timedelta(seconds=marketplace_s)
        return due if due <= now else None

    def now(self, history: History, function_name: str, given: Mapping[str, Any] | None = None
            ) -> tuple[Timeline, float]:
        """The execution's timeline so far, and the virtual time the task was last scheduled with
        this input (iterations of a Map call the same task at once, each with its own input)."""
        timeline = self.timeline(history)

        def this_call(event: Mapping[str, Any]) -> bool:
            details = event.get("lambdaFunctionScheduledEventDetails", {})
            return details.get("resource", "").endswith(function_name) and (
                given is None or json.loads(details.get("input") or "{}") == given)

        scheduled = timeline.last("LambdaFunctionScheduled", where=this_call)
        if scheduled is None:
            raise ValueError(f"{function_name} runs without its LambdaFunctionScheduled event in the history")
        return timeline, timeline.time(scheduled)

    def settle_copies(self, timeline: Timeline, now: float) -> list[str]:
        """Copies whose request (the exit of the CopyToRegion naming them) plus the region's copy
        time is not after ``now`` become available; their ids."""
        requested = {image_id: event_id for event_id in timeline.all("TaskStateExited", COPIED_BY)
                     for image_id in _AMI.findall(_output(timeline.events[event_id]))}   # the last request wins
        settled = []
        for image_id, (region, ami) in list(self._pending.items()):
            if image_id not in requested:
                continue   # another execution's copy
            if timeline.time(requested[image_id]) + timeline.durations.per_region[region]["copy"] <= now:
                if ami.state == "pending":
                    ami.state = "available"
                del self._pending[image_id]
                settled.append(image_id)
        return settled

    def figures(self, execution_arn: str) -> Figures:
        if self.history is None:
            raise RuntimeError("the clock reads histories through the runtime it runs in")
        return self.figures_of(self.history(execution_arn))

    def figures_of(self, history: History) -> Figures:
        """Virtual seconds from the start to Announce's exit, and the critical path of the run's
        sampled stage times."""
        timeline = self.timeline(history)
        public = timeline.last("TaskStateExited", PUBLIC_AT)
        if public is None:
            raise ValueError(f"the run never left {PUBLIC_AT}: it made no release public")
        return Figures(timeline.time(public), critical_path(timeline.durations).total_s)


def _started_at(history: History) -> datetime:
    """When the execution started, on the system's clock: virtual time counts from it."""
    started = next(event["timestamp"] for event in history if event["type"] == "ExecutionStarted")
    return started if isinstance(started, datetime) else datetime.fromisoformat(str(started))


def _one_of(function_name: str, tasks: Sequence[str]) -> bool:
    """Whether the deployed function (``<app>-<stage>-<task>``) is one of the tasks."""
    return any(function_name.endswith(f"-{task}") for task in tasks)


def _running_execution_of(release_id: str | None) -> str | None:
    """The running execution of the release (its input names it)."""
    if not release_id:
        return None
    from chalicelib.aws.clients import client
    from chalicelib.models.release import ReleaseInput

    sfn = client("stepfunctions")
    for machine in sfn.list_state_machines()["stateMachines"]:
        for listed in sfn.list_executions(stateMachineArn=machine["stateMachineArn"],
                                          statusFilter="RUNNING")["executions"]:
            described = sfn.describe_execution(executionArn=listed["executionArn"])
            if ReleaseInput.model_validate_json(described["input"]).release_id == release_id:
                return listed["executionArn"]
    return None
