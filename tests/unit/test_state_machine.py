"""The ASL is the contract between app.py, the task modules and the flow."""

import json
import re
import runpy
from pathlib import Path

import pytest

import chalicelib.core.errors as errors
from app import app
from atomic_release.local.runtime import substitution_name
from chalicelib.core.config import Marketplace

ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = ROOT / "state_machines" / "release.asl.json"
ASL = json.loads(ASL_PATH.read_text())
DIAGRAM_PATH = ROOT / "docs" / "flow-diagram.md"


def all_states(states: dict):
    for name, state in states.items():
        yield name, state, states
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from all_states(processor["States"])


def transitions(state: dict) -> list[str]:
    targets = [state.get("Next"), state.get("Default")]
    targets += [c["Next"] for c in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
    return list(filter(None, targets))


def generator(name: str) -> dict:
    """A script of state_machines/, run as a module would be, without writing bytecode beside it:
    `make package` ships that folder."""
    return runpy.run_path(str(ROOT / "state_machines" / f"{name}.py"))


def test_the_committed_asl_is_what_release_py_writes():
    assert ASL_PATH.read_text() == generator("release")["render"](), "run `make flow`"


def test_the_diagram_in_the_docs_is_drawn_from_the_committed_asl():
    assert DIAGRAM_PATH.read_text() == generator("diagram")["render"](ASL), "run `make flow`"


def test_the_diagram_draws_every_state_and_every_transition():
    diagram = DIAGRAM_PATH.read_text()
    assert re.search(rf"^ *\[\*\] --> {ASL['StartAt']}$", diagram, re.M)
    for name, state, _ in all_states(ASL["States"]):
        if "ItemProcessor" in state:
            assert re.search(rf"^ *state {name} {{\n *\[\*\] --> {state['ItemProcessor']['StartAt']}$", diagram, re.M)
        for target in transitions(state):
            assert re.search(rf"^ *{name} --> {target}(: .+)?$", diagram, re.M), f"{name} -> {target}"
        if state.get("End") or state["Type"] in ("Succeed", "Fail"):
            assert re.search(rf"^ *{name} --> \[\*\]$", diagram, re.M), f"{name} ends"


def test_every_substitution_is_a_function_registered_in_app_py_and_every_function_is_used():
    used = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", ASL_PATH.read_text()))
    registered = {substitution_name(f.name) for f in app.pure_lambda_functions}
    assert used == registered


def test_every_transition_names_a_state_of_its_own_scope():
    for name, state, scope in all_states(ASL["States"]):
        for target in transitions(state):
            assert target in scope, f"{name} -> {target}"


def test_error_names_are_aws_names_or_domain_exception_classes():
    domain = {name for name, value in vars(errors).items() if isinstance(value, type)}
    for name, state, _ in all_states(ASL["States"]):
        for rule in state.get("Retry", []) + state.get("Catch", []):
            for error in rule["ErrorEquals"]:
                assert error.startswith(("States.", "Lambda.")) or error in domain, f"{name}: {error}"


def test_every_task_retries_lambda_service_errors_and_callbacks_have_deadlines():
    for name, state, _ in all_states(ASL["States"]):
        if state["Type"] != "Task":
            continue
        assert any("Lambda.ServiceException" in r["ErrorEquals"] for r in state["Retry"]), name
        if state["Resource"].endswith(".waitForTaskToken"):
            assert state["TimeoutSeconds"] > 0, name
            assert state["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"


@pytest.mark.parametrize("state", ["LaunchBuilder", "RegisterImage", "LaunchQA", "EvaluateQA"])
def test_every_build_step_is_caught_and_cleaned_up(state):
    build = ASL["States"]["Build"]["ItemProcessor"]["States"]
    catch = build[state]["Catch"][0]
    assert catch["ErrorEquals"] == ["States.ALL"]
    assert build[catch["Next"]]["Next"] == "CleanupArch"


def test_copy_concurrency_comes_from_the_stream_plan():
    assert ASL["States"]["Distribute"]["MaxConcurrencyPath"] == "$.copy_concurrency"


def test_a_throttled_copy_is_retried_with_back_off_and_a_failed_one_fails_only_its_region():
    copy = ASL["States"]["Distribute"]["ItemProcessor"]["States"]
    throttled = [r for r in copy["CopyToRegion"]["Retry"] if r["ErrorEquals"] == ["CopyThrottled"]]
    assert throttled and throttled[0]["BackoffRate"] > 1
    catch = copy["CopyToRegion"]["Catch"][0]
    assert copy[catch["Next"]]["Parameters"]["status"] == "failed" and copy[catch["Next"]]["End"]


def test_marketplace_never_fails_a_published_release_and_its_follow_loop_is_bounded():
    states = ASL["States"]
    marketplace = states["Marketplace"]
    assert marketplace["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.marketplace.caught",
                                     "Next": "Finalize"}]
    assert any(r["ErrorEquals"] == ["MarketplaceThrottled"] and r["BackoffRate"] > 1 for r in marketplace["Retry"])
    assert states["Announce"]["Next"] == "RecordPublication"
    assert states["RecordPublication"]["Resource"] == states["Finalize"]["Resource"]
    assert states[states["RecordPublication"]["Next"]]["Next"] == "MarketplaceSettled"
    settled = states["MarketplaceSettled"]
    assert settled["Choices"][0]["Next"] == "Released" and states["Released"]["Type"] == "Succeed"
    assert settled["Choices"][1] == {"Variable": "$.marketplace.pending", "BooleanEquals": False, "Next": "Finalize"}
    assert states[settled["Default"]] == {"Type": "Wait", "SecondsPath": "$.marketplace.wait_seconds",
                                          "Next": "Marketplace"}
    longest_follow = Marketplace.model_fields["give_up_after_hours"].metadata
    assert max(m.le for m in longest_follow if hasattr(m, "le")) * 3600 < ASL["TimeoutSeconds"]


def parameter_paths(parameters: dict) -> list:
    """The values of a task's Parameters, those of its nested objects too."""
    values = list(parameters.values())
    return [*values, *[path for value in values if isinstance(value, dict) for path in parameter_paths(value)]]


def test_what_the_marketplace_loop_carries_is_all_finalize_and_fail_release_read():
    states = ASL["States"]
    kept = states[states["RecordPublication"]["Next"]]["Parameters"]
    for reader in ("Finalize", "FailPublishedRelease", "Marketplace"):
        for path in parameter_paths(states[reader]["Parameters"]):
            if not isinstance(path, str) or not path.startswith("$.") or path.startswith("$.failure"):
                continue  # $.failure is what Finalize's own Catch adds on the way to FailRelease
            top, _, inner = path[2:].partition(".")
            carried = kept.get(f"{top}.$") or kept.get(top)
            assert carried, f"{reader} reads {path}, which the loop drops"
            if isinstance(carried, dict) and inner:   # an object carried whole carries what is inside it
                assert f"{inner.partition('.')[0]}.$" in carried, f"{reader} reads {path}, which the loop drops"


def reachable(states: dict, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += transitions(states[name])
    return seen


def test_after_announce_no_failure_reaches_the_cleanup_and_the_record_gets_what_finalize_reads():
    """Once Announce has named the release's images, a failure is recorded PUBLISHED_WITH_ERRORS
    by FailPublishedRelease (the FailRelease Lambda told what Finalize reads), never cleaned up."""
    states = ASL["States"]
    after_announce = reachable(states, states["Announce"]["Next"])
    assert "FailRelease" not in after_announce and "FailPublishedRelease" in after_announce
    published = states["FailPublishedRelease"]
    assert published["Resource"] == states["FailRelease"]["Resource"]
    assert published["Parameters"]["published"] == states["Finalize"]["Parameters"]
    assert {k: v for k, v in published["Parameters"].items() if k != "published"} == states["FailRelease"]["Parameters"]


def test_announce_failing_once_the_metadata_names_the_release_is_recorded_published_not_cleaned_up():
    """AnnouncedThenFailed is caught beside the announcement (FailPublishedRelease reads it as what
    Announce sent, which Finalize reads too), and leads to FailPublishedRelease, never FailRelease."""
    states = ASL["States"]
    first, *others = states["Announce"]["Catch"]
    assert first["ErrorEquals"] == ["AnnouncedThenFailed"] and first["ResultPath"].startswith("$.announcement.")
    assert [catch["ErrorEquals"] for catch in others] == [["States.ALL"]]
    reshaped = states[first["Next"]]
    assert reshaped["Parameters"] == {"stage": "announce", "caught.$": first["ResultPath"]}
    assert reshaped["ResultPath"] == "$.failure" and reshaped["Next"] == "FailPublishedRelease"
    assert states["FailPublishedRelease"]["Parameters"]["published"]["announcement.$"] == "$.announcement"
