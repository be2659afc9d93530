"""Build, on failure: remove what one architecture's build created."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.build import CleanupArchTask
from chalicelib.models.failure import ErrorToRaise
from chalicelib.stages.build import cleanup_arch

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="cleanup_arch")
@task(CleanupArchTask)
def handler(event: CleanupArchTask) -> ErrorToRaise:
    return cleanup_arch(event)
