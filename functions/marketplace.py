from chalicelib.marketplace import advance
from chalicelib.models import MarketplaceTask
from chalicelib.observability import task


@task(MarketplaceTask)
def handler(event: MarketplaceTask):
    return advance(event)
