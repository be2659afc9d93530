from chalicelib.models import PublishTask
from chalicelib.observability import task
from chalicelib.publish import publish_region


@task(PublishTask)
def handler(event: PublishTask):
    return publish_region(event)
