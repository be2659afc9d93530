"""docs/cli-and-api.md's plan route names every field the plan answers, the cost's too: a field
the code adds and the doc leaves out is an answer nobody is told how to read."""

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

from chalicelib.plan.cost import Cost
from chalicelib.plan.plan import Plan, Timing

DOC = (Path(__file__).parents[2] / "docs" / "cli-and-api.md").read_text()


def _plan_row() -> str:
    (row,) = [line for line in DOC.splitlines() if line.startswith("| `GET /streams/{stream}/plan")]
    return row


def test_the_plan_route_names_every_field_of_the_plan_and_its_cost():
    named = set(re.findall(r"`([a-z_0-9]+)`", _plan_row()))
    cost = Cost((), (), Decimal(1), 1, "price-file", date(2026, 12, 1), "disk_size_gib").as_dict()
    fields = {*Plan.model_fields, *Timing.model_fields, *cost, *cost["prices"]}
    assert not fields - named, f"docs/cli-and-api.md's plan route leaves out {sorted(fields - named)}"
