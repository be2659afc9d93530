"""The end of a failed release: record what failed, and why."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.failure import ErrorToRaise
from chalicelib.models.finalize import FailTask
from chalicelib.stages.finalize import fail_release

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="fail_release")
@task(FailTask)
def handler(event: FailTask) -> ErrorToRaise:
    return fail_release(event)
