"""Build: launch the builder instance that writes the commit to a disk."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.build import CallbackTask, LaunchedGuest
from chalicelib.stages.build import launch_builder

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="launch_builder")
@task(CallbackTask)
def handler(event: CallbackTask) -> LaunchedGuest:
    return launch_builder(event)
