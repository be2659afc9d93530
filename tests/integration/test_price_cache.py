"""The plan's price cache in the StateTable, on moto: what one function fetched, the next reads."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chalicelib.plan.prices import Fetched, PriceListPrices, price_book
from chalicelib.store.state import StateTablePriceCache


def test_prices_fetched_by_one_process_are_read_by_the_next(runtime):
    calls, now = [], datetime(2026, 12, 1, 9, tzinfo=UTC)

    def fetch(region, kinds):
        calls.append(region)
        return {f"{kind}/{region}" + (f"/{detail}" if detail else ""): Decimal("0.0000166667") for kind, detail in kinds}

    first = PriceListPrices(StateTablePriceCache(), now=lambda: now, fetch=fetch).book(["us-east-1"], ["c7g.large"])
    second = PriceListPrices(StateTablePriceCache(), now=lambda: now + timedelta(days=1), fetch=fetch).book(
        ["us-east-1"], ["c7g.large"])
    assert calls == ["us-east-1"] and second == first
    assert second.price("lambda-gb-second", "us-east-1", "arm64") == Decimal("0.0000166667")


def test_an_item_keeps_its_prices_exactly_and_its_date(runtime):
    cache = StateTablePriceCache()
    fetched = Fetched(datetime(2026, 11, 30, 23, 59, tzinfo=UTC), {"s3-put-request/us-east-1": Decimal("0.000005")})
    cache.put("prices#s3-put-request/us-east-1", fetched)
    assert cache.get("prices#s3-put-request/us-east-1") == fetched
    assert cache.get("prices#nothing") is None


def test_the_local_runtime_prices_from_the_dated_file(runtime):
    assert price_book(["us-east-1"], ["c7i.large"]).source == "price-file"
