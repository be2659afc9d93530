"""Every unit price a release's cost needs, from one of two sources, with the source and its date.

- ``price-list-api``: AWS's Price List API (chalicelib/aws/pricing.py), cached a week: in this
  process, and in the StateTable so that every function and every cold start shares one fetch.
- ``price-file``: the dated price file shipped in chalicelib/plan/prices/, for the local runtime,
  the tests, ``make demo`` and the CLI without AWS. It names where each price comes from, and
  says so where a region's own price was not found.

PRICE_SOURCE (chalicelib/core/settings.py) chooses. ``price_book(regions, instance_types)`` reads
what a release in those regions needs: every kind of price in ``regions[0]``, the base region where
it builds and runs, with data transfer out of it to each other region (CopyImage's snapshot copies),
and snapshot storage in each other region. A price the source lacks is an error naming the product
and the region, never a 0."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal, Protocol

from chalicelib.aws import pricing
from chalicelib.core.arch import ARCHES
from chalicelib.core.regions import REGIONS_AT_ONCE
from chalicelib.core.settings import locations

Source = Literal["price-list-api", "price-file"]
PRICE_FILE = Path(__file__).parent / "prices" / "aws-prices-2026-12-01.json"
CACHE_FOR = timedelta(days=7)

# Data transfer between regions is priced per (source, destination): the base region's to each other.
TRANSFER = "inter-region-gb"
# Each kind of price: what it is (for messages and line items) and the unit it is per.
KINDS: dict[str, tuple[str, str]] = {
    "instance-hour": ("EC2 Linux on-demand instance", "hour"),
    "snapshot-gb-month": ("EBS snapshot storage (standard tier)", "GB-month"),
    "gp3-gb-month": ("EBS gp3 volume storage", "GB-month"),
    "state-transition": ("Step Functions standard state transition", "transition"),
    "lambda-gb-second": ("Lambda duration", "GB-second"),
    "lambda-request": ("Lambda request", "request"),
    "s3-gb-month": ("S3 Standard storage", "GB-month"),
    "s3-put-request": ("S3 PUT, COPY, POST or LIST request", "request"),
    TRANSFER: ("Data transfer out to the AWS region", "GB"),     # detail: the destination
}


class MissingPrice(LookupError):
    """A price the cost needs is not in the price book's source."""


def price_key(kind: str, region: str, detail: str | None = None) -> str:
    return f"{kind}/{region}" + (f"/{detail}" if detail else "")


@dataclass(frozen=True)
class PriceBook:
    source: Source
    as_of: date
    prices: Mapping[str, Decimal]                   # price_key -> USD per KINDS' unit
    notes: Mapping[str, str]                        # price_key -> where a price file's price comes from

    def price(self, kind: str, region: str, detail: str | None = None) -> Decimal:
        try:
            return self.prices[price_key(kind, region, detail)]
        except KeyError:
            what = KINDS[kind][0] + (f" {detail}" if detail else "")
            raise MissingPrice(f"no price for {what} in {region} in the {self.source} of {self.as_of}") from None

    def note(self, kind: str, region: str, detail: str | None = None) -> str | None:
        return self.notes.get(price_key(kind, region, detail))


Kinds = list[tuple[str, str | None]]      # (kind, detail) pairs


def wanted(regions: list[str], instance_types: Iterable[str]) -> dict[str, Kinds]:
    """The (kind, detail) pairs to read in each region: everything in the base region (the first),
    with data transfer out of it to each other region; snapshot storage elsewhere."""
    base, *others = regions
    destinations = [region for region in others if region != base]
    everything = [("instance-hour", t) for t in sorted(set(instance_types))] + [
        ("snapshot-gb-month", None), ("gp3-gb-month", None), ("state-transition", None),
        *[(kind, arch) for kind in ("lambda-gb-second", "lambda-request") for arch in ARCHES],
        ("s3-gb-month", None), ("s3-put-request", None), *[(TRANSFER, region) for region in destinations]]
    return {base: everything, **{region: [("snapshot-gb-month", None)] for region in destinations}}


# -- the dated price file ------------------------------------------------------------------------
@functools.cache
def _read_price_file(path: Path) -> tuple[date, dict[str, dict[str, dict[str, str]]]]:
    document = json.loads(path.read_text())
    return date.fromisoformat(document["as_of"]), document["prices"]


def from_price_file(regions: list[str], instance_types: Iterable[str], path: Path = PRICE_FILE) -> PriceBook:
    as_of, by_region = _read_price_file(path)
    prices, notes = {}, {}
    for region, kinds in wanted(regions, instance_types).items():
        for kind, detail in kinds:
            entry = by_region.get(region, {}).get(kind + (f"/{detail}" if detail else ""))
            if entry is None:
                what = KINDS[kind][0] + (f" {detail}" if detail else "")
                raise MissingPrice(f"the price file {path.name} has no price for {what} in {region}")
            prices[price_key(kind, region, detail)] = Decimal(entry["usd"])
            notes[price_key(kind, region, detail)] = entry.get("note") or f"source: {entry['source']}"
    return PriceBook("price-file", as_of, prices, notes)


# -- the Price List API, cached ------------------------------------------------------------------
_FETCH: dict[str, Callable[..., pricing.ListPrice]] = {
    "instance-hour": pricing.instance_hour,
    "snapshot-gb-month": pricing.snapshot_gb_month,
    "gp3-gb-month": pricing.gp3_gb_month,
    "state-transition": pricing.state_transition,
    "lambda-gb-second": pricing.lambda_gb_second,
    "lambda-request": pricing.lambda_request,
    "s3-gb-month": pricing.s3_standard_gb_month,
    "s3-put-request": pricing.s3_put_request,
}   # TRANSFER: pricing.inter_region_gb, every destination in one query


@dataclass(frozen=True)
class Fetched:
    """One region's prices as the API gave them at ``fetched_at``."""
    fetched_at: datetime
    prices: Mapping[str, Decimal]


class SharedCache(Protocol):
    """Where fetched prices outlive the process (the StateTable, chalicelib/store/state.py)."""
    def get(self, key: str) -> Fetched | None: ...
    def put(self, key: str, fetched: Fetched) -> None: ...


def fetch_region(region: str, kinds: list[tuple[str, str | None]]) -> dict[str, Decimal]:
    """The region's prices from the Price List API; pricing.PriceNotFound names any it lacks."""
    destinations = [detail for kind, detail in kinds if kind == TRANSFER and detail]
    prices = {price_key(kind, region, detail): _FETCH[kind](region, *([detail] if detail else [])).usd
              for kind, detail in kinds if kind != TRANSFER}
    if destinations:
        prices |= {price_key(TRANSFER, region, to): price.usd
                   for to, price in pricing.inter_region_gb(region, destinations).items()}
    return prices


def fetch_groups(by_region: dict[str, Kinds]) -> list[tuple[str, Kinds]]:
    """One fetch, and one cache entry, per region, the base region's transfer prices apart: their
    own query, and a cache key (the StateTable's pk, at most 2048 bytes) that 30 destinations fit."""
    groups: list[tuple[str, Kinds]] = []
    for region, kinds in by_region.items():
        for group in ([k for k in kinds if k[0] != TRANSFER], [k for k in kinds if k[0] == TRANSFER]):
            if group:
                groups.append((region, group))
    return groups


class PriceListPrices:
    """The Price List API behind two caches: this process's, then the shared one; an entry older
    than ``cache_for`` is fetched again."""

    def __init__(self, shared: SharedCache, cache_for: timedelta = CACHE_FOR,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 fetch: Callable[[str, list[tuple[str, str | None]]], dict[str, Decimal]] = fetch_region):
        self._shared, self._cache_for, self._now, self._fetch = shared, cache_for, now, fetch
        self._here: dict[str, Fetched] = {}
        self._lock = threading.Lock()

    def book(self, regions: list[str], instance_types: Iterable[str]) -> PriceBook:
        # Regions at once: a first plan of 30 regions asks some 40 questions, well within the API's 29 s.
        with ThreadPoolExecutor(max_workers=REGIONS_AT_ONCE) as pool:
            fetched = list(pool.map(lambda pair: self._region(*pair), fetch_groups(wanted(regions, instance_types))))
        prices = {key: usd for one in fetched for key, usd in one.prices.items()}
        return PriceBook("price-list-api", min(one.fetched_at for one in fetched).date(), prices, {})

    def _region(self, region: str, kinds: list[tuple[str, str | None]]) -> Fetched:
        key = "prices#" + ",".join(price_key(kind, region, detail) for kind, detail in kinds)
        with self._lock:
            here = self._here.get(key)
        if here is not None and self._fresh(here):
            return here
        shared = self._shared.get(key)
        if shared is None or not self._fresh(shared):
            shared = Fetched(self._now(), self._fetch(region, kinds))
            self._shared.put(key, shared)
        with self._lock:
            self._here[key] = shared
        return shared

    def _fresh(self, fetched: Fetched) -> bool:
        return self._now() - fetched.fetched_at < self._cache_for


@functools.cache
def _price_list_prices() -> PriceListPrices:
    from chalicelib.store.state import StateTablePriceCache  # the store imports this module's Fetched
    return PriceListPrices(StateTablePriceCache())


def price_book(regions: list[str], instance_types: Iterable[str]) -> PriceBook:
    """The prices a release in ``regions`` (the base region first) with these instance types needs,
    from the source PRICE_SOURCE names."""
    if locations().price_source == "price-list-api":
        try:
            return _price_list_prices().book(regions, instance_types)
        except pricing.PriceNotFound as error:
            raise MissingPrice(str(error)) from None
    return from_price_file(regions, instance_types)
