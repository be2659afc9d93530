"""Publish, per region: public image and snapshots, deprecation, SSM parameters."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.regions import PublishTask, RegionOutcome
from chalicelib.stages.publish import publish_region

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="publish_region")
@task(PublishTask)
def handler(event: PublishTask) -> RegionOutcome:
    return publish_region(event)
