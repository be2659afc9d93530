"""Announce: the stream's release index, metadata and events."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.announce import Announcement, AnnounceTask
from chalicelib.stages.announce import announce

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="announce")
@task(AnnounceTask)
def handler(event: AnnounceTask) -> Announcement:
    return announce(event)
