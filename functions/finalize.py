from chalicelib.lifecycle import finalize
from chalicelib.models import FinalizeTask
from chalicelib.observability import task


@task(FinalizeTask)
def handler(event: FinalizeTask):
    return finalize(event)
