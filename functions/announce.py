from chalicelib.announce import announce
from chalicelib.models import AnnounceTask
from chalicelib.observability import task


@task(AnnounceTask)
def handler(event: AnnounceTask):
    return announce(event)
