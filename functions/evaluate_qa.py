"""Build: the QA instance's report decides whether an image ships."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.build import BuiltImage, EvaluateTask
from chalicelib.stages.build import evaluate_qa

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="evaluate_qa")
@task(EvaluateTask)
def handler(event: EvaluateTask) -> BuiltImage:
    return evaluate_qa(event)
