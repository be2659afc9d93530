"""Marketplace: one change set per product, followed to its end."""

from chalice import Blueprint

from chalicelib.core.observability import task
from chalicelib.models.marketplace import MarketplaceProgress, MarketplaceTask
from chalicelib.stages.marketplace import advance

blueprint = Blueprint(__name__)


@blueprint.lambda_function(name="marketplace")
@task(MarketplaceTask)
def handler(event: MarketplaceTask) -> MarketplaceProgress:
    return advance(event)
