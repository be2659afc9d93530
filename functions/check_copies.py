"""Copy: follow each region's copies until they settle."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.regions import Copies, CopiesTask
from chalicelib.stages.distribute import check_copies

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="check_copies")
@task(CopiesTask)
def handler(event: CopiesTask) -> Copies:
    return check_copies(event)
