from chalicelib.build import launch_qa
from chalicelib.models import QATask
from chalicelib.observability import task


@task(QATask)
def handler(event: QATask):
    return launch_qa(event)
