"""Build, after the map: every architecture's image, or the release stops here."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models import CheckBuildTask
from chalicelib.stages.build import check_build

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="check_build")
@task(CheckBuildTask)
def handler(event: CheckBuildTask):
    return [image.model_dump(mode="json") for image in check_build(event)]
