from chalicelib.build import evaluate_qa
from chalicelib.models import EvaluateTask
from chalicelib.observability import task


@task(EvaluateTask)
def handler(event: EvaluateTask):
    return evaluate_qa(event)
