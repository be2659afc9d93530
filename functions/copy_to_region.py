from chalicelib.distribute import copy_to_region
from chalicelib.models import RegionTask
from chalicelib.observability import task


@task(RegionTask)
def handler(event: RegionTask):
    return copy_to_region(event)
