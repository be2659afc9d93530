"""The latency model read from a stream's recorded history: each past release's Step Functions
execution history says how long each stage took in that run (stage_samples), and the medians and
p90s over the stream's last releases make the model (model_from_histories, model_for_stream).

Only what a run completed counts: a task state's exit counts when its task succeeded, not when a
Catch took the failure on, so a failed or partial run contributes the stages it finished."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws import stepfunctions
from chalicelib.aws.errors import code_of
from chalicelib.models.record import ReleaseStatus
from chalicelib.plan import latency
from chalicelib.stages import flow
from chalicelib.store import records

HistoryEvent = Mapping[str, Any]   # one event as GetExecutionHistory returns it
# One run's seconds per stage, holding only the stages the run completed.
StageSamples = latency.Durations


def _named_in_flow(*states: str) -> tuple[str, ...]:
    """The states, once flow.py is known to name each of them: what reads a history reads the
    states the release view reads (tests/unit/test_flow.py keeps flow.py equal to the ASL)."""
    known = {*flow.STAGE_OF_STATE, *flow.BUILD_STEP_OF_STATE, *flow.REGION_OUTCOME_STATES}
    unknown = [state for state in states if state not in known]
    if unknown:
        raise ValueError(f"flow.py names no state {', '.join(unknown)}")
    return states


ONCE_STATES = dict(zip(_named_in_flow("Prepare", "CheckBuild", "Preflight", "Validate", "Announce"),
                       ("prepare", "check_build", "preflight", "validate", "announce"), strict=True))
ARCH_STATES = dict(zip(_named_in_flow("LaunchBuilder", "RegisterImage", "LaunchQA", "EvaluateQA"), latency.PER_ARCH,
                       strict=True))
COPY_TO_REGION, FOLLOW_COPIES, MARKETPLACE = _named_in_flow("CopyToRegion", "FollowCopies", "Marketplace")

# The change sets Marketplace itself ended: their StartTime -> EndTime is its time.
MARKETPLACE_ENDED = ("SUCCEEDED", "FAILED")

# The statuses of a release that reached the public: out, still following Marketplace, or out
# once and retired since (its run's history is as good).
REACHED_PUBLIC = (*ReleaseStatus.OUT, ReleaseStatus.RETIRED)


@dataclass(frozen=True)
class Span:
    """One completed visit of a task state: its entered and exited events."""
    state: str
    entered: HistoryEvent
    exited: HistoryEvent

    @property
    def seconds(self) -> float:
        return (_time(self.exited) - _time(self.entered)).total_seconds()

    @cached_property
    def input(self) -> dict:
        return _json(self.entered["stateEnteredEventDetails"].get("input"))

    @cached_property
    def output(self) -> dict:
        return _json(self.exited["stateExitedEventDetails"].get("output"))


def _time(event: HistoryEvent) -> datetime:
    return event["timestamp"]


def _json(text: str | None) -> dict:
    """A state's input or output; {} where AWS truncated it (over 256 KiB) or left it out."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def completed_spans(history: list[HistoryEvent]) -> Iterator[Span]:
    """Every task state visit whose task succeeded, in the order they ended. The entered event of
    an exit is found by following previousEventId back, not by order: the iterations of a Map
    run at once and their events interleave."""
    by_id = {event["id"]: event for event in history}
    for exited in history:
        if not exited["type"].endswith("StateExited") or not _succeeded(_previous(by_id, exited)):
            continue
        state = exited["stateExitedEventDetails"]["name"]
        entered = _entered_before(by_id, exited)
        if entered is not None and entered["stateEnteredEventDetails"]["name"] == state:
            yield Span(state, entered, exited)


def _previous(by_id: Mapping[int, HistoryEvent], event: HistoryEvent) -> HistoryEvent | None:
    return by_id.get(event.get("previousEventId", 0))


def _succeeded(event: HistoryEvent | None) -> bool:
    """A task's last event before its exit: LambdaFunctionSucceeded or TaskSucceeded when it did
    its work; a failure a Catch took on exits the state too, after a *Failed or *TimedOut event."""
    return event is not None and event["type"] in ("LambdaFunctionSucceeded", "TaskSucceeded")


def _entered_before(by_id: Mapping[int, HistoryEvent], exited: HistoryEvent) -> HistoryEvent | None:
    event = _previous(by_id, exited)
    while event is not None and not event["type"].endswith(("StateEntered", "StateExited")):
        event = _previous(by_id, event)
    return event if event is not None and event["type"].endswith("StateEntered") else None


def stage_samples(history: list[HistoryEvent]) -> StageSamples:
    """The seconds each stage took in one execution (latency.STAGES), from its events:
    - prepare, check_build, preflight, validate, announce: the top-level state entered -> exited;
    - build, register, qa, evaluate, per architecture (the state's input names it): LaunchBuilder,
      RegisterImage, LaunchQA, EvaluateQA entered -> exited in the Build map;
    - copy and publish, per region: see copy_seconds and publish_seconds;
    - marketplace: see marketplace_seconds; absent when the run had no Marketplace change set."""
    spans = list(completed_spans(history))
    once = {stage: span.seconds for stage, span in _first_of(spans, ONCE_STATES).items()}
    marketplace = marketplace_seconds(history, spans)
    if marketplace is not None:
        once["marketplace"] = marketplace
    return StageSamples(once, _arch_seconds(spans), _region_seconds(spans))


def _arch_seconds(spans: list[Span]) -> dict[str, dict[str, float]]:
    per_arch: dict[str, dict[str, float]] = defaultdict(dict)
    for span in spans:
        arch = span.input.get("arch") if span.state in ARCH_STATES else None
        if arch:
            per_arch[arch].setdefault(ARCH_STATES[span.state], span.seconds)
    return dict(per_arch)


def _region_seconds(spans: list[Span]) -> dict[str, dict[str, float]]:
    per_region: dict[str, dict[str, float]] = defaultdict(dict)
    for stage, seconds_by_region in (("copy", copy_seconds(spans)), ("publish", publish_seconds(spans))):
        for region, seconds in seconds_by_region.items():
            per_region[region][stage] = seconds
    return dict(per_region)


def _first_of(spans: list[Span], stage_of_state: Mapping[str, str]) -> dict[str, Span]:
    first: dict[str, Span] = {}
    for span in spans:
        if span.state in stage_of_state:
            first.setdefault(stage_of_state[span.state], span)
    return first


def copy_seconds(spans: list[Span]) -> dict[str, float]:
    """Per destination region: from its CopyToRegion's exit (the copy requested) to the entry of
    the FollowCopies that published it, having found its copies available. An upper bound: the
    copy was done at some time before that follow, which runs when the model expects a copy, or
    on its backstop. The base region copies nothing."""
    requested: dict[str, datetime] = {}
    seconds: dict[str, float] = {}
    for span in spans:
        if span.state == COPY_TO_REGION:
            region = span.output.get("region")
            if region and region != span.input.get("base_region"):
                requested.setdefault(region, _time(span.exited))
        elif span.state == FOLLOW_COPIES:
            for region in _published_by(span):
                if region in requested and region not in seconds:
                    seconds[region] = (_time(span.entered) - requested[region]).total_seconds()
    return seconds


def publish_seconds(spans: list[Span]) -> dict[str, float]:
    """Per region: the FollowCopies that published it, entered -> exited. It publishes its regions
    at once, so each of them took at most that."""
    seconds: dict[str, float] = {}
    for span in spans:
        if span.state == FOLLOW_COPIES:
            for region in _published_by(span):
                seconds.setdefault(region, span.seconds)
    return seconds


def _published_by(span: Span) -> set[str]:
    """The regions a follow published: published in its output, not yet in its input."""
    def published(outcomes: Iterable[Mapping[str, Any]]) -> set[str]:
        return {outcome["region"] for outcome in outcomes if outcome.get("status") == "published"}

    return (published(span.output.get("distribution", {}).get("published", []))
            - published(span.input.get("distribution", {}).get("copies", [])))


def marketplace_seconds(history: list[HistoryEvent], spans: list[Span]) -> float | None:
    """The release's change sets, read in the output of the first Marketplace check that found
    them all settled: the longest of those Marketplace ended (MARKETPLACE_ENDED), from its
    StartTime to its EndTime (the product's sent_at and ended_at), whenever the checks saw it.
    None when the run had none settled, or when none of its change sets was ended by Marketplace
    (refused, failed before it started, cancelled, given up on): it measured nothing.

    An output that lists no change sets is read the old way: from the first Marketplace entered
    to that check's exit, an upper bound (the checks come when the model expects the change sets
    to have settled, or on their backstop)."""
    settled = next((span for span in spans if span.state == MARKETPLACE
                    and span.output.get("marketplace", {}).get("pending") is False), None)
    if settled is None:
        return None
    products = settled.output["marketplace"].get("products") or []
    if products:
        seconds = [seconds for product in products if (seconds := _change_set_seconds(product)) is not None]
        return max(seconds, default=None)
    started = next(event for event in history if event["type"].endswith("StateEntered")
                   and event["stateEnteredEventDetails"]["name"] == MARKETPLACE)
    return (_time(settled.exited) - _time(started)).total_seconds()


def _change_set_seconds(product: Mapping[str, Any]) -> float | None:
    """A change set's seconds from Marketplace's StartTime to its EndTime, if Marketplace ended it."""
    if product.get("status") not in MARKETPLACE_ENDED or not (product.get("sent_at") and product.get("ended_at")):
        return None
    try:
        sent, ended = datetime.fromisoformat(product["sent_at"]), datetime.fromisoformat(product["ended_at"])
    except (TypeError, ValueError):
        return None
    return (ended - sent).total_seconds()


def model_from_histories(histories: Iterable[list[HistoryEvent]],
                         base: latency.LatencyModel = latency.DEFAULT_MODEL) -> latency.LatencyModel:
    """Every stage measured in at least one run: the median and p90 over every measured value (each
    architecture's, each region's), its ``samples`` the runs it was measured in. Copies also per
    region where a run copied to it. Every other stage keeps ``base``'s estimate and its source."""
    values: dict[str, list[float]] = defaultdict(list)
    runs: dict[str, int] = defaultdict(int)
    copies: dict[str, list[float]] = defaultdict(list)
    for history in histories:
        samples = stage_samples(history)
        for stage, seconds in _by_stage(samples).items():
            values[stage] += seconds
            runs[stage] += 1
        for region, by_stage in samples.per_region.items():
            if "copy" in by_stage:
                copies[region].append(by_stage["copy"])
    stages = {stage: _estimate(values[stage], runs[stage]) if values[stage] else base.stages[stage]
              for stage in latency.STAGES}
    copy_by_region = {**base.copy_by_region,
                      **{region: _estimate(seconds, len(seconds)) for region, seconds in copies.items()}}
    return latency.LatencyModel(stages, copy_by_region)


def _by_stage(samples: StageSamples) -> dict[str, list[float]]:
    """One run's seconds per stage, every architecture's and region's together."""
    by_stage = {stage: [seconds] for stage, seconds in samples.once.items()}
    for seconds_of_stage in (*samples.per_arch.values(), *samples.per_region.values()):
        for stage, seconds in seconds_of_stage.items():
            by_stage.setdefault(stage, []).append(seconds)
    return by_stage


def _estimate(seconds: list[float], runs: int) -> latency.Estimate:
    return replace(latency.from_samples(seconds), samples=runs)


def model_for_stream(stream_name: str, releases: int = 20, look_back: int = 100,
                     base: latency.LatencyModel = latency.DEFAULT_MODEL) -> latency.LatencyModel:
    """The model from the stream's last ``releases`` releases that reached the public, newest
    first, among its newest ``look_back`` releases: a stream that failed many times in a row is
    not read back to its first release (Preflight asks this on every release). A run whose
    history Step Functions no longer keeps (90 days) is left out."""
    newest = itertools.islice(records.listing(stream_name, None, None, page_size=min(look_back, 100)), look_back)
    reached = (record for record in newest if record.status in REACHED_PUBLIC)
    histories = (history for record in itertools.islice(reached, releases)
                 if (history := _history(record.execution_arn)) is not None)
    return model_from_histories(histories, base)


def _history(execution_arn: str) -> list[HistoryEvent] | None:
    try:
        return list(stepfunctions.execution_history(execution_arn))
    except ClientError as error:
        if code_of(error) == "ExecutionDoesNotExist":
            return None
        raise
