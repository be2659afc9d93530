from chalicelib.lifecycle import prepare
from chalicelib.models import PrepareTask
from chalicelib.observability import task


@task(PrepareTask)
def handler(event: PrepareTask):
    return prepare(event.release, event.execution_arn)
