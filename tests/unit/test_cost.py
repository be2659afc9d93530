"""The cost arithmetic: docs/plan.md's worked example, read from the doc and checked line by line,
so the doc and the code cannot drift; the cadences; kept releases scale the snapshot storage."""

import json
import math
import re
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from chalicelib.core.config import Stream
from chalicelib.guest.user_data import SCRIPTS
from chalicelib.models.regions import Expected
from chalicelib.plan import cost as cost_module
from chalicelib.plan import latency
from chalicelib.plan.cost import (
    Cost,
    UnknownCadence,
    UsageHints,
    cents,
    plain,
    release_cost,
    releases_per_month,
)
from chalicelib.plan.prices import PRICE_FILE, PriceBook, from_price_file

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
    return release_cost(stream, example_durations(stream), INPUTS["regions"], example_prices(), hints,
                        Expected.model_validate(INPUTS["expected"]))


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


def _transfer(cost: Cost) -> dict[str, Decimal]:
    """The copies' data transfer of a release, by destination region."""
    return {line.what.rsplit(" -> ", 1)[1]: line.amount for line in cost.per_release
            if line.what.startswith("Data transfer")}


def test_the_copies_transfer_is_priced_per_destination_never_for_the_base_region():
    transfer = _transfer(example_cost())
    assert transfer == {"us-east-2": 3 * 2 * Decimal("0.01"), "eu-west-1": 3 * 2 * Decimal("0.02")}
    assert not any(line.what.startswith("Data transfer") for line in example_cost().kept_per_month)


def test_the_copies_transfer_is_linear_in_destinations_and_architectures():
    stream = example_stream()
    usage = cost_module.usage(stream, example_durations(stream), INPUTS["regions"], UsageHints(
        snapshot_gib_per_image=Decimal(3)))
    policy = cost_module.Policy(4, Decimal(2))
    flat = PriceBook("price-file", date(2026, 12, 1), {**example_prices().prices, **{
        f"inter-region-gb/us-east-1/{region}": Decimal("0.02") for region in ("us-east-2", "eu-west-1", "ap-south-1")},
        "snapshot-gb-month/ap-south-1": Decimal("0.05")}, {})

    def total(**changes) -> Decimal:
        return sum(_transfer(cost_module.cost(replace(usage, **changes), policy, flat)).values(), Decimal(0))
    one = total(regions=("us-east-1", "us-east-2"), arches=("x86_64",))
    assert total(regions=("us-east-1",)) == 0
    assert total(regions=("us-east-1", "us-east-2", "eu-west-1", "ap-south-1"), arches=("x86_64",)) == 3 * one
    assert total(regions=("us-east-1", "us-east-2", "eu-west-1", "ap-south-1")) == 6 * one == 3 * 2 * 3 * Decimal("0.02")


def test_the_copies_transfer_counts_the_snapshot_at_the_size_its_storage_is_priced_at():
    stream = example_stream()
    cost = release_cost(stream, example_durations(stream), INPUTS["regions"], example_prices())   # no image known
    copies = next(line for line in cost.per_release if line.what.endswith("-> eu-west-1"))
    assert copies.quantity == cost.kept_per_month[0].quantity / stream.retention.keep_releases == 10 * 2


def _asl_states() -> tuple[dict, dict]:
    """The release state machine's top-level states, and each Map's own, by the Map's name."""
    definition = json.loads((Path(__file__).parents[2] / "state_machines" / "release.asl.json").read_text())
    top = definition["States"]
    maps = {name: state["ItemProcessor"]["States"] for name, state in top.items() if state["Type"] == "Map"}
    return top, maps


def test_the_states_counted_are_the_state_machines_own():
    top, maps = _asl_states()
    assert set(cost_module.ONCE + cost_module.RELEASED + cost_module.MARKETPLACE_FIRST_CHECK
               + cost_module.PER_COPY_WAIT + cost_module.PER_MARKETPLACE_WAIT) <= set(top)
    assert set(cost_module.PER_ARCH) <= set(maps["Build"])
    assert set(cost_module.PER_REGION) <= set(maps["Distribute"]) and set(maps) == {"Build", "Distribute"}
    every_state = {**top, **{name: state for states in maps.values() for name, state in states.items()}}
    lambda_tasks = {name for name, state in every_state.items()
                    if state["Type"] == "Task" and name not in {"FailRelease", "FailPublishedRelease", "CleanupArch"}}
    assert lambda_tasks == cost_module.LAMBDA_TASKS


def test_each_wait_group_is_a_loop_of_the_state_machine():
    top, _ = _asl_states()

    def after(state: str) -> str:
        return top[state].get("Next") or top[state]["Default"]
    for loop in (cost_module.PER_COPY_WAIT, cost_module.PER_MARKETPLACE_WAIT):
        assert [after(state) for state in loop] == [*loop[1:], loop[0]], loop


def _durations(copy_s: dict[str, float], publish_s: float = 5) -> latency.Durations:
    """The default model's medians for one architecture, with these copy times (the base region:
    us-east-1, which copies nothing)."""
    regions = ["us-east-1", *copy_s]
    model = latency.DEFAULT_MODEL.durations(["x86_64"], regions, "us-east-1")
    return latency.Durations(model.once, model.per_arch,
                             {region: {"copy": copy_s.get(region, 0.0), "publish": publish_s} for region in regions})


def test_copies_available_at_once_are_published_by_the_first_follow():
    durations = _durations({"us-east-2": 0, "eu-west-1": 0})
    follows = cost_module.copy_follows(durations, {"us-east-2": 1800, "eu-west-1": 1800})
    requested_s = 2 + (600 + 300 + 180 + 2) + 1 + 5     # prepare, build..evaluate, check_build, preflight
    assert follows == (cost_module.Follow(requested_s, ("eu-west-1", "us-east-1", "us-east-2")),)


def test_copies_done_when_expected_are_looked_at_early_once_then_followed_when_due():
    durations = _durations({"us-east-2": 1500, "eu-west-1": 2400})
    follows = cost_module.copy_follows(durations, {"us-east-2": 1500, "eu-west-1": 2400})
    # the early look: half of the later expectation, 2400 x 0.5 = 1200 s, finds neither done
    assert [(f.at_s - follows[0].at_s, f.published) for f in follows] == [
        (0, ("us-east-1",)), (1200, ()), (1500, ("us-east-2",)), (2400, ("eu-west-1",))]


def test_a_copy_later_than_expected_is_followed_on_the_backstop_of_the_run_s_time():
    durations = _durations({"eu-west-1": 1200})
    follows = cost_module.copy_follows(durations, {"eu-west-1": 600})
    start = follows[0].at_s    # 1090 s into the run: looked at early at 1390, due at 1690, done at 2290
    waits = [later.at_s - earlier.at_s for earlier, later in zip(follows, follows[1:], strict=False)]
    assert waits[:2] == [300, 300]
    at = start + 600
    for wait in waits[2:]:      # 1.75 % of the run's time so far, rounded up
        assert wait == math.ceil(0.0175 * at)
        at += wait
    assert follows[-2].at_s < start + 1200 <= follows[-1].at_s and follows[-1].published == ("eu-west-1",)


def test_a_follow_publishing_more_regions_than_it_publishes_at_once_takes_a_publish_per_round():
    durations = _durations({f"r{i}": 0 for i in range(9)}, publish_s=5)
    follow = cost_module.Follow(0, tuple(durations.per_region))    # 10 regions: 8, then 2
    assert cost_module.follow_seconds(follow, durations) == cost_module.LAMBDA_TASK_S + 2 * 5
    assert cost_module.follow_seconds(cost_module.Follow(0, ()), durations) == cost_module.LAMBDA_TASK_S


@pytest.mark.parametrize(("settle_s", "checks"), [
    (0, 2),             # sent by the first check, read settled by the next, when expected (2400 s)
    (2400, 2),
    (2401, 3),          # then every check_every_minutes (600 s): at 3000, 3600, 4200 s
    (3000, 3),
    (3001, 4),
    (3601, 5),
])
def test_marketplace_is_checked_when_expected_then_every_check_every_minutes(settle_s, checks):
    assert cost_module.marketplace_checks(settle_s, 2400, 600) == checks


PRODUCT = {"product_id": "prod-example", "access_role_arn": "arn:aws:iam::{account}:role/marketplace",
           "operating_system_name": "FEDORA", "operating_system_version": "43", "usage_instructions": "ssh core@",
           "recommended_instance_type": "c7i.large",
           "security_groups": [{"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "ip_ranges": ["0.0.0.0/0"]}]}


def test_a_release_with_marketplace_counts_its_checks_and_ends_in_finalize():
    """Settled 3000 s after it was sent, expected at 2400 s, checked every 10 minutes: checks at
    0 (sends), 2400 and 3000 s."""
    stream = example_stream(marketplace={"publish": True, "products": {"x86_64": PRODUCT}})
    given = example_durations(stream)
    durations = latency.Durations({**given.once, "marketplace": 3000}, given.per_arch, given.per_region)
    expected = Expected(copy_s=INPUTS["expected"]["copy_s"], marketplace_s=2400)
    hints = UsageHints()
    without = cost_module.usage(example_stream(), durations, INPUTS["regions"], hints, expected)
    followed = cost_module.usage(stream, durations, INPUTS["regions"], hints, expected)
    # Finalize instead of Released, Marketplace and MarketplaceSettled, then 3 states per later check
    assert followed.state_transitions - without.state_transitions == 3 - 1 + 3 * 2
    assert followed.lambda_invocations - without.lambda_invocations == 2 + 2      # Finalize and 3 Marketplace
    assert followed.lambda_gb_seconds - without.lambda_gb_seconds == 4 * cost_module.LAMBDA_TASK_S / 2


def _builder_part_mib() -> int:
    script = (SCRIPTS / "builder.sh").read_text()
    shift = re.search(r"^PART_BYTES=\$\(\((\d+) << 20\)\)", script, re.M)
    assert shift, "builder.sh sets PART_BYTES as N << 20"
    return int(shift.group(1))


@pytest.mark.parametrize("image_mib, upload_parts, copy_requests", [
    (100, 2, 1),      # under the managed copy's threshold: one CopyObject
    (512, 8, 4),      # two 256 MiB part copies, started and completed
    (1000, 16, 6),
])
def test_each_image_s_put_requests_are_the_builder_s_parts_and_the_managed_copy_s(image_mib, upload_parts,
                                                                                   copy_requests):
    """S3 bills every UploadPart, UploadPartCopy, CopyObject and the starts and completes: the
    builder uploads in builder.sh's PART_BYTES, Announce copies with chalicelib/aws/s3.py's managed copy."""
    assert _builder_part_mib() == cost_module.UPLOAD_PART_MIB
    assert math.ceil(image_mib / cost_module.UPLOAD_PART_MIB) == upload_parts
    assert cost_module.put_requests_per_image(Decimal(image_mib) / 1024) == upload_parts + 2 + copy_requests


@pytest.mark.parametrize("stage", ["prepare", "check_build", "preflight", "validate", "announce"])
def test_a_task_is_billed_for_its_stage_s_time_not_a_flat_task_time(stage):
    """Announce streams every image through its Lambda to check it: a stream whose history says it
    takes ten minutes pays ten minutes of Lambda, as it pays RegisterImage's wait."""
    stream, hints = example_stream(), UsageHints()
    durations = example_durations(stream)
    slower = latency.Durations({**durations.once, stage: durations.once[stage] + 600}, durations.per_arch,
                               durations.per_region)
    usage = cost_module.usage(stream, durations, INPUTS["regions"], hints)
    assert cost_module.usage(stream, slower, INPUTS["regions"], hints).lambda_gb_seconds \
        == usage.lambda_gb_seconds + cost_module.LAMBDA_MEMORY_GB * 600


def test_evaluate_qa_is_billed_for_the_evaluate_stage_of_each_architecture():
    stream, hints = example_stream(), UsageHints()
    durations = example_durations(stream)
    slower = latency.Durations(durations.once, {arch: {**stages, "evaluate": stages["evaluate"] + 60}
                                                for arch, stages in durations.per_arch.items()}, durations.per_region)
    usage = cost_module.usage(stream, durations, INPUTS["regions"], hints)
    assert cost_module.usage(stream, slower, INPUTS["regions"], hints).lambda_gb_seconds \
        == usage.lambda_gb_seconds + cost_module.LAMBDA_MEMORY_GB * 60 * len(durations.per_arch)


def test_each_line_says_where_a_price_file_s_price_comes_from_and_when_it_is_not_the_region_s_own():
    stream = example_stream()
    regions = ["us-east-1", "ap-south-2"]
    prices = from_price_file(regions, [types[0] for types in stream.instance_types.values()])
    lines = {line["what"]: line for line in release_cost(stream, example_durations(stream), regions, prices)
             .as_dict()["kept_per_month"]}
    assert lines["EBS snapshots of 8 images, us-east-1"]["price_note"] \
        == f"source: {_price_file_entry('us-east-1', 'snapshot-gb-month')['source']}"
    assert lines["EBS snapshots of 8 images, ap-south-2"]["price_note"] \
        == _price_file_entry("ap-south-2", "snapshot-gb-month")["note"]
    assert "us-east-1's price" in lines["EBS snapshots of 8 images, ap-south-2"]["price_note"]


def _price_file_entry(region: str, kind: str) -> dict:
    return json.loads(PRICE_FILE.read_text())["prices"][region][kind]


def test_quantities_and_prices_are_shown_without_exponents():
    assert (plain(Decimal("240.000000")), plain(Decimal("0.0000002")), plain(Decimal("0.166667"))) == \
        ("240", "0.0000002", "0.166667")
