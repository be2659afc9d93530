"""The bench's release (2 architectures x 30 regions) costs at most 240 state transitions: with
every region published by the follow that finds its copies available, there is no Publish map."""

from collections import Counter

from atomic_release.cli.local_release import run
from atomic_release.local.runtime import LocalRuntime
from atomic_release.local.synthetic import synthetic_release
from chalicelib.aws.clients import client

TRANSITIONS_AT_MOST = 240


def entered(execution_arn: str) -> Counter:
    pages = client("stepfunctions").get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return Counter(event["stateEnteredEventDetails"]["name"] for page in pages for event in page["events"]
                   if event["type"].endswith("StateEntered"))


def test_the_bench_release_costs_at_most_240_transitions_and_publishes_in_one_follow():
    release = synthetic_release("stable", "43.20261125.3.0", 30)
    with LocalRuntime() as runtime:
        result = run(runtime, release)
        states = entered(result.execution_arn)

    print(f"\n2 arches x 30 regions: {result.transitions} transitions, {result.lambda_invocations} invocations")
    assert result.status == "SUCCEEDED", result.failure
    assert result.transitions <= TRANSITIONS_AT_MOST
    assert sum(states.values()) == result.transitions
    assert states["FollowCopies"] == 1, "copies available at once: the first follow publishes every region"
    assert states["CopyToRegion"] == 30 and not {"Publish", "PublishRegion"} & set(states)
