from chalicelib.build import launch_builder
from chalicelib.models import CallbackTask
from chalicelib.observability import task


@task(CallbackTask)
def handler(event: CallbackTask):
    return launch_builder(event)
