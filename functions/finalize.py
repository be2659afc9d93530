"""Finalize: the release record says released or partial, and what is missing."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.finalize import FinalizeResult, FinalizeTask
from chalicelib.stages.finalize import finalize

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="finalize")
@task(FinalizeTask)
def handler(event: FinalizeTask) -> FinalizeResult:
    return finalize(event)
