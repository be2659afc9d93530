from chalicelib.build import check_build
from chalicelib.models import CheckBuildTask
from chalicelib.observability import task


@task(CheckBuildTask)
def handler(event: CheckBuildTask):
    return [image.model_dump(mode="json") for image in check_build(event)]
