"""Preflight: can each region take the images as public images?"""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.regions import Preflight, PreflightTask
from chalicelib.stages.preflight import preflight

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="preflight")
@task(PreflightTask)
def handler(event: PreflightTask) -> Preflight:
    return preflight(event)
