"""The latency model read from execution histories, against numbers computed by hand.

tests/unit/data/observed-histories.json holds three runs of one real local release's history
(2 architectures; us-east-1 the base region, us-east-2 and us-west-1 copied to; us-west-1's
copies seen copied at the second CheckCopies, after a 300 s WaitForCopies), its timestamps set
by hand and its events numbered again in time order: arm64 starts building first and x86_64
finishes first, so their iterations' events interleave. The task states' chosen seconds, run 1 / run 2 / run 3:

    Preflight                      6 / 8 / 10
    LaunchBuilder x86_64         600 / 660 / 720
    LaunchBuilder arm64          900 / 840 / 780
    CopyToRegion (from the Copy map's start) us-east-2   4 / 10 / 6;  us-west-1  10 / 4 / 6
    CheckCopies (each)            20 / 30 / 40
    PublishRegion us-east-1, us-east-2, us-west-1   5, 6, 7 / 8, 9, 10 / 11, 12, 13
    Marketplace (each of 3 checks, 600 s waits between)   10 / 20 / 30
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
    # Each run: the Copy map ends with its slowest CopyToRegion (10, 10, 6 s after it starts); the
    # first CheckCopies ends 20 / 30 / 40 s later and shows us-east-2 copied; the second one ends
    # 300 s + 20 / 30 / 40 s after the first and shows us-west-1 copied.
    # us-east-2: run 1: 10 + 20 - 4 = 26; run 2: 10 + 30 - 10 = 30; run 3: 6 + 40 - 6 = 40
    # us-west-1: run 1: 10 + 20 + 300 + 20 - 10 = 340; run 2: 10 + 30 + 300 + 30 - 4 = 366;
    #            run 3: 6 + 40 + 300 + 40 - 6 = 380
    # pooled, sorted: 26 30 40 340 366 380; median (40 + 340) / 2 = 190; p90 at 4.5: 366 + 0.5 * 14 = 373
    assert figures(model.stages["copy"]) == (190, pytest.approx(373), 3, "history")
    # us-west-1: 340 366 380; median 366; p90 at 1.8: 366 + 0.8 * 14 = 377.2
    assert figures(model.copy_by_region["us-west-1"]) == (366, pytest.approx(377.2), 3, "history")
    assert model.estimate("copy", "us-west-1") is model.copy_by_region["us-west-1"]
    assert "us-east-1" not in model.copy_by_region, "the base region copies nothing"


def test_publish_pools_every_region(model):
    # 5 6 7 8 9 10 11 12 13; median 9; p90 at 0.9 * 8 = 7.2: 12 + 0.2 * 1 = 12.2
    assert figures(model.stages["publish"]) == (9, pytest.approx(12.2), 3, "history")


def test_marketplace_runs_from_the_first_check_to_the_settled_one(model):
    # three checks of 10 / 20 / 30 s and two 600 s waits: 1230, 1260, 1290;
    # median 1260; p90 at 1.8: 1260 + 0.8 * 30 = 1284
    assert figures(model.stages["marketplace"]) == (1260, pytest.approx(1284), 3, "history")


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
         "stateEnteredEventDetails": {"name": "PublishRegion"}},
        {"id": 2, "previousEventId": 1, "type": "LambdaFunctionSucceeded", "timestamp": "2026-11-01T00:00:05+00:00"},
        {"id": 3, "previousEventId": 2, "type": "TaskStateExited", "timestamp": "2026-11-01T00:00:05+00:00",
         "stateExitedEventDetails": {"name": "PublishRegion", "output": '{"region": "us-ea',
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
