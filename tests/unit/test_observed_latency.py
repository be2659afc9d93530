"""The latency model read from execution histories, against numbers computed by hand.

tests/unit/data/observed-histories.json holds three runs of one real local release's history
(2 architectures; us-east-1 the base region, us-east-2 and us-west-1 copied to; us-west-1's
copies still pending at the first FollowCopies, so the second one publishes it, after the
1800 s WaitForCopies the run recorded), its timestamps set by hand and its events numbered again
in time order: arm64 starts building first and x86_64 finishes first, so their iterations'
events interleave. The task states' chosen seconds, run 1 / run 2 / run 3:

    Preflight                      6 / 8 / 10
    LaunchBuilder x86_64         600 / 660 / 720
    LaunchBuilder arm64          900 / 840 / 780
    CopyToRegion (from the Distribute map's start)
        us-east-1  2 / 2 / 2;  us-east-2  4 / 10 / 6;  us-west-1  10 / 4 / 8
    FollowCopies, the first (publishes us-east-1 and us-east-2)   20 / 30 / 40
    FollowCopies, the second (publishes us-west-1)                10 / 15 / 50
    Marketplace (each of 3 checks, 600 s waits between)   10 / 20 / 30

The third check finds both change sets settled; its output lists them with Marketplace's times
(sent_at its StartTime -> ended_at its EndTime), seconds x86_64 / arm64:

    run 1  720 / 960;  run 2  540 / 840;  run 3  900 / 1080
"""

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from chalicelib.plan import observed
from chalicelib.plan.latency import DEFAULTS, Estimate
from chalicelib.plan.observed import model_from_histories, stage_samples

DATA = Path(__file__).parent / "data"
DOCS = Path(__file__).parents[2] / "docs" / "plan.md"


def events(raw: list[dict]) -> list[dict]:
    """Events as GetExecutionHistory returns them: the timestamps datetimes."""
    return [{**event, "timestamp": datetime.fromisoformat(event["timestamp"])} for event in raw]


def figures(estimate: Estimate) -> tuple:
    return estimate.median_s, estimate.p90_s, estimate.samples, estimate.source


@pytest.fixture(scope="module")
def runs() -> list[list[dict]]:
    return [events(run) for run in json.loads((DATA / "observed-histories.json").read_text())["runs"]]


@pytest.fixture(scope="module")
def model(runs):
    return model_from_histories(runs)


def test_a_once_stage_is_the_median_and_p90_of_its_runs(model):
    # Preflight: sorted 6 8 10; median 8; p90 at position 0.9 * (3 - 1) = 1.8: 8 + 0.8 * (10 - 8)
    assert figures(model.stages["preflight"]) == (8, pytest.approx(9.6), 3, "history")


def test_a_per_arch_stage_pools_the_architectures(model):
    # LaunchBuilder: sorted 600 660 720 780 840 900; median (720 + 780) / 2 = 750;
    # p90 at 0.9 * 5 = 4.5: 840 + 0.5 * (900 - 840) = 870; measured in 3 runs
    assert figures(model.stages["build"]) == (750, pytest.approx(870), 3, "history")


def test_copies_are_pooled_and_kept_per_region(model):
    # Each run: the Distribute map ends with its slowest CopyToRegion (10, 10, 8 s after it starts)
    # and the first FollowCopies starts then; it ends 20 / 30 / 40 s later, and the second one starts
    # after the 1800 s WaitForCopies. A copy counts from its CopyToRegion's exit to the start of the
    # follow that published its region:
    # us-east-2 (the first follow): run 1: 10 - 4 = 6; run 2: 10 - 10 = 0; run 3: 8 - 6 = 2
    # us-west-1 (the second): run 1: 10 + 20 + 1800 - 10 = 1820; run 2: 10 + 30 + 1800 - 4 = 1836;
    #                         run 3: 8 + 40 + 1800 - 8 = 1840
    # pooled, sorted: 0 2 6 1820 1836 1840; median (6 + 1820) / 2 = 913; p90 at 4.5: 1836 + 0.5 * 4 = 1838
    assert figures(model.stages["copy"]) == (913, pytest.approx(1838), 3, "history")
    # us-west-1: 1820 1836 1840; median 1836; p90 at 1.8: 1836 + 0.8 * 4 = 1839.2
    assert figures(model.copy_by_region["us-west-1"]) == (1836, pytest.approx(1839.2), 3, "history")
    assert model.estimate("copy", "us-west-1") is model.copy_by_region["us-west-1"]
    assert "us-east-1" not in model.copy_by_region, "the base region copies nothing"


def test_each_region_publishes_in_the_follow_that_found_its_copies(runs):
    # Run 3: the first follow (40 s) publishes us-east-1 and us-east-2, the second (50 s) us-west-1.
    assert stage_samples(runs[2]).per_region == {"us-east-1": {"publish": 40},
                                                 "us-east-2": {"copy": 2, "publish": 40},
                                                 "us-west-1": {"copy": 1840, "publish": 50}}


def test_publish_pools_every_region(model):
    # A region's publish: the follow that published it, entered -> exited. us-east-1 and us-east-2
    # take the first follow's 20 / 30 / 40 s, us-west-1 the second's 10 / 15 / 50 s.
    # sorted: 10 15 20 20 30 30 40 40 50; median 30; p90 at 0.9 * 8 = 7.2: 40 + 0.2 * (50 - 40) = 42
    assert figures(model.stages["publish"]) == (30, pytest.approx(42), 3, "history")


def test_marketplace_is_the_longest_change_set_from_its_start_to_its_end_as_marketplace_says(model):
    # the longest of each run's two: 960, 840, 1080 (not the checks' 1230, 1260, 1290: the change
    # sets ended before the check that saw them); median 960; p90 at 1.8: 960 + 0.8 * 120 = 1056
    assert figures(model.stages["marketplace"]) == (960, pytest.approx(1056), 3, "history")


def _settled_marketplace_output(run: list[dict], products: list[dict] | None) -> list[dict]:
    """The run, its settled Marketplace check listing these products (None: none listed)."""
    settled = [event for event in run if event["type"] == "TaskStateExited"
               and event["stateExitedEventDetails"]["name"] == "Marketplace"][-1]
    marketplace = {"pending": False, **({"products": products} if products is not None else {})}
    changed = {**settled, "stateExitedEventDetails": {"name": "Marketplace",
                                                      "output": json.dumps({"marketplace": marketplace})}}
    return [changed if event is settled else event for event in run]


def test_without_the_change_sets_marketplace_runs_from_the_first_check_to_the_settled_one(runs):
    # three checks of 10 / 20 / 30 s and two 600 s waits: 1230, 1260, 1290;
    # median 1260; p90 at 1.8: 1260 + 0.8 * 30 = 1284
    model = model_from_histories([_settled_marketplace_output(run, None) for run in runs])
    assert figures(model.stages["marketplace"]) == (1260, pytest.approx(1284), 3, "history")


def test_only_change_sets_marketplace_ended_are_measured(runs):
    sent = {"sent_at": "2026-11-01T00:53:00Z"}
    products = [{"arch": "x86_64", "status": "CANCELLED", **sent, "ended_at": "2026-11-01T01:30:00Z"},
                {"arch": "arm64", "status": "FAILED", **sent, "ended_at": "2026-11-01T01:03:00Z"},
                {"arch": "riscv64", "status": "OVERDUE", **sent}]
    assert stage_samples(_settled_marketplace_output(runs[0], products)).once["marketplace"] == 600
    # refused (a newer version is on the product): never sent, nothing measured
    refused = [{"arch": "x86_64", "status": "REFUSED", "ended_at": "2026-11-01T00:53:00Z"}]
    assert "marketplace" not in stage_samples(_settled_marketplace_output(runs[0], refused)).once


def test_a_stage_no_run_completed_keeps_its_default(runs):
    # The runs cut where Marketplace begins: releases still following it.
    cut = [run[:next(i for i, e in enumerate(run) if e.get("stateEnteredEventDetails", {}).get("name")
                     == "Marketplace")] for run in runs]
    model = model_from_histories(cut)
    assert model.stages["marketplace"] == DEFAULTS["marketplace"]
    assert model.stages["preflight"].source == "history"


def test_interleaved_iterations_are_matched_by_their_event_chain():
    # arm64 enters first and leaves last: matching by order would give it x86_64's 100 s.
    history = events([
        {"id": 1, "previousEventId": 0, "type": "TaskStateEntered", "timestamp": "2026-11-01T00:00:00+00:00",
         "stateEnteredEventDetails": {"name": "LaunchBuilder", "input": '{"arch": "arm64"}'}},
        {"id": 2, "previousEventId": 0, "type": "TaskStateEntered", "timestamp": "2026-11-01T00:00:00+00:00",
         "stateEnteredEventDetails": {"name": "LaunchBuilder", "input": '{"arch": "x86_64"}'}},
        {"id": 3, "previousEventId": 2, "type": "TaskSucceeded", "timestamp": "2026-11-01T00:01:40+00:00"},
        {"id": 4, "previousEventId": 3, "type": "TaskStateExited", "timestamp": "2026-11-01T00:01:40+00:00",
         "stateExitedEventDetails": {"name": "LaunchBuilder"}},
        {"id": 5, "previousEventId": 1, "type": "TaskSucceeded", "timestamp": "2026-11-01T00:05:00+00:00"},
        {"id": 6, "previousEventId": 5, "type": "TaskStateExited", "timestamp": "2026-11-01T00:05:00+00:00",
         "stateExitedEventDetails": {"name": "LaunchBuilder"}},
    ])
    assert stage_samples(history).per_arch == {"x86_64": {"build": 100}, "arm64": {"build": 300}}


def test_a_failed_run_contributes_only_what_it_completed():
    # A real run: arm64's QA checks failed, so its EvaluateQA raised (caught: the state exits after
    # LambdaFunctionFailed) and CheckBuild failed the release before Preflight.
    history = events(json.loads((DATA / "observed-failed-run.json").read_text())["events"])
    samples = stage_samples(history)
    assert set(samples.once) == {"prepare"}
    assert set(samples.per_arch["x86_64"]) == {"build", "register", "qa", "evaluate"}
    assert set(samples.per_arch["arm64"]) == {"build", "register", "qa"}
    assert samples.per_region == {}
    model = model_from_histories([history])
    assert model.stages["prepare"].samples == 1 and model.stages["check_build"] == DEFAULTS["check_build"]


def test_a_truncated_output_reads_as_unknown_not_as_an_error():
    history = events([
        {"id": 1, "previousEventId": 0, "type": "TaskStateEntered", "timestamp": "2026-11-01T00:00:00+00:00",
         "stateEnteredEventDetails": {"name": "FollowCopies",
                                      "input": '{"distribution": {"copies": [{"region": "us-east-1", '
                                               '"status": "copying"}]}}'}},
        {"id": 2, "previousEventId": 1, "type": "LambdaFunctionSucceeded", "timestamp": "2026-11-01T00:00:05+00:00"},
        {"id": 3, "previousEventId": 2, "type": "TaskStateExited", "timestamp": "2026-11-01T00:00:05+00:00",
         "stateExitedEventDetails": {"name": "FollowCopies",
                                     "output": '{"distribution": {"published": [{"region": "us-ea',
                                     "outputDetails": {"truncated": True}}},
    ])
    assert stage_samples(history).per_region == {}


def test_the_states_read_are_those_flow_names():
    with pytest.raises(ValueError, match="flow.py names no state Renamed"):
        observed._named_in_flow("Prepare", "Renamed")


def test_the_defaults_table_in_the_docs_is_latency_defaults():
    section = DOCS.read_text().split("## Defaults", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]   # the header row
    table = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if set(cells[0]) <= set("-: "):
            continue
        stage, median, p90, source = cells
        table[stage.strip("`")] = Estimate(float(median), float(p90), 0, source)
    assert table == DEFAULTS


def test_the_docs_name_every_stage_in_the_latency_model_section():
    section = DOCS.read_text().split("## The latency model", 1)[1].split("\n## ", 1)[0]
    assert all(re.search(rf"`{stage}`", section) for stage in DEFAULTS)
