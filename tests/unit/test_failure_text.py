import json

from chalicelib.models.failure import Failure
from chalicelib.stages.failure import describe, describe_cause, innermost


def test_innermost_unwraps_an_architecture_failure_inside_a_map_failure():
    inner = Failure(stage="evaluate-qa", arch="arm64", error="QAFailed", cause=json.dumps(
        {"errorType": "QAFailed", "errorMessage": "arm64: system-state: degraded", "stackTrace": []}))
    outer = Failure(stage="build", error="QAFailed", cause=inner.model_dump_json())
    found = innermost(outer)
    assert (found.stage, found.arch, found.cause) == ("evaluate-qa", "arm64", "arm64: system-state: degraded")
    assert describe(found) == "evaluate-qa (arm64) failed: QAFailed: arm64: system-state: degraded"


def test_a_timeout_without_cause_is_explained():
    assert describe(Failure(stage="launch-builder", arch="x86_64", error="States.Timeout")) == \
        "launch-builder (x86_64) failed: States.Timeout: no report before the task's deadline"


def test_a_plain_cause_is_kept():
    assert describe_cause("prepare", "ConfigError", "unknown stream 'x'") == \
        "prepare failed: ConfigError: unknown stream 'x'"
