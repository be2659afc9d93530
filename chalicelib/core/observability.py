"""Logging, tracing and metrics in one place, and the decorator every task Lambda wears.

Every metric is in the AtomicRelease namespace, written twice by one EMF line: under the
``service`` dimension alone (what the alarms watch: one series, whatever the stream or task) and
under ``service`` with its own dimension (which stream, task or region; what to look at once an
alarm fires). docs/operations.md says what each means and what to do."""

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.metrics.functions import resolve_cold_start_function_name
from aws_lambda_powertools.metrics.provider import cold_start
from pydantic import BaseModel, ValidationError

from chalicelib.core.config import describe_validation_error
from chalicelib.core.errors import InvalidReleaseInput, PartlyFailed, ReleaseError, Retryable
from chalicelib.core.settings import settings

SERVICE = "atomic-release"
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
NAMESPACE = "AtomicRelease"
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

M = TypeVar("M", bound=BaseModel)


# The metrics' names (and the dimension each has beside ``service``): alarms and dashboards name
# them, so they do not change.
POLL_ERRORS = "PollErrors"                  # stream: its repository could not be polled (poller, cadence)
TASK_FAILURES = "TaskFailures"              # task: a task raised an error its Retry does not run again
TASK_RETRIES = "TaskRetries"                # task: a task raised an error its Retry runs again (throttled, not ready)
MISSING_REGIONS = "MissingRegions"          # stream: regions a release settled without (the value is how many)
# UntrustedCommitsRefused (stream): a commit or summary not signed by a trusted key, counted by triggers/trust.py
RETENTION_ERRORS = "RetentionErrors"        # stream: retention could not plan or finish the stream
SWEEP_ERRORS = "SweepErrors"                # region: the sweep could not clean up there
COLD_STARTS = "ColdStart"                   # function_name: the first invocation of an execution environment


def count(name: str, value: int = 1, /, **dimensions: str) -> None:
    """``value`` occurrences of ``name``, written at once (the triggers are not tasks, whose
    decorator flushes a batch), under ``service`` alone and under ``service`` with ``dimensions``.
    Ephemeral: it shares nothing with a task's batch."""
    occurrence = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    occurrence.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if dimensions:
        occurrence.add_dimensions(service=SERVICE, **dimensions)
    occurrence.flush_metrics()


def fail_loudly(what: str, metric: str, dimension: str, failures: Mapping[str, str]) -> None:
    """After every item was handled: count each failed one under its own ``dimension`` value,
    then fail the Lambda with one error naming each and why, so that its Errors alarm fires."""
    for name in failures:
        count(metric, 1, **{dimension: name})
    if failures:
        raise PartlyFailed(f"{what} failed for {len(failures)} {dimension}(s): "
                           + "; ".join(f"{name}: {why}" for name, why in sorted(failures.items())))


def count_cold_start(context: Any) -> None:
    """ColdStart (dimension function_name), once per execution environment. Counted as every other
    metric is, so that a run whose metrics are disabled (the local runtime) prints none: Powertools'
    own cold-start metric is printed even then."""
    if cold_start.is_cold_start:
        cold_start.is_cold_start = False
        count(COLD_STARTS, function_name=resolve_cold_start_function_name(function_name=None, context=context))


def parse(model: type[M], event: Any) -> M:
    """Validate a task's input; a bad one is InvalidReleaseInput naming each field."""
    try:
        return model.model_validate(event)
    except ValidationError as error:
        raise InvalidReleaseInput(describe_validation_error(error, model.__name__)) from None


def task(model: type[BaseModel]) -> Callable:
    """Wrap ``body(parsed_input)`` as a Lambda handler ``(event, context)``: check the function's
    settings, parse the input, log with the Lambda context and the release id as correlation id,
    trace, count its cold start, its success (``<task>_ok``) or its failure (TaskFailures, or
    TaskRetries for an error the state machine retries, dimension task), and serialise the model
    it returns. An error the pipeline raises is logged with its region, architecture, image and
    release before the state machine sees it."""

    def wrap(body: Callable[[Any], BaseModel]) -> Callable[[dict, Any], Any]:
        name = body.__module__.rsplit(".", 1)[-1]

        @logger.inject_lambda_context(correlation_id_path="release_id", clear_state=True)
        @tracer.capture_lambda_handler(capture_response=False)
        @metrics.log_metrics
        @functools.wraps(body)
        def handler(event: dict, context: Any) -> Any:
            count_cold_start(context)
            try:
                settings()
                result = body(parse(model, event))
            except Exception as error:
                count(TASK_RETRIES if isinstance(error, Retryable) else TASK_FAILURES, task=name)
                if isinstance(error, ReleaseError):
                    logger.warning("task failed", extra={"error": type(error).__name__, "reason": str(error),
                                                         **error.context})
                raise
            metrics.add_metric(name=f"{name}_ok", unit=MetricUnit.Count, value=1)
            return result.model_dump(mode="json")

        return handler

    return wrap
