from chalicelib.distribute import publish_region
from chalicelib.models import PublishTask
from chalicelib.observability import task


@task(PublishTask)
def handler(event: PublishTask):
    return publish_region(event)
