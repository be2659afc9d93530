from chalicelib.models import PreflightTask
from chalicelib.observability import task
from chalicelib.preflight import preflight


@task(PreflightTask)
def handler(event: PreflightTask):
    return preflight(event)
