"""The cost arithmetic: docs/plan.md's worked example, read from the doc and checked line by line,
so the doc and the code cannot drift; the cadences; kept releases scale the snapshot storage."""

import json
import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from chalicelib.core.config import Stream
from chalicelib.plan import cost as cost_module
from chalicelib.plan import latency
from chalicelib.plan.cost import (
    Cost,
    UnknownCadence,
    UsageHints,
    cents,
    release_cost,
    releases_per_month,
)
from chalicelib.plan.prices import PriceBook

DOC = (Path(__file__).parents[2] / "docs" / "plan.md").read_text()


def _after(marker: str) -> str:
    return DOC.split(f"<!-- {marker} -->", 1)[1]


def _table(marker: str) -> list[list[str]]:
    rows = []
    for line in _after(marker).strip().splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


INPUTS = json.loads(re.search(r"```json\n(.*?)\n```", _after("worked-example-inputs"), re.S).group(1))


def example_stream(**changes) -> Stream:
    given = INPUTS["stream"]
    return Stream.model_validate({
        "name": "example", "cadence": given["cadence"], "repo_url": "https://example.org/repo",
        "refs": {arch: f"example/{arch}" for arch in given["instance_types"]},
        "regions": {"base": INPUTS["regions"][0], "copies": INPUTS["regions"][1:]},
        "signatures": {"required": False}, "instance_types": given["instance_types"],
        "builder_image_parameter": {arch: "/builder" for arch in given["instance_types"]},
        "disk_size_gib": given["disk_size_gib"], "retention": {"keep_releases": given["keep_releases"]},
        "marketplace": {"publish": given["marketplace"]}, **changes})


def example_durations(stream: Stream) -> latency.Durations:
    """latency.DEFAULTS' medians, with the stages the example states."""
    regions = INPUTS["regions"]
    model = latency.DEFAULT_MODEL.durations(stream.arches, regions, regions[0])
    stated = INPUTS["durations_s"]
    return latency.Durations(
        model.once, {arch: {**stages, **stated["per_arch"][arch]} for arch, stages in model.per_arch.items()},
        {region: {**stages, **({"copy": stated["copy"][region]} if region in stated["copy"] else {})}
         for region, stages in model.per_region.items()})


def example_prices() -> PriceBook:
    given = INPUTS["prices"]
    return PriceBook(given["source"], date.fromisoformat(given["as_of"]),
                     {key: Decimal(usd) for key, usd in given["usd"].items()}, {})


def example_cost(**stream_changes) -> Cost:
    stream = example_stream(**stream_changes)
    hints = UsageHints(**{name: Decimal(value) for name, value in INPUTS["hints"].items()})
    return release_cost(stream, example_durations(stream), INPUTS["regions"], example_prices(), hints)


def test_every_line_of_the_worked_example_is_what_cost_py_computes():
    cost = example_cost()
    lines = cost.per_release + cost.kept_per_month
    table = _table("worked-example-results")
    assert [row[0] for row in table] == [line.what for line in lines]
    for row, line in zip(table, lines, strict=True):
        what, quantity, unit, unit_price, amount = row[:5]
        assert (unit, Decimal(unit_price)) == (line.unit, line.unit_price), what
        assert Decimal(quantity) == line.quantity.quantize(Decimal(quantity)), what
        assert Decimal(amount) == line.amount.quantize(Decimal("0.000001"), ROUND_HALF_UP), what


def test_the_worked_examples_totals_are_what_cost_py_computes_to_the_cent():
    cost = example_cost()
    totals = {row[0]: Decimal(row[1]) for row in _table("worked-example-totals")}
    assert totals == {"per release": cents(cost.per_release_usd), "kept per month": cents(cost.kept_per_month_usd),
                      "monthly": cents(cost.monthly_usd)}
    assert cost.as_dict()["monthly_usd"] == str(totals["monthly"])
    assert cost.as_dict()["prices"] == {"source": "price-file", "as_of": "2026-12-01"}
    assert cost.snapshot_size_source == "the last release's raw disk image"


def test_biweekly_is_26_releases_a_year_and_every_commit_what_history_says():
    assert releases_per_month("biweekly") * 12 == pytest.approx(Decimal(26))
    assert releases_per_month("every-commit", Decimal("41.5")) == Decimal("41.5")
    with pytest.raises(UnknownCadence, match="give the releases per month"):
        releases_per_month("every-commit")


def test_an_every_commit_stream_costs_its_releases_per_month():
    stream = example_stream(cadence="every-commit")
    hints = UsageHints(snapshot_gib_per_image=Decimal(3), every_commit_per_month=Decimal(30))
    cost = release_cost(stream, example_durations(stream), INPUTS["regions"], example_prices(), hints)
    assert cost.monthly_usd == cost.kept_per_month_usd + 30 * cost.per_release_usd


def test_kept_releases_scale_the_snapshot_storage_linearly():
    def snapshots(keep: int) -> Decimal:
        cost = example_cost(retention={"keep_releases": keep})
        return sum((line.amount for line in cost.kept_per_month if line.what.startswith("EBS snapshots")), Decimal(0))
    assert snapshots(4) == 4 * snapshots(1) and snapshots(12) == 12 * snapshots(1)
    assert snapshots(1) == 3 * 2 * Decimal("0.05") * 3   # GiB x arches x price x regions


def test_without_a_known_image_the_snapshot_is_the_disk_size_and_says_so():
    stream = example_stream()
    cost = release_cost(stream, example_durations(stream), INPUTS["regions"], example_prices())
    assert cost.snapshot_size_source.startswith("disk_size_gib (10 GiB), an upper bound")
    assert cost.kept_per_month[0].quantity == 10 * 2 * 4


def _asl_states() -> tuple[dict, dict]:
    """The release state machine's top-level states, and each Map's own, by the Map's name."""
    definition = json.loads((Path(__file__).parents[2] / "state_machines" / "release.asl.json").read_text())
    top = definition["States"]
    maps = {name: state["ItemProcessor"]["States"] for name, state in top.items() if state["Type"] == "Map"}
    return top, maps


def test_the_states_counted_are_the_state_machines_own():
    top, maps = _asl_states()
    assert set(cost_module.ONCE + cost_module.PER_COPY_POLL + cost_module.PER_MARKETPLACE_POLL) <= set(top)
    assert set(cost_module.PER_ARCH) <= set(maps["Build"])
    assert {"CopyToRegion"} <= set(maps["Copy"]) and {"PublishRegion"} <= set(maps["Publish"])
    every_state = {**top, **{name: state for states in maps.values() for name, state in states.items()}}
    lambda_tasks = {name for name, state in every_state.items()
                    if state["Type"] == "Task" and name not in {"FailRelease", "FailPublishedRelease", "CleanupArch"}}
    assert lambda_tasks == cost_module.LAMBDA_TASKS
