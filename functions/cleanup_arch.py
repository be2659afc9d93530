from chalicelib.build import cleanup_arch
from chalicelib.models import CleanupArchTask
from chalicelib.observability import task


@task(CleanupArchTask)
def handler(event: CleanupArchTask):
    return cleanup_arch(event)
