from chalicelib.models import ValidateTask
from chalicelib.observability import task
from chalicelib.publish import validate


@task(ValidateTask)
def handler(event: ValidateTask):
    return validate(event)
