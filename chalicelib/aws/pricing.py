"""AWS Price List API adapter: the public on-demand list prices the plan's cost needs, one product at
a time. The API answers only in us-east-1 (and ap-south-1), whatever region a price is for.

GetProducts returns each product as a JSON string: ``product.attributes`` describe it (``usagetype``
says what is metered), ``terms.OnDemand.<offer>.priceDimensions.<rate>`` price it (``pricePerUnit.USD``
per ``unit``; a tiered price has one dimension per tier, from ``beginRange``). A price this module
cannot find, or finds twice with different values, is an error naming the product and the region:
a cost is never computed from a silent 0.

Inter-region data transfer (``AWSDataTransfer``) is priced per pair of regions: one product per
(source, destination), with ``transferType`` "InterRegion Outbound", ``fromRegionCode`` and
``toRegionCode`` instead of ``regionCode``, and a usage type naming both (``USE1-EUC1-AWS-Out-Bytes``).
The source region bills it; what comes into the destination is free (AWS Data Exports, "Understanding
data transfer charges")."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from chalicelib.aws.clients import client

PRICING_REGION = "us-east-1"
INTER_REGION_OUTBOUND = "InterRegion Outbound"
LAMBDA_USAGE = {"x86_64": "Lambda-GB-Second", "arm64": "Lambda-GB-Second-ARM"}
LAMBDA_REQUEST_USAGE = {"x86_64": "Request", "arm64": "Request-ARM"}
# A usage type outside us-east-1 starts with the region's billing prefix: USE2-, EU-, APN1-, ...
_REGION_PREFIX = re.compile(r"^[A-Z]{2,4}\d?-")


class PriceNotFound(LookupError):
    """The Price List API has no single on-demand price for a product in a region."""


@dataclass(frozen=True)
class ListPrice:
    usd: Decimal          # per one ``unit``
    unit: str             # the Price List's own: Hrs, GB-Mo, Lambda-GB-Second, Requests, ...
    description: str      # the Price List's words, e.g. "$0.05 per GB-month of snapshot data stored"


def products(service_code: str, **attributes: str) -> Iterator[dict]:
    """Every product of ``service_code`` whose attributes equal ``attributes``, page by page."""
    filters = [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in attributes.items()]
    pages = client("pricing", PRICING_REGION).get_paginator("get_products").paginate(
        ServiceCode=service_code, Filters=filters, FormatVersion="aws_v1")
    for page in pages:
        for entry in page["PriceList"]:
            yield json.loads(entry)


def bare_usage(usagetype: str) -> str:
    """The usage type without its region's billing prefix: ``USE2-EBS:SnapshotUsage`` -> ``EBS:SnapshotUsage``."""
    return _REGION_PREFIX.sub("", usagetype)


def _first_tier(product: dict) -> list[ListPrice]:
    """The on-demand price of each offer's first tier (the one from 0)."""
    found = []
    for offer in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in offer["priceDimensions"].values():
            if dimension.get("beginRange", "0") == "0" and "USD" in dimension["pricePerUnit"]:
                found.append(ListPrice(Decimal(dimension["pricePerUnit"]["USD"]), dimension["unit"],
                                       dimension.get("description", "")))
    return found


def _single(what: str, region: str, prices: set[ListPrice]) -> ListPrice:
    """The one price of ``prices``: none, or two that differ, is an error naming the product."""
    if not prices:
        raise PriceNotFound(f"the Price List API has no on-demand price for {what} in {region}")
    if len({price.usd for price in prices}) > 1:
        raise PriceNotFound(f"the Price List API has {len(prices)} different on-demand prices for {what} in "
                            f"{region}: " + "; ".join(sorted(p.description for p in prices)))
    return min(prices, key=lambda price: price.description)


def _one_price(what: str, region: str, service_code: str, usage: str, **attributes: str) -> ListPrice:
    """The single first-tier on-demand price of the region's products whose bare usage type is ``usage``."""
    return _single(what, region, {price for product in products(service_code, regionCode=region, **attributes)
                                  if bare_usage(product["product"]["attributes"].get("usagetype", "")) == usage
                                  for price in _first_tier(product)})


def instance_hour(region: str, instance_type: str) -> ListPrice:
    """A shared-tenancy Linux on-demand instance-hour, without pre-installed software."""
    return _one_price(f"EC2 {instance_type} Linux on-demand instance-hours", region, "AmazonEC2", f"BoxUsage:{instance_type}",
                      instanceType=instance_type, operatingSystem="Linux", tenancy="Shared",
                      preInstalledSw="NA", capacitystatus="Used")


def snapshot_gb_month(region: str) -> ListPrice:
    """EBS snapshot storage in the standard tier (not the archive tier), per GB-month."""
    return _one_price("EBS snapshot storage (standard tier)", region, "AmazonEC2", "EBS:SnapshotUsage",
                      productFamily="Storage Snapshot")


def gp3_gb_month(region: str) -> ListPrice:
    """gp3 volume storage, per GB-month (the builder's disk while it works)."""
    return _one_price("EBS gp3 volume storage", region, "AmazonEC2", "EBS:VolumeUsage.gp3",
                      productFamily="Storage", volumeApiName="gp3")


def state_transition(region: str) -> ListPrice:
    """A Step Functions standard workflow's state transition."""
    return _one_price("Step Functions standard state transitions", region, "AWSStepFunctions", "StateTransition")


def lambda_gb_second(region: str, arch: str) -> ListPrice:
    return _one_price(f"Lambda duration ({arch})", region, "AWSLambda", LAMBDA_USAGE[arch])


def lambda_request(region: str, arch: str) -> ListPrice:
    return _one_price(f"Lambda requests ({arch})", region, "AWSLambda", LAMBDA_REQUEST_USAGE[arch])


def s3_standard_gb_month(region: str) -> ListPrice:
    """S3 Standard storage, first tier, per GB-month."""
    return _one_price("S3 Standard storage", region, "AmazonS3", "TimedStorage-ByteHrs", volumeType="Standard")


def s3_put_request(region: str) -> ListPrice:
    """An S3 Standard PUT, COPY, POST or LIST request (tier 1)."""
    return _one_price("S3 PUT requests", region, "AmazonS3", "Requests-Tier1")


def inter_region_gb(from_region: str, to_regions: Iterable[str]) -> dict[str, ListPrice]:
    """Data transfer out of ``from_region`` to each of ``to_regions``, per GB (what CopyImage's
    snapshot copy to another region is billed): one query reads every destination's product."""
    by_destination: dict[str, set[ListPrice]] = {}
    for product in products("AWSDataTransfer", fromRegionCode=from_region, transferType=INTER_REGION_OUTBOUND):
        destination = product["product"]["attributes"].get("toRegionCode", "")
        by_destination.setdefault(destination, set()).update(_first_tier(product))
    return {to: _single(f"data transfer out to {to}", from_region, by_destination.get(to, set())) for to in to_regions}
