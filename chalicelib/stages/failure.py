"""How a failure reads: the stage where it happened, its error and its cause, in one sentence."""

import json

from chalicelib.models.failure import Failure

_TIMEOUTS = {
    "States.Timeout": "no report before the task's deadline",
    "States.HeartbeatTimeout": "no heartbeat within the heartbeat interval",
}


def innermost(failure: Failure) -> Failure:
    """The failure where it happened: a cause may wrap a failure of an inner stage (the Build
    map's) or a Lambda error document."""
    try:
        inner = json.loads(failure.cause)
    except (TypeError, ValueError):
        return failure
    if isinstance(inner, dict) and {"stage", "error"} <= inner.keys():
        return innermost(Failure.model_validate(inner))
    if isinstance(inner, dict) and "errorMessage" in inner:
        return innermost(failure.model_copy(update={"cause": inner["errorMessage"]}))
    return failure


def describe(failure: Failure) -> str:
    """One sentence naming the failed stage and its cause."""
    where = f"{failure.stage} ({failure.arch})" if failure.arch else failure.stage
    cause = failure.cause or _TIMEOUTS.get(failure.error, "no cause given")
    return f"{where} failed: {failure.error}: {cause}"


def published_failure(failure: Failure) -> str:
    """The sentence for a failure after Announce: what failed, and that the release is out."""
    return f"{describe(failure)}; the release is out: its images stay public and announced"


def describe_cause(stage: str, error: str | None, cause: str | None) -> str:
    """The sentence for an execution that failed in ``stage`` before FailRelease could speak."""
    return describe(innermost(Failure(stage=stage, error=error or "unknown error", cause=cause or "")))
