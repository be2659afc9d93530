"""Copy: start the copies of every architecture's image into one region."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.regions import RegionOutcome, RegionTask
from chalicelib.stages.distribute import copy_to_region

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="copy_to_region")
@task(RegionTask)
def handler(event: RegionTask) -> RegionOutcome:
    return copy_to_region(event)
