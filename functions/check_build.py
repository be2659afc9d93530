"""Build, after the map: every architecture's image, or the release stops here."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.build import BuiltImages, CheckBuildTask
from chalicelib.stages.build import check_build

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="check_build")
@task(CheckBuildTask)
def handler(event: CheckBuildTask) -> BuiltImages:
    return check_build(event)
