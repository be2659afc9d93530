"""Marketplace Catalog adapter: the AWSMarketplace catalog's change sets."""

from chalicelib.aws.clients import client
from chalicelib.core.config import MARKETPLACE_REGION

CATALOG = "AWSMarketplace"


def catalog():
    return client("marketplace-catalog", MARKETPLACE_REGION)


def call(operation: str, **parameters) -> dict:
    """One Catalog API operation (``list_change_sets``, ``start_change_set``, ``describe_change_set``)."""
    return getattr(catalog(), operation)(Catalog=CATALOG, **parameters)

