"""The plan of a stream's next release, through the API, against a real repository and the
local runtime: what it would take, what preflight says now, and its predicted time."""

import json
from decimal import Decimal

import pytest

from atomic_release.cli.main import main
from atomic_release.cli.plan import render
from atomic_release.local.api_server import ServedApp
from atomic_release.local.patches import ec2_emulation
from chalicelib.aws.clients import client
from chalicelib.core.config import load_streams
from chalicelib.core.regions import first_regions
from chalicelib.plan.cost import UsageHints, release_cost
from chalicelib.plan.latency import DEFAULT_MODEL, DEFAULTS
from chalicelib.plan.prices import from_price_file

pytestmark = pytest.mark.e2e


def get(api, path: str) -> tuple[int, dict]:
    response = api.http.get(path)
    return response.status_code, json.loads(response.body)


def test_the_plan_names_the_commits_regions_and_critical_path_of_the_next_release(released):
    checksums, runtime, api = released

    status, plan = get(api, "/streams/developer/plan")

    assert status == 200, plan
    upcoming = plan["next_release"]
    assert (upcoming["outcome"], upcoming["version"]) == ("would-start", "43.7")
    assert {c["arch"]: c["checksum"] for c in upcoming["commits"]} == checksums
    assert all(c["signature"]["verified"] for c in upcoming["commits"])
    assert plan["arches"] == ["x86_64", "arm64"] and plan["regions"] == ["us-east-1", "us-east-2"]
    assert [r["ready"] for r in plan["preflight"]] == [True, True]
    timing = plan["timing"]
    path = [(step["stage"], step.get("where")) for step in timing["critical_path"]]
    assert path[0] == ("prepare", None) and ("copy", "us-east-2") in path and path[-1] == ("announce", None)
    assert timing["commit_to_public_median_s"] == sum(step["seconds"] for step in timing["critical_path"])
    assert timing["commit_to_public_median_s"] < timing["commit_to_public_p90_s"]
    copy = next(t for t in timing["stages"] if t["stage"] == "copy")
    assert (copy["median_s"], copy["source"]) == (DEFAULTS["copy"].median_s, DEFAULTS["copy"].source)
    assert [t["stage"] for t in timing["after_public"]] == ["marketplace"]
    text = render(plan)
    assert "next release: would-start" in text and "critical path: prepare -> build (" in text
    assert plan["cost"]["prices"] == {"source": "price-file", "as_of": "2026-12-01"}
    assert "cost (prices: price-file of 2026-12-01" in text


def test_the_plan_prices_the_release_at_its_median_times_and_the_stream_s_policy(released):
    _, runtime, api = released
    stream = load_streams().stream("developer")
    regions = ["us-east-1", "us-east-2", "us-west-1"]

    cost = get(api, "/streams/developer/plan?regions=3")[1]["cost"]

    durations = DEFAULT_MODEL.durations(stream.arches, regions, "us-east-1")
    prices = from_price_file(regions, [types[0] for types in stream.instance_types.values()])
    # every-commit: its pace is the releases of the last 30 days, this one counted: none yet, so 1
    expected = release_cost(stream, durations, regions, prices, UsageHints(every_commit_per_month=Decimal(1)))
    assert cost == expected.as_dict()
    assert cost["releases_per_month"] == "1.00" and cost["keep_releases"] == stream.retention.keep_releases
    snapshots = next(i for i in cost["kept_per_month"] if "us-west-1" in i["what"])
    assert Decimal(snapshots["quantity"]) == 2 * stream.retention.keep_releases * stream.disk_size_gib


def test_a_plan_for_more_regions_asks_preflight_of_each_and_names_why_one_would_be_skipped(released):
    _, runtime, api = released
    regions = first_regions("us-east-1", 5)
    client("ec2", regions[3]).enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")

    status, plan = get(api, "/streams/developer/plan?regions=5")

    assert status == 200 and plan["regions"] == regions
    skipped = {r["region"]: r["reason"] for r in plan["preflight"] if not r["ready"]}
    assert list(skipped) == [regions[3]] and "block public access" in skipped[regions[3]]


def test_a_region_the_account_has_not_opted_into_would_be_skipped(released):
    _, runtime, api = released
    region = next(r for r in first_regions("us-east-1", 34) if ec2_emulation.needs_opt_in(r))
    ec2_emulation.set_opt_in_status(region, ec2_emulation.NOT_OPTED_IN)

    plan = get(api, "/streams/developer/plan?regions=34")[1]

    assert "not opted into" in next(r["reason"] for r in plan["preflight"] if r["region"] == region)


def test_once_released_the_plan_says_so(released):
    _, runtime, api = released
    planned = get(api, "/streams/developer/plan")[1]["next_release"]["release_id"]
    answer = api.http.post("/releases", headers={"Content-Type": "application/json"},
                           body=json.dumps({"stream": "developer"}))
    started = json.loads(answer.body)
    assert answer.status_code == 202 and started["release_id"] == planned
    assert runtime.wait(started["execution_arn"]).status == "SUCCEEDED"

    plan = get(api, "/streams/developer/plan")[1]

    assert plan["next_release"]["outcome"] == "already-released"
    assert f"release {planned} is SUCCEEDED" in plan["next_release"]["reason"]


def test_a_repository_that_cannot_be_read_still_plans_time_and_says_why(runtime, api):
    status, plan = get(api, "/streams/developer/plan")

    assert status == 200
    assert plan["next_release"]["outcome"] == "unreadable" and "cannot be read" in plan["next_release"]["reason"]
    assert plan["next_release"]["commits"] == [] and plan["timing"]["commit_to_public_median_s"] > 0


@pytest.mark.parametrize("path, status, says", [
    ("/streams/nightly/plan", 404, "unknown stream 'nightly'"),
    ("/streams/developer/plan?regions=0", 400, "regions:"),
    ("/streams/developer/plan?regions=many", 400, "regions:"),
    ("/streams/developer/plan?regions=99", 400, "regions:"),
    ("/streams/developer/plan?colour=blue", 400, "colour:"),
])
def test_a_plan_asked_wrongly_is_a_4xx_naming_what(runtime, api, path, status, says):
    answered, body = get(api, path)
    assert answered == status and says in body["error"], body


def test_the_cli_prints_the_plan_and_its_json_is_the_api_s(released, capsys):
    _, runtime, _ = released
    with ServedApp() as served:
        assert main(["plan", "--stream", "developer", "--regions", "3", "--api", served.url]) == 0
        text = capsys.readouterr().out
        assert main(["plan", "--stream", "developer", "--api", served.url, "--output", "json"]) == 0
        as_json = json.loads(capsys.readouterr().out)
        assert main(["plan", "--stream", "nightly", "--api", served.url]) == 2
        refused = capsys.readouterr().err

    assert "plan of stream developer" in text and "next release: would-start" in text
    assert "regions: 3 (us-east-1, us-east-2, us-west-1)" in text and "preflight now: 3 ready, 0 would be skipped" in text
    assert "commit to public:" in text and "critical path: prepare -> build (" in text
    assert as_json["regions"] == ["us-east-1", "us-east-2"] and as_json["next_release"]["version"] == "43.7"
    assert "unknown stream 'nightly'" in refused
