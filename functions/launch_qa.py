"""Build: launch the QA instance that boots the new image."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models import QATask
from chalicelib.stages.build import launch_qa

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="launch_qa")
@task(QATask)
def handler(event: QATask):
    return launch_qa(event)
