from chalicelib.build import register_image
from chalicelib.models import RegisterTask
from chalicelib.observability import task


@task(RegisterTask)
def handler(event: RegisterTask):
    return register_image(event)
