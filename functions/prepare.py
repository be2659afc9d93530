"""Prepare: claim the release record and plan arches, regions and products."""

from chalice import Blueprint

from chalicelib.core.observability import logger, task
from chalicelib.models.prepare import PrepareTask, ReleasePlan
from chalicelib.stages.prepare import prepare

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="prepare")
@task(PrepareTask)
def handler(event: PrepareTask) -> ReleasePlan:
    logger.set_correlation_id(event.release.release_id)  # the input names it only inside the release
    return prepare(event.release, event.execution_arn)
