"""Logging, tracing and metrics in one place, and the decorator every task Lambda wears."""

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from pydantic import BaseModel, ValidationError

from chalicelib.core.config import describe_validation_error
from chalicelib.core.errors import InvalidReleaseInput, ReleaseError
from chalicelib.core.settings import settings

SERVICE = "atomic-release"
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
NAMESPACE = "AtomicRelease"
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

M = TypeVar("M", bound=BaseModel)


def count(name: str, **details: str) -> None:
    """One occurrence of ``name``, written at once (the triggers are not tasks, whose decorator
    writes theirs). One dimension, the service, so that one alarm watches it; ``details`` go
    with it as searchable properties. Ephemeral: it shares nothing with a task's batch."""
    occurrence = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    occurrence.add_metric(name=name, unit=MetricUnit.Count, value=1)
    for key, value in details.items():
        occurrence.add_metadata(key=key, value=value)
    occurrence.flush_metrics()


def parse(model: type[M], event: Any) -> M:
    """Validate a task's input; a bad one is InvalidReleaseInput naming each field."""
    try:
        return model.model_validate(event)
    except ValidationError as error:
        raise InvalidReleaseInput(describe_validation_error(error, model.__name__)) from None


def task(model: type[BaseModel]) -> Callable:
    """Wrap ``body(parsed_input)`` as a Lambda handler ``(event, context)``: check the function's
    settings, parse the input, log with the release id as correlation id, trace, count, and
    serialise the model it returns. An error the pipeline raises is logged with its region,
    architecture, image and release before the state machine sees it."""

    def wrap(body: Callable[[Any], BaseModel]) -> Callable[[dict, Any], Any]:
        @logger.inject_lambda_context(correlation_id_path="release_id", clear_state=True)
        @tracer.capture_lambda_handler(capture_response=False)
        @metrics.log_metrics
        @functools.wraps(body)
        def handler(event: dict, context: Any) -> Any:
            settings()
            try:
                result = body(parse(model, event))
            except ReleaseError as error:
                logger.warning("task failed", extra={"error": type(error).__name__, "reason": str(error),
                                                     **error.context})
                raise
            metrics.add_metric(name=f"{body.__module__.rsplit('.', 1)[-1]}_ok", unit=MetricUnit.Count, value=1)
            return result.model_dump(mode="json")

        return handler

    return wrap
