"""Prices: the Price List API adapter (botocore's Stubber: moto has no pricing service), its cache,
and the dated price file.

The PriceList entries are shaped like the real ones: the AWS CLI's own example of
``aws pricing get-products`` (awscli/examples/pricing/get-products.rst: product.attributes with
usagetype and location, terms.OnDemand.<sku>.<offer>.priceDimensions.<rate> with unit, beginRange,
endRange, description and pricePerUnit.USD, a version and a publicationDate)."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from botocore.stub import Stubber

from chalicelib.aws import pricing
from chalicelib.aws.clients import client, reset_clients
from chalicelib.core.config import load_streams
from chalicelib.core.regions import aws_regions
from chalicelib.plan import prices
from chalicelib.plan.prices import TRANSFER, Fetched, MissingPrice, PriceListPrices, from_price_file, price_book


def entry(usagetype: str, usd: str, unit: str, family: str = "Compute Instance", begin: str = "0",
          **attributes: str) -> str:
    sku, offer, rate = "3MKHN58N7RDDVGKJ", "JRTCKXETXF", "6YS6EN2CT7"
    return json.dumps({
        "product": {"productFamily": family, "sku": sku,
                    "attributes": {"usagetype": usagetype, "locationType": "AWS Region", **attributes}},
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {f"{sku}.{offer}": {
            "priceDimensions": {f"{sku}.{offer}.{rate}": {
                "unit": unit, "endRange": "Inf", "description": f"${usd} per {unit} ({usagetype})", "appliesTo": [],
                "rateCode": f"{sku}.{offer}.{rate}", "beginRange": begin, "pricePerUnit": {"USD": usd}}},
            "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z", "offerTermCode": offer, "termAttributes": {}}}},
        "version": "20261120000000", "publicationDate": "2026-11-20T00:00:00Z"})


def filters(**attributes: str) -> list[dict]:
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in attributes.items()]


@pytest.fixture
def stub():
    reset_clients()
    with Stubber(client("pricing", "us-east-1")) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
    reset_clients()


def answer(stub, service_code, price_list, next_token=None, sent_token=None, **attributes):
    params = {"ServiceCode": service_code, "Filters": filters(**attributes), "FormatVersion": "aws_v1"}
    response = {"FormatVersion": "aws_v1", "PriceList": price_list}
    if sent_token:
        params["NextToken"] = sent_token
    if next_token:
        response["NextToken"] = next_token
    stub.add_response("get_products", response, params)


def test_an_instance_hour_is_read_across_pages_with_the_linux_shared_filters(stub):
    ec2 = {"regionCode": "us-east-2", "instanceType": "c7i.large", "operatingSystem": "Linux", "tenancy": "Shared",
           "preInstalledSw": "NA", "capacitystatus": "Used"}
    answer(stub, "AmazonEC2", [entry("USE2-BoxUsage:c7i.large", "0.0", "Hrs", begin="1")], next_token="page-2",
           **ec2)
    answer(stub, "AmazonEC2", [entry("USE2-BoxUsage:c7i.large", "0.0892500000", "Hrs")], sent_token="page-2",
           **ec2)
    price = pricing.instance_hour("us-east-2", "c7i.large")
    assert (price.usd, price.unit) == (Decimal("0.08925"), "Hrs")


def test_snapshot_storage_is_the_standard_tier_not_the_archive(stub):
    answer(stub, "AmazonEC2", [
        entry("EUC1-EBS:SnapshotArchiveStorage", "0.0135", "GB-Mo", family="Storage Snapshot"),
        entry("EUC1-EBS:SnapshotUsage", "0.054", "GB-Mo", family="Storage Snapshot")],
        regionCode="eu-central-1", productFamily="Storage Snapshot")
    assert pricing.snapshot_gb_month("eu-central-1").usd == Decimal("0.054")


@pytest.mark.parametrize("read, service_code, attributes, usagetype, usd", [
    (lambda: pricing.gp3_gb_month("us-east-1"), "AmazonEC2",
     {"productFamily": "Storage", "volumeApiName": "gp3"}, "EBS:VolumeUsage.gp3", "0.08"),
    (lambda: pricing.state_transition("us-east-1"), "AWSStepFunctions", {}, "StateTransition", "0.000025"),
    (lambda: pricing.lambda_gb_second("us-east-1", "arm64"), "AWSLambda", {}, "Lambda-GB-Second-ARM",
     "0.0000133334"),
    (lambda: pricing.lambda_request("us-east-1", "x86_64"), "AWSLambda", {}, "Request", "0.0000002"),
    (lambda: pricing.s3_standard_gb_month("us-east-1"), "AmazonS3", {"volumeType": "Standard"},
     "TimedStorage-ByteHrs", "0.023"),
    (lambda: pricing.s3_put_request("us-east-1"), "AmazonS3", {}, "Requests-Tier1", "0.000005"),
])
def test_each_kind_asks_its_service_with_its_filters_and_picks_its_usage_type(stub, read, service_code, attributes,
                                                                               usagetype, usd):
    decoys = [entry("Lambda-Edge-GB-Second", "0.00005001", "Lambda-GB-Second"),
              entry("Lambda-GB-Second", "0.0000166667", "Lambda-GB-Second"),
              entry("Request-ARM", "0.0000002", "Requests"), entry("Requests-Tier2", "0.0000004", "Requests")]
    wanted = [e for e in decoys if json.loads(e)["product"]["attributes"]["usagetype"] == usagetype]
    answer(stub, service_code, [d for d in decoys if d not in wanted] + (wanted or [entry(usagetype, usd, "x")]),
           regionCode="us-east-1", **attributes)
    assert read().usd == Decimal(usd)


def transfer(to_region: str, usd: str, from_region: str = "us-east-1") -> str:
    """An AWSDataTransfer product as the Price List has one per pair of regions."""
    billing = {"us-east-1": "USE1", "us-east-2": "USE2", "eu-west-1": "EU", "eu-central-1": "EUC1", "ap-south-1": "APS3"}
    return entry(f"{billing[from_region]}-{billing[to_region]}-AWS-Out-Bytes", usd, "GB", family="Data Transfer",
                 transferType="InterRegion Outbound", fromRegionCode=from_region, toRegionCode=to_region,
                 fromLocationType="AWS Region", toLocationType="AWS Region")


def test_inter_region_transfer_reads_each_destination_s_pair_from_one_query_of_the_source(stub):
    answer(stub, "AWSDataTransfer", [transfer("us-east-2", "0.01"), transfer("eu-central-1", "0.02")],
           next_token="page-2", fromRegionCode="us-east-1", transferType="InterRegion Outbound")
    answer(stub, "AWSDataTransfer", [transfer("eu-west-1", "0.0200000000"), transfer("ap-south-1", "0.02")],
           sent_token="page-2", fromRegionCode="us-east-1", transferType="InterRegion Outbound")
    found = pricing.inter_region_gb("us-east-1", ["us-east-2", "eu-west-1"])
    assert {to: (price.usd, price.unit) for to, price in found.items()} == {
        "us-east-2": (Decimal("0.01"), "GB"), "eu-west-1": (Decimal("0.02"), "GB")}


def test_the_plan_s_transfer_prices_are_one_query_however_many_destinations(stub):
    answer(stub, "AWSDataTransfer", [transfer("us-east-2", "0.01"), transfer("eu-west-1", "0.02")],
           fromRegionCode="us-east-1", transferType="InterRegion Outbound")
    fetched = prices.fetch_region("us-east-1", [(TRANSFER, "us-east-2"), (TRANSFER, "eu-west-1")])
    assert fetched == {"inter-region-gb/us-east-1/us-east-2": Decimal("0.01"),
                       "inter-region-gb/us-east-1/eu-west-1": Decimal("0.02")}


def test_a_destination_the_api_does_not_price_is_an_error_naming_the_pair(stub):
    answer(stub, "AWSDataTransfer", [transfer("us-east-2", "0.01")], fromRegionCode="us-east-1",
           transferType="InterRegion Outbound")
    with pytest.raises(pricing.PriceNotFound, match=r"no on-demand price for data transfer out to eu-west-1 in us-east-1"):
        pricing.inter_region_gb("us-east-1", ["us-east-2", "eu-west-1"])


def test_a_missing_price_is_an_error_naming_the_product_and_region(stub):
    answer(stub, "AWSStepFunctions", [entry("APS1-StepFunctions-Express-Request", "0.000001", "Requests")],
           regionCode="ap-south-1")
    with pytest.raises(pricing.PriceNotFound, match=r"Step Functions standard state transitions in ap-south-1"):
        pricing.state_transition("ap-south-1")


def test_two_different_prices_for_one_product_are_an_error_not_a_guess(stub):
    answer(stub, "AmazonS3", [entry("Requests-Tier1", "0.000005", "Requests"),
                              entry("Requests-Tier1", "0.0000055", "Requests")], regionCode="us-east-1")
    with pytest.raises(pricing.PriceNotFound, match="2 different on-demand prices for S3 PUT requests"):
        pricing.s3_put_request("us-east-1")


class Shared:
    """The StateTable's part, in memory."""

    def __init__(self):
        self.items: dict[str, Fetched] = {}

    def get(self, key):
        return self.items.get(key)

    def put(self, key, fetched):
        self.items[key] = fetched


class Clock:
    def __init__(self):
        self.now = datetime(2026, 12, 1, 9, tzinfo=UTC)

    def __call__(self):
        return self.now


def counting_fetch(calls: list):
    def fetch(region, kinds):
        calls.append(region)
        return {prices.price_key(kind, region, detail): Decimal("0.05") for kind, detail in kinds}
    return fetch


def test_a_second_book_asks_the_api_nothing():
    calls, shared, clock = [], Shared(), Clock()
    source = PriceListPrices(shared, now=clock, fetch=counting_fetch(calls))
    first = source.book(["us-east-1", "eu-west-1"], ["c7i.large"])
    second = source.book(["us-east-1", "eu-west-1"], ["c7i.large"])
    # the base region's prices, its transfer prices, and the other region's
    assert sorted(calls) == ["eu-west-1", "us-east-1", "us-east-1"] and first == second
    assert (first.source, first.as_of) == ("price-list-api", date(2026, 12, 1))
    # another process (another cold start) reads the shared cache
    PriceListPrices(shared, now=clock, fetch=counting_fetch(calls)).book(["us-east-1", "eu-west-1"], ["c7i.large"])
    assert len(calls) == 3


def test_an_expired_entry_is_fetched_again_and_dated_anew():
    calls, shared, clock = [], Shared(), Clock()
    source = PriceListPrices(shared, cache_for=timedelta(days=7), now=clock, fetch=counting_fetch(calls))
    source.book(["us-east-1"], ["c7g.large"])
    clock.now += timedelta(days=6)
    source.book(["us-east-1"], ["c7g.large"])
    assert len(calls) == 1
    clock.now += timedelta(days=2)
    book = source.book(["us-east-1"], ["c7g.large"])
    assert len(calls) == 2 and book.as_of == date(2026, 12, 9)


def test_the_base_region_has_every_kind_and_the_others_snapshots_only():
    calls, kinds_asked = [], {}

    def fetch(region, kinds):
        kinds_asked.setdefault(region, set()).update(kinds)
        return counting_fetch(calls)(region, kinds)
    book = PriceListPrices(Shared(), now=Clock(), fetch=fetch).book(["us-east-1", "sa-east-1", "eu-west-1"],
                                                                    ["c7i.large"])
    assert {kind for kind, _ in kinds_asked["us-east-1"]} == set(prices.KINDS)
    assert {detail for kind, detail in kinds_asked["us-east-1"] if kind == TRANSFER} == {"sa-east-1", "eu-west-1"}
    assert kinds_asked["sa-east-1"] == {("snapshot-gb-month", None)}
    assert book.price(TRANSFER, "us-east-1", "sa-east-1") == Decimal("0.05")


def test_every_cache_key_fits_the_state_table_s_partition_key_for_every_region():
    shared, regions = Shared(), list(aws_regions())
    PriceListPrices(shared, now=Clock(), fetch=counting_fetch([])).book(regions, ["c7i.large", "c7g.large"])
    assert len(shared.items) == len(regions) + 1       # the base region's transfer prices apart
    assert max(len(key.encode()) for key in shared.items) <= 2048


def test_the_price_file_is_dated_and_prices_every_region_the_shipped_streams_can_use():
    """Copies to any region from the shipped streams' base regions; and every region could be a
    base but for the transfer out of it, which the file prices from those bases only."""
    streams = load_streams().streams.values()
    instance_types = {t for stream in streams for types in stream.instance_types.values() for t in types}
    regions = list(aws_regions())
    for base in {stream.regions.base for stream in streams}:
        book = from_price_file([base, *[r for r in regions if r != base]], instance_types)
        assert (book.source, book.as_of) == ("price-file", date(2026, 12, 1))
        assert all(book.price(TRANSFER, base, region) > 0 for region in regions if region != base)
    for base in regions:
        book = from_price_file([base], instance_types)
        for instance_type in instance_types:
            assert book.price("instance-hour", base, instance_type) > 0
        assert book.price("state-transition", base) > 0


def test_every_price_in_the_file_names_its_source_or_says_it_is_not_its_regions_own():
    paris = from_price_file(["eu-west-3"], ["c7i.large"])
    assert paris.price("state-transition", "eu-west-3") == Decimal("0.0000297")
    assert paris.note("state-transition", "eu-west-3").startswith("source: https://aws.amazon.com/step-functions")
    book = from_price_file(["us-east-1", "eu-west-3", "us-east-2"], ["c7i.large"])
    assert "us-east-1's price" in book.note("snapshot-gb-month", "eu-west-3")
    assert book.note("snapshot-gb-month", "us-east-1").startswith("source: https://docs.aws.amazon.com/ebs/")
    assert book.price(TRANSFER, "us-east-1", "us-east-2") == Decimal("0.01")
    assert book.note(TRANSFER, "us-east-1", "us-east-2").startswith("source: https://")
    assert book.note(TRANSFER, "us-east-1", "eu-west-3").endswith("check it against the Price List API")
    for one in (paris, book):
        assert all(note for note in one.notes.values()) and set(one.notes) == set(one.prices)


def test_a_price_the_file_lacks_is_an_error_naming_it():
    with pytest.raises(MissingPrice, match=r"no price for EC2 Linux on-demand instance p5.48xlarge in us-east-1"):
        from_price_file(["us-east-1"], ["p5.48xlarge"])
    with pytest.raises(MissingPrice, match=r"EBS gp3 volume storage in mars-north-1 in the price-file of 2026-12-01"):
        from_price_file(["us-east-1"], []).price("gp3-gb-month", "mars-north-1")


def test_a_base_region_the_file_has_no_transfer_prices_from_is_an_error_naming_the_pair():
    with pytest.raises(MissingPrice, match=r"no price for Data transfer out to the AWS region us-east-1 in eu-west-3"):
        from_price_file(["eu-west-3", "us-east-1"], ["c7i.large"])


@pytest.fixture
def environment(monkeypatch):
    yield monkeypatch
    monkeypatch.undo()
    reset_clients()


def test_price_source_chooses(environment):
    environment.delenv("PRICE_SOURCE", raising=False)
    reset_clients()
    assert price_book(["us-east-1"], ["c7i.large"]).source == "price-file"
    environment.setenv("PRICE_SOURCE", "price-list-api")
    reset_clients()
    source = PriceListPrices(Shared(), now=Clock(), fetch=counting_fetch([]))
    environment.setattr(prices, "_price_list_prices", lambda: source)
    assert price_book(["us-east-1"], ["c7i.large"]).source == "price-list-api"
