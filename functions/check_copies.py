from chalicelib.distribute import check_copies
from chalicelib.models import RegionTask
from chalicelib.observability import task


@task(RegionTask)
def handler(event: RegionTask):
    return check_copies(event)
