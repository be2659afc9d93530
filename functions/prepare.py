"""Prepare: claim the release record and plan arches, regions and products."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.prepare import PrepareTask, ReleasePlan
from chalicelib.stages.prepare import prepare

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="prepare")
@task(PrepareTask)
def handler(event: PrepareTask) -> ReleasePlan:
    return prepare(event.release, event.execution_arn)
