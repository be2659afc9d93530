from chalicelib.distribute import check_copies
from chalicelib.models import CopiesTask
from chalicelib.observability import task


@task(CopiesTask)
def handler(event: CopiesTask):
    return check_copies(event)
