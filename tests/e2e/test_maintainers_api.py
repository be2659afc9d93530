"""The maintainers' API, route by route, against releases run locally: good input answers with
the release as it stands, bad input with a 4xx naming the field or the release's state; and
steering a release (retry, abort) leaves nothing of it behind."""

import json
import threading

import pytest
from botocore.exceptions import ReadTimeoutError
from chalice.test import Client

import functions.finalize
from app import app
from atomic_release.local.demo_repo import configuration_for
from atomic_release.local.region_faults import RegionFault
from atomic_release.local.runtime import ROOT, LocalRuntime
from atomic_release.local.simulator import Fault
from atomic_release.local.synthetic import synthetic_release
from chalicelib.api import release_view
from chalicelib.aws.clients import client
from chalicelib.core.config import DEFAULT_CONFIG
from chalicelib.models.abort import AbortRequest
from chalicelib.stages.announce import read_document
from chalicelib.store import records
from chalicelib.triggers import detect, starter
from chalicelib.upkeep import sweeper
from tests.conftest import DEVELOPER_REFS
from tests.helpers import nothing, release_resources, wait_until

pytestmark = pytest.mark.e2e
REGIONS = ["us-east-1", "us-east-2", "us-west-1"]
STAGES = ["prepare", "build", "preflight", "distribute", "validate", "announce", "marketplace", "finalize"]


def get(client: Client, path: str) -> tuple[int, dict]:
    response = client.http.get(path)
    return response.status_code, json.loads(response.body)


def post(client: Client, path: str, body: dict | str | None = None) -> tuple[int, dict]:
    raw = body if isinstance(body, str) else json.dumps(body or {})
    response = client.http.post(path, headers={"Content-Type": "application/json"}, body=raw)
    return response.status_code, json.loads(response.body)


def released(runtime: LocalRuntime, version: str) -> str:
    started = runtime.start_release(synthetic_release("developer", version, len(REGIONS)))
    runtime.wait(started.execution_arn)
    return started.release_id


def x86_64_step(client: Client, release_id: str, step: str) -> str | None:
    status, view = get(client, f"/releases/{release_id}")
    return next(a[step] for a in view["arches"] if a["arch"] == "x86_64") if status == 200 else None


@pytest.fixture
def partial_runtime():
    with LocalRuntime(faults=[RegionFault.parse("copy-fails:us-east-2")]) as runtime:
        yield runtime


# -- list ----------------------------------------------------------------------------------------

def test_releases_are_listed_newest_first_filtered_and_a_page_at_a_time(runtime, api, monkeypatch):
    ids = []
    for n in range(3):
        monkeypatch.setattr("chalicelib.store.records.now", lambda n=n: f"2026-11-2{n}T00:00:00+00:00")
        ids.append(released(runtime, f"43.{n}"))

    status, page = get(api, "/releases?limit=2")
    assert status == 200
    assert [r["release_id"] for r in page["releases"]] == [ids[2], ids[1]]
    status, rest = get(api, f"/releases?limit=2&next_token={page['next_token']}")
    assert [r["release_id"] for r in rest["releases"]] == [ids[0]] and "next_token" not in rest

    first = page["releases"][0]
    assert (first["stream"], first["version"], first["status"]) == ("developer", "43.2", "SUCCEEDED")
    assert first["regions"] == REGIONS and first["arches"] == ["arm64", "x86_64"]
    assert get(api, "/releases?stream=developer&status=SUCCEEDED")[1]["releases"][0]["release_id"] == ids[2]
    assert get(api, "/releases?stream=stable")[1]["releases"] == []
    assert get(api, "/releases?status=FAILED")[1]["releases"] == []


@pytest.mark.parametrize("query, field", [
    ("status=DONE", "status"), ("stream=nightly", "stream"), ("limit=0", "limit"), ("limit=101", "limit"),
    ("limit=many", "limit"), ("next_token=not-a-token", "next_token"), ("colour=blue", "colour"),
])
def test_a_malformed_filter_is_a_400_naming_the_field(runtime, api, query, field):
    status, body = get(api, f"/releases?{query}")
    assert status == 400
    assert f"{field}:" in body["error"], body


# -- show ----------------------------------------------------------------------------------------

def test_a_released_release_shows_every_stage_arch_and_region(runtime, api):
    release_id = released(runtime, "43.1")

    status, view = get(api, f"/releases/{release_id}")

    assert status == 200
    assert view["release"]["status"] == "SUCCEEDED" and view["execution_status"] == "SUCCEEDED"
    assert [(s["name"], s["status"]) for s in view["stages"]] == [(name, "succeeded") for name in STAGES]
    assert all(s["started_at"] and s["ended_at"] for s in view["stages"])
    record = records.get(release_id)
    for arch in view["arches"]:
        assert (arch["builder"], arch["image"], arch["qa"]) == ("succeeded", "succeeded", "succeeded")
        assert arch["image_id"] == record.images[arch["arch"]]["us-east-1"]
        assert {c["name"] for c in arch["qa_checks"]} == {"booted-commit", "system-state", "architecture"}
        assert arch["signature"]["status"] == "not-checked"   # a synthetic commit: no repository to read
    assert [r["region"] for r in view["regions"]] == REGIONS
    for region in view["regions"]:
        assert region["status"] == "validated"
        assert {a: c["image_id"] for a, c in region["images"].items()} == \
            {a: record.images[a][region["region"]] for a in ("arm64", "x86_64")}
        assert all(c["public"] for c in region["images"].values())
    assert [(r["kind"], r["status"]) for r in view["runs"]] == [("release", "SUCCEEDED")]
    assert {c["arch"]: c["status"] for c in view["marketplace"]} == {"arm64": "SUCCEEDED", "x86_64": "SUCCEEDED"}


def test_a_history_longer_than_the_view_reads_is_read_in_part_and_says_so(runtime, api, monkeypatch):
    release_id = released(runtime, "43.1")
    whole = get(api, f"/releases/{release_id}")[1]
    monkeypatch.setattr(release_view, "HISTORY_PAGE", 20)   # the run's first 20 events and its newest 20
    monkeypatch.setattr(release_view, "HISTORY_NEWEST_PAGES", 1)

    status, cut = get(api, f"/releases/{release_id}")

    assert status == 200 and (whole["history_truncated"], cut["history_truncated"]) == (False, True)
    assert cut["execution_status"] == "SUCCEEDED" and cut["release"] == whole["release"]
    stages = {stage["name"]: stage["status"] for stage in cut["stages"]}
    assert (stages["prepare"], stages["finalize"]) == ("succeeded", "succeeded")   # the first events, the newest
    assert cut["regions"] == whole["regions"]   # the release settled: the record says where each region stands


def test_a_failed_release_shows_the_stage_and_the_cause(api):
    with LocalRuntime(faults=[Fault.parse("qa-fails:arm64")]) as runtime:
        release_id = released(runtime, "43.1")

        view = get(api, f"/releases/{release_id}")[1]

    stages = {s["name"]: s for s in view["stages"]}
    assert stages["prepare"]["status"] == "succeeded"
    assert stages["build"]["status"] == "failed"
    assert "QAFailed" in stages["build"]["reason"] and "system-state" in stages["build"]["reason"]
    assert {stages[name]["status"] for name in STAGES[2:]} == {"not-run"}
    arches = {a["arch"]: a for a in view["arches"]}
    assert arches["arm64"]["qa"] == "failed" and "system-state" in arches["arm64"]["failure"]
    assert [c["name"] for c in arches["arm64"]["qa_checks"] if not c["passed"]] == ["system-state"]
    assert arches["x86_64"]["qa"] == "succeeded" and not arches["x86_64"]["failure"]
    assert {r["status"] for r in view["regions"]} == {"not-run"}
    assert view["release"]["failure"] == stages["build"]["reason"]


def test_a_partial_release_shows_the_region_that_failed_and_why(partial_runtime, api):
    release_id = released(partial_runtime, "43.1")

    view = get(api, f"/releases/{release_id}")[1]

    regions = {r["region"]: r for r in view["regions"]}
    assert view["release"]["status"] == "PARTIAL"
    assert (regions["us-east-2"]["status"], regions["us-east-2"]["stage"]) == ("failed", "copy")
    assert regions["us-east-2"]["reason"] and regions["us-east-2"]["images"] == {} or \
        all(not c["public"] for c in regions["us-east-2"]["images"].values())
    assert {regions[r]["status"] for r in ("us-east-1", "us-west-1")} == {"validated"}
    assert list(view["release"]["missing_regions"]) == ["us-east-2"]


def test_a_running_release_shows_where_each_architecture_stands(api, held_runtime):
    release_id = building(api, held_runtime)

    view = get(api, f"/releases/{release_id}")[1]

    stages = {s["name"]: s["status"] for s in view["stages"]}
    assert view["execution_status"] == "RUNNING"
    assert (stages["prepare"], stages["build"], stages["distribute"]) == ("succeeded", "running", "pending")
    arches = {a["arch"]: a for a in view["arches"]}
    assert arches["arm64"]["builder"] == "running" and arches["arm64"]["image"] == "pending"
    assert {r["status"] for r in view["regions"]} == {"planned"}


def test_a_run_refused_before_it_made_a_record_shows_why(runtime, api):
    release = synthetic_release("developer", "43.1", len(REGIONS)).model_copy(update={"regions": ["eu-west-1"]})
    arn = client("stepfunctions").start_execution(stateMachineArn=starter.state_machine_arn(),
                                                  name=release.execution_name,
                                                  input=release.model_dump_json())["executionArn"]
    runtime.wait(arn)

    status, view = get(api, f"/releases/{release.release_id}")

    assert status == 200
    assert (view["release"]["status"], view["execution_status"]) == ("FAILED", "FAILED")
    assert "prepare failed: InvalidReleaseInput: regions: must start with the stream's base region" in \
        view["release"]["failure"]
    assert {s["name"]: s["status"] for s in view["stages"]}["prepare"] == "failed"
    assert records.get(release.release_id) is None


def test_an_unknown_release_is_a_404_naming_it(runtime, api):
    for path in ("/releases/developer-nope-000000000000", "/releases/developer-nope-000000000000/retry",
                 "/releases/developer-nope-000000000000/abort"):
        status, body = (get if path.count("/") == 2 else post)(api, path)
        assert status == 404, path
        assert "developer-nope-000000000000" in body["error"]


def test_the_page_and_its_assets_are_served_and_nothing_else_is(api):
    page, script, style = api.http.get("/"), api.http.get("/assets/app.js"), api.http.get("/assets/app.css")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'src="assets/app.js"' in page.body.decode()
    assert (script.status_code, style.status_code) == (200, 200)
    assert script.headers["Content-Type"].startswith("text/javascript")
    for missing in ("/assets/nope.js", "/assets/__init__.py", "/assets/..%2Fstreams.json"):
        answer = api.http.get(missing)
        assert answer.status_code == 404 and "no asset" in json.loads(answer.body)["error"], missing


# -- retry and abort -----------------------------------------------------------------------------

def test_retry_of_a_failed_release_reruns_it_from_the_start(api):
    with LocalRuntime(faults=[Fault.parse("qa-fails:arm64")]) as runtime:
        release_id = released(runtime, "43.1")
        assert nothing(release_resources(release_id, REGIONS))
        runtime.simulator.faults.clear()   # the QA problem is fixed

        status, started = post(api, f"/releases/{release_id}/retry")
        assert status == 202
        assert (started["kind"], started["outcome"]) == ("rerun", "started")
        assert started["execution_arn"].endswith(f"{release_id}-retry1")
        at_once = get(api, f"/releases/{release_id}")[1]
        assert at_once["runs"][-1]["kind"] == "rerun"   # followed before its Prepare claims the record
        assert at_once["execution_status"] == at_once["runs"][-1]["status"]
        assert runtime.wait(started["execution_arn"]).status == "SUCCEEDED"

        record = records.get(release_id)
        assert (record.status, record.rerun, record.failure, record.regions) == ("SUCCEEDED", 1, None, REGIONS)
        view = get(api, f"/releases/{release_id}")[1]
        assert [(r["kind"], r["status"]) for r in view["runs"]] == [("release", "FAILED"), ("rerun", "SUCCEEDED")]
        assert {s["status"] for s in view["stages"]} == {"succeeded"}
        again = post(api, f"/releases/{release_id}/retry")
        assert again[0] == 409 and "SUCCEEDED" in again[1]["error"]


def test_every_run_links_to_its_execution_in_the_step_functions_console_of_its_region(api):
    """There a failed state's input, error and cause are one click away (the graph and the events)."""
    with LocalRuntime(faults=[Fault.parse("qa-fails:arm64")]) as runtime:
        release_id = released(runtime, "43.1")
        runtime.simulator.faults.clear()
        rerun = post(api, f"/releases/{release_id}/retry")[1]["execution_arn"]
        runtime.wait(rerun)

        view = get(api, f"/releases/{release_id}")[1]

    assert [run["kind"] for run in view["runs"]] == ["release", "rerun"] and view["runs"][1]["execution_arn"] == rerun
    for run in view["runs"]:
        region = run["execution_arn"].split(":")[3]
        assert run["console_url"] == (f"https://{region}.console.aws.amazon.com/states/home?region={region}"
                                      f"#/v2/executions/details/{run['execution_arn']}")


def test_retry_of_a_partial_release_fills_in_the_missing_region(partial_runtime, api):
    release_id = released(partial_runtime, "43.1")
    partial_runtime.region_faults.faults.clear()

    status, started = post(api, f"/releases/{release_id}/retry")
    assert status == 202 and (started["kind"], started["outcome"]) == ("fill-in", "started")
    assert partial_runtime.wait(started["execution_arn"]).status == "SUCCEEDED"

    record = records.get(release_id)
    assert record.status == "SUCCEEDED" and record.missing_regions == {}
    view = get(api, f"/releases/{release_id}")[1]
    assert [(r["kind"], r["status"]) for r in view["runs"]] == [("release", "SUCCEEDED"), ("fill-in", "SUCCEEDED")]
    assert {r["region"]: r["status"] for r in view["regions"]} == {region: "validated" for region in REGIONS}
    assert view["stages"][1] == {**view["stages"][1], "name": "build", "status": "not-run"}


def without_marketplace(tmp_path) -> str:
    """The shipped streams, the developer stream publishing no Marketplace version."""
    config = json.loads(DEFAULT_CONFIG.read_text())
    config["streams"]["developer"]["marketplace"]["publish"] = False
    path = tmp_path / "streams.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_retry_of_a_release_published_with_errors_and_missing_nothing_runs_finalize_again(api, monkeypatch,
                                                                                          tmp_path):
    """A stream without Marketplace whose RecordPublication failed misses no region: the retry is a
    fill-in run all the same, which records the release as it settled."""
    def broken(event):
        raise RuntimeError("the record could not be written")

    with LocalRuntime(config=without_marketplace(tmp_path)) as runtime:
        monkeypatch.setattr(functions.finalize, "finalize", broken)
        release_id = released(runtime, "43.1")
        record = records.get(release_id)
        assert (record.status, record.missing_regions, record.marketplace_arches) == ("PUBLISHED_WITH_ERRORS", {}, [])
        monkeypatch.undo()

        status, started = post(api, f"/releases/{release_id}/retry")
        assert status == 202 and (started["kind"], started["outcome"]) == ("fill-in", "started"), started
        assert runtime.wait(started["execution_arn"]).status == "SUCCEEDED"

        record = records.get(release_id)
        assert (record.status, record.failed_stage, record.failure) == ("SUCCEEDED", None, None)
        assert set(record.images["x86_64"]) == set(REGIONS)
        again = post(api, f"/releases/{release_id}/retry")
        assert again[0] == 409 and "SUCCEEDED" in again[1]["error"]


def building(api: Client, runtime: LocalRuntime) -> str:
    """A release whose arm64 builder is at work while x86_64 is built and through QA."""
    started = runtime.start_release(synthetic_release("developer", "43.1", len(REGIONS)))
    wait_until(lambda: x86_64_step(api, started.release_id, "qa") == "succeeded",
               "x86_64 through QA while arm64 builds", started.execution_arn)
    return started.release_id


def test_retry_of_a_running_release_is_a_409_and_starts_nothing(api, held_runtime):
    release_id = building(api, held_runtime)

    status, body = post(api, f"/releases/{release_id}/retry")

    assert status == 409 and "RUNNING" in body["error"]
    assert records.get(release_id).rerun == 0


def cleaned_up(release_id: str) -> dict:
    """The record's cleanup once the rule on the aborted run's end wrote it."""
    return wait_until(lambda: (record := records.get(release_id)) and record.cleanup
                      and record.cleanup.model_dump(), "the cleanup after the abort in the record")


@pytest.fixture
def cleanup_threads(monkeypatch) -> list[str]:
    """The thread of every cleanup of a release's resources in a region."""
    threads: list[str] = []
    remove = sweeper.remove_release_resources

    def recorded(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return remove(*args, **kwargs)

    monkeypatch.setattr(sweeper, "remove_release_resources", recorded)
    return threads


def test_abort_answers_202_at_once_and_the_end_of_the_run_cleans_up_into_the_record(api, held_runtime,
                                                                                    cleanup_threads):
    release_id = building(api, held_runtime)
    run = records.get(release_id).execution_arn

    status, aborted = post(api, f"/releases/{release_id}/abort", {"reason": "the commit is the wrong one"})
    request_thread = threading.current_thread().name   # the test client serves the request in this thread

    assert status == 202, aborted
    assert aborted["abort"] == {**aborted["abort"], "execution_arn": run, "reason": "the commit is the wrong one",
                                "stage": "build"}
    assert aborted["recorded"] is True
    held_runtime.simulator.finish_hung_guests()
    cleanup = cleaned_up(release_id)
    assert request_thread not in cleanup_threads and cleanup_threads   # cleaned up after, not in the request
    assert (cleanup["execution_arn"], cleanup["status"], cleanup["cleaned"]) == (run, "ABORTED", True)
    assert cleanup["removed"]["images"] and cleanup["removed"]["instances"]
    assert held_runtime.wait(run).status == "ABORTED"
    assert nothing(release_resources(release_id, REGIONS))
    record = records.get(release_id)
    assert (record.status, record.failed_stage) == ("ABORTED", "build")
    assert "aborted in build: the commit is the wrong one" in record.failure

    view = get(api, f"/releases/{release_id}")[1]
    assert view["release"]["abort"] == aborted["abort"] and view["release"]["cleanup"] == cleanup
    stages = {stage["name"]: stage for stage in view["stages"]}
    assert stages["build"]["status"] == "failed" and "the commit is the wrong one" in stages["build"]["reason"]


def execution_status(arn: str) -> str:
    return client("stepfunctions").describe_execution(executionArn=arn)["status"]


def test_a_repeated_abort_answers_as_the_first_and_stops_no_ended_run_again(api, held_runtime, monkeypatch):
    release_id = building(api, held_runtime)
    run = records.get(release_id).execution_arn
    first = post(api, f"/releases/{release_id}/abort", {"reason": "first"})
    assert execution_status(run) == "ABORTED"   # StopExecution answers once the run ended
    stops = []
    monkeypatch.setattr("chalicelib.aws.stepfunctions.stop_execution", lambda *args, **kwargs: stops.append(args))

    at_once = post(api, f"/releases/{release_id}/abort", {"reason": "second"})
    held_runtime.simulator.finish_hung_guests()
    cleaned_up(release_id)
    later = post(api, f"/releases/{release_id}/abort")

    assert first[0] == at_once[0] == later[0] == 202
    assert first[1]["abort"] == at_once[1]["abort"] == later[1]["abort"]
    assert later[1]["cleanup"] == records.get(release_id).cleanup.model_dump() and later[1]["status"] == "ABORTED"
    assert stops == []


def test_an_abort_recorded_whose_stop_was_lost_is_stopped_when_asked_again(api, held_runtime):
    release_id = building(api, held_runtime)
    run = records.get(release_id).execution_arn
    lost = AbortRequest(execution_arn=run, reason="first", stage="build", requested_at=records.now())
    assert records.mark_abort_requested(release_id, lost)   # the Lambda ended before its StopExecution

    status, again = post(api, f"/releases/{release_id}/abort", {"reason": "second"})

    assert status == 202 and again["abort"] == lost.model_dump()
    assert execution_status(run) == "ABORTED"
    held_runtime.simulator.finish_hung_guests()
    assert cleaned_up(release_id)["execution_arn"] == run
    assert "aborted in build: first" in records.get(release_id).failure


def test_an_abort_whose_stop_got_no_answer_is_a_503_and_stops_the_run_when_asked_again(api, held_runtime,
                                                                                      monkeypatch):
    release_id = building(api, held_runtime)
    run = records.get(release_id).execution_arn

    def unreachable(*args, **kwargs):
        raise ReadTimeoutError(endpoint_url="https://states.us-east-1.amazonaws.com")

    with monkeypatch.context() as patched:
        patched.setattr("chalicelib.aws.stepfunctions.stop_execution", unreachable)
        status, refused = post(api, f"/releases/{release_id}/abort", {"reason": "first"})

    assert status == 503 and "could not be reached" in refused["error"], refused
    assert records.get(release_id).abort is None and execution_status(run) == "RUNNING"
    status, aborted = post(api, f"/releases/{release_id}/abort", {"reason": "second"})
    assert status == 202 and aborted["abort"]["reason"] == "second"
    assert execution_status(run) == "ABORTED"
    held_runtime.simulator.finish_hung_guests()
    assert cleaned_up(release_id)["execution_arn"] == run


@pytest.mark.parametrize("body", ['{"reason": ""}', '{"reason": "' + "x" * 501 + '"}', '{"why": "x"}', "[1]"])
def test_a_malformed_abort_is_a_400_and_stops_nothing(api, held_runtime, body):
    release_id = building(api, held_runtime)

    status, answer = post(api, f"/releases/{release_id}/abort", body)

    assert status == 400 and "body" in answer["error"], answer
    assert records.get(release_id).abort is None
    assert x86_64_step(api, release_id, "qa") == "succeeded" and get(api, f"/releases/{release_id}")[1][
        "execution_status"] == "RUNNING"


def test_an_aborted_release_can_be_retried_once_cleaned_up(api, held_runtime):
    release_id = building(api, held_runtime)
    assert post(api, f"/releases/{release_id}/abort")[0] == 202
    held_runtime.simulator.finish_hung_guests()
    held_runtime.simulator.faults.clear()
    cleaned_up(release_id)

    status, rerun = post(api, f"/releases/{release_id}/retry")

    assert status == 202 and rerun["kind"] == "rerun"
    assert held_runtime.wait(rerun["execution_arn"]).status == "SUCCEEDED"
    record = records.get(release_id)
    assert (record.status, record.abort, record.cleanup) == ("SUCCEEDED", None, None)
    assert [r["status"] for r in get(api, f"/releases/{release_id}")[1]["runs"]] == ["ABORTED", "SUCCEEDED"]


# -- trigger -------------------------------------------------------------------------------------

STABLE_REFS = {"x86_64": "fedora/x86_64/coreos/stable", "arm64": "fedora/aarch64/coreos/stable"}


@pytest.fixture
def both_streams(tmp_path, ostree_repo, served):
    """The developer and the stable stream reading one real repository on 127.0.0.1."""
    (tmp_path / "developer").mkdir()
    developer = configuration_for(None, "developer", served.url, 2, tmp_path / "developer", ostree_repo.trusted_keys)
    config = configuration_for(str(developer), "stable", served.url, 2, tmp_path, ostree_repo.trusted_keys)
    with LocalRuntime(config=config) as runtime, Client(app, project_dir=ROOT) as api:
        yield ostree_repo, runtime, api


def commit_all(repo, refs: dict[str, str], version: str) -> dict[str, str]:
    checksums = {arch: repo.commit(ref, version) for arch, ref in refs.items()}
    repo.update_summary()
    return checksums


@pytest.fixture
def signatures_not_required(tmp_path, ostree_repo, served):
    """The developer stream reading a real repository signed by the tests' key, which it trusts,
    without requiring signatures."""
    path = configuration_for(None, "developer", served.url, 2, tmp_path, ostree_repo.trusted_keys)
    raw = json.loads(path.read_text())
    raw["streams"]["developer"]["signatures"]["required"] = False
    path.write_text(json.dumps(raw))
    with LocalRuntime(config=path) as runtime, Client(app, project_dir=ROOT) as api:
        yield ostree_repo, runtime, api


def test_a_release_shows_who_signed_each_commit_and_which_went_out_unsigned(signatures_not_required, signing_key):
    repo, runtime, api = signatures_not_required
    repo.commit(DEVELOPER_REFS["x86_64"], "43.1")
    repo.commit(DEVELOPER_REFS["arm64"], "43.1", signed=False)
    repo.update_summary()
    started = detect.poll("developer")
    assert started.outcome == "started", started.reason
    assert runtime.wait(started.execution_arn).status == "SUCCEEDED"

    record = records.get(started.release_id)
    assert record.signatures_required is False
    assert record.commits["x86_64"].signature.signed_by == signing_key.fingerprint
    assert not record.commits["arm64"].signature.verified
    status, view = get(api, f"/releases/{started.release_id}")
    assert status == 200 and view["release"]["signatures_required"] is False
    signatures = {arch["arch"]: arch["signature"] for arch in view["arches"]}
    assert signatures["x86_64"] == {"status": "signed", "text": f"signed by {signing_key.fingerprint}",
                                    "signed_by": signing_key.fingerprint, "signers": [signing_key.fingerprint],
                                    "reason": f"signed by {signing_key.fingerprint}"}
    unsigned = "the commit has no detached metadata: it is not signed"
    assert signatures["arm64"] == {"status": "unsigned", "signers": [], "reason": unsigned,
                                   "text": f"unsigned: {unsigned} (released unsigned: stream developer does not "
                                           "require signatures)"}
    document = read_document("streams/developer/releases/43.1.json")
    assert document["architectures"]["x86_64"]["commit-signature"]["signed-by"] == signing_key.fingerprint
    assert document["architectures"]["aarch64"]["commit-signature"] == {
        "verified": False, "signed-by": None, "signers": [], "reason": unsigned}


def test_a_maintainer_releases_a_stream_now_whatever_its_cadence(both_streams):
    repo, runtime, api = both_streams
    checksums = commit_all(repo, STABLE_REFS, "43.20261126.3.0")

    status, started = post(api, "/releases", {"stream": "stable"})

    assert status == 202
    assert (started["outcome"], started["version"]) == ("started", "43.20261126.3.0")
    assert runtime.wait(started["execution_arn"]).status == "SUCCEEDED"
    record = records.get(started["release_id"])
    assert record.trigger == "api"
    assert {arch: commit.checksum for arch, commit in record.commits.items()} == checksums
    again = post(api, "/releases", {"stream": "stable"})
    assert again[0] == 409 and again[1]["outcome"] == "already-released"


def test_an_older_version_is_found_down_each_ref(both_streams):
    repo, runtime, api = both_streams
    older = commit_all(repo, DEVELOPER_REFS, "43.1")
    commit_all(repo, DEVELOPER_REFS, "43.2")
    commit_all(repo, DEVELOPER_REFS, "43.3")

    status, started = post(api, "/releases", {"stream": "developer", "version": "43.1"})

    assert status == 202 and started["version"] == "43.1"
    runtime.wait(started["execution_arn"])
    record = records.get(started["release_id"])
    assert {arch: commit.checksum for arch, commit in record.commits.items()} == older


def test_a_version_no_ref_has_is_a_422_naming_the_refs(both_streams):
    repo, _, api = both_streams
    commit_all(repo, DEVELOPER_REFS, "43.1")
    repo.commit(DEVELOPER_REFS["x86_64"], "43.2")
    repo.update_summary()

    status, body = post(api, "/releases", {"stream": "developer", "version": "43.2"})

    assert status == 422
    assert "43.2" in body["error"] and DEVELOPER_REFS["arm64"] in body["error"]
    assert DEVELOPER_REFS["x86_64"] not in body["error"]
    waiting = post(api, "/releases", {"stream": "developer"})
    assert waiting[0] == 409 and waiting[1]["outcome"] == "waiting" and "arm64" in waiting[1]["reason"]


@pytest.mark.parametrize("body, field", [
    ("{not json", "body: not JSON"), ('["developer"]', "body: must be a JSON object"), ({}, "stream"),
    ({"stream": "nightly"}, "stream"), ({"stream": "developer", "version": "43 1"}, "version"),
    ({"stream": "developer", "colour": "blue"}, "colour"),
])
def test_a_malformed_release_request_is_a_400_naming_the_field(runtime, api, body, field):
    status, answer = post(api, "/releases", body)
    assert status == 400
    assert field in answer["error"], answer


def test_a_stream_whose_repository_is_down_is_a_502(tmp_path):
    nothing_listens = "http://127.0.0.1:9/"
    config = configuration_for(None, "developer", nothing_listens, 2, tmp_path)
    with LocalRuntime(config=config), Client(app, project_dir=ROOT) as api:
        status, body = post(api, "/releases", {"stream": "developer"})

    assert status == 502
    assert body["error"].startswith(f"{nothing_listens}summary: ConnectionError")
