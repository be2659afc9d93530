"""Copy and publish: follow each region's copies until they settle, publishing each region as
soon as its copies are available."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.regions import Copies, CopiesTask
from chalicelib.stages.distribute import follow_copies

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="follow_copies")
@task(CopiesTask)
def handler(event: CopiesTask) -> Copies:
    return follow_copies(event)
