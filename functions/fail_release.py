from chalicelib.lifecycle import fail_release
from chalicelib.models import FailTask
from chalicelib.observability import task


@task(FailTask)
def handler(event: FailTask):
    return fail_release(event)
