"""Build: launch the QA instance that boots the new image."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.build import LaunchedGuest, QATask
from chalicelib.stages.build import launch_qa

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="launch_qa")
@task(QATask)
def handler(event: QATask) -> LaunchedGuest:
    return launch_qa(event)
