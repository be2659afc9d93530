"""Build: snapshot the builder's disk and register the image."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.build import BuiltImage, RegisterTask
from chalicelib.stages.build import register_image

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="register_image")
@task(RegisterTask)
def handler(event: RegisterTask) -> BuiltImage:
    return register_image(event)
