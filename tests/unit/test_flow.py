"""chalicelib/stages/flow.py names the ASL's states without reading it (state_machines/ is not
shipped): these keep the two equal."""

from chalicelib.stages import flow
from tests.unit.test_state_machine import ASL

TOP = ASL["States"]


def states_of_map(name: str) -> list[str]:
    return list(TOP[name]["ItemProcessor"]["States"])


def test_every_top_level_state_is_in_one_stage_or_on_the_failure_path_and_flow_names_no_other():
    named = [*flow.STAGE_OF_STATE, *flow.FAILED_STAGE_OF_STATE, *flow.FAIL_RELEASE]
    assert sorted(named) == sorted(TOP)


def test_every_state_of_the_maps_is_named_once_and_flow_names_no_other():
    assert sorted([*flow.BUILD_STEP_OF_STATE, *flow.ARCH_CLEANUP]) == sorted(states_of_map("Build"))
    assert sorted(flow.REGION_OUTCOME_STATES) == sorted(states_of_map("Distribute"))


def test_the_stages_and_their_states_are_in_the_asl_s_flow_order():
    in_stages = [name for name in TOP if name in flow.STAGE_OF_STATE]
    assert in_stages == [state for states in flow.STATES_OF_STAGE.values() for state in states]


def test_each_failure_pass_state_names_the_stage_flow_says_failed_and_leads_to_fail_release():
    """A stage after Announce fails into FailPublishedRelease (the release is out), and so does Announce
    once the metadata names the release; any other into FailRelease."""
    fail_release, fail_published, release_failed = flow.FAIL_RELEASE
    announced = flow.STAGES[flow.STAGES.index("announce") + 1:]
    for name, stage in flow.FAILED_STAGE_OF_STATE.items():
        assert TOP[name]["Type"] == "Pass" and TOP[name]["Parameters"]["stage"] == stage, name
        assert TOP[name]["Next"] == (fail_published if name in flow.PUBLISHED_FAILURES else fail_release), name
        assert stage not in announced or name in flow.PUBLISHED_FAILURES, name
    assert [stage for name, stage in flow.FAILED_STAGE_OF_STATE.items() if name in flow.PUBLISHED_FAILURES
            and stage not in announced] == ["announce"]
    assert TOP[fail_release]["Next"] == TOP[fail_published]["Next"] == release_failed
    assert TOP[release_failed]["Type"] == "Fail"


def test_a_build_step_s_failure_is_caught_into_a_state_of_the_same_step():
    build = TOP["Build"]["ItemProcessor"]["States"]
    for name, step in flow.BUILD_STEP_OF_STATE.items():
        for catch in build[name].get("Catch", []):
            assert flow.BUILD_STEP_OF_STATE[catch["Next"]] == step, name


def test_progress_is_each_stage_s_own_state_then_fail_release():
    """The local runtime reports these and names the stage a run stopped in by the last one
    entered, lower-cased."""
    *stage_states, last = flow.PROGRESS_STATES
    assert [flow.STAGE_OF_STATE[state] for state in stage_states] == list(flow.STAGES)
    assert all(state.lower() == flow.STAGE_OF_STATE[state] for state in stage_states)
    assert last == "FailRelease" and last in TOP
