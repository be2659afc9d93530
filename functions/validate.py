"""Validate: what Publish promised is true, before anything points at it."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.regions import ValidateTask, Validation
from chalicelib.stages.validate import validate

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="validate")
@task(ValidateTask)
def handler(event: ValidateTask) -> Validation:
    return validate(event)
