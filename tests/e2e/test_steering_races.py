"""Steering a release while other things act on it: the rule on an execution's end arriving
after the API's abort, retention planned before a rerun, runs that ended before they claimed
the record, and what a rerun reused from a run that published."""

import threading

import pytest
from botocore.exceptions import ClientError
from chalice.test import Client

import functions.follow_copies as follow_copies_function
from app import app
from atomic_release.local import marketplace_catalog
from atomic_release.local.demo_repo import configuration_for
from atomic_release.local.region_faults import RegionFault
from atomic_release.local.runtime import ROOT, LocalRuntime
from atomic_release.local.simulator import Fault
from atomic_release.local.synthetic import synthetic_release
from chalicelib.api import maintainers
from chalicelib.aws.clients import client
from chalicelib.core.errors import PublishFailed
from chalicelib.core.tags import RELEASE
from chalicelib.stages.distribute import follow_copies
from chalicelib.store import records
from chalicelib.upkeep import retention, sweeper
from tests.conftest import DEVELOPER_REFS
from tests.e2e.test_maintainers_api import REGIONS, cleaned_up, commit_all, get, post, x86_64_step
from tests.e2e.test_marketplace_release import PRODUCTS
from tests.helpers import release_resources, wait_until

pytestmark = pytest.mark.e2e


def end_event(execution_arn: str) -> dict:
    """The "Execution Status Change" EventBridge delivers to the rule once the execution ended."""
    described = client("stepfunctions").describe_execution(executionArn=execution_arn)
    return {"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
            "detail": {key: described[key] for key in ("executionArn", "stateMachineArn", "name", "status", "input")}}


def test_the_rule_on_an_aborted_runs_end_leaves_the_rerun_that_followed_alone(api, held_runtime):
    started = held_runtime.start_release(synthetic_release("developer", "43.1", len(REGIONS)))
    release_id = started.release_id
    wait_until(lambda: x86_64_step(api, release_id, "qa") == "succeeded", "x86_64 through QA", started.execution_arn)
    assert post(api, f"/releases/{release_id}/abort")[0] == 202
    held_runtime.simulator.finish_hung_guests()
    cleaned_up(release_id)
    late_rule = end_event(started.execution_arn)   # delivered again, after the rerun below claimed the release
    status, rerun = post(api, f"/releases/{release_id}/retry")   # its arm64 builder is held too
    assert status == 202
    wait_until(lambda: records.get(release_id).execution_arn == rerun["execution_arn"]
               and x86_64_step(api, release_id, "qa") == "succeeded", "the rerun's x86_64 through QA",
               rerun["execution_arn"])
    before = release_resources(release_id, REGIONS)

    result = sweeper.on_execution_ended(late_rule)

    assert result["cleaned"] is False and "owned by" in result["reason"]
    record = records.get(release_id)
    assert (record.status, record.execution_arn) == ("RUNNING", rerun["execution_arn"])
    assert release_resources(release_id, REGIONS) == before
    held_runtime.simulator.finish_hung_guests()
    assert held_runtime.wait(rerun["execution_arn"]).status == "SUCCEEDED"


def test_the_rule_after_the_apis_abort_of_a_published_release_keeps_it_released():
    with LocalRuntime() as runtime:
        marketplace_catalog.hold(PRODUCTS["x86_64"])
        started = runtime.start_release(synthetic_release("stable", "43.20261125.3.0", 2))
        wait_until(lambda: (found := records.get(started.release_id)) and found.status == "PUBLISHED"
                   and "x86_64" in found.marketplace, "the release out, following its x86_64 change set",
                   started.execution_arn)
        runtime.abort(started.execution_arn)
        marketplace_catalog.let_go(PRODUCTS["x86_64"])

        result = sweeper.on_execution_ended(end_event(started.execution_arn))

        assert result["cleaned"] is False
        assert records.get(started.release_id).status == "PUBLISHED_WITH_ERRORS"


def _s3_down(*args, **kwargs):
    raise ClientError({"Error": {"Code": "InternalError", "Message": "S3 is down"}}, "PutObject")


def public_images_of(release_id: str) -> dict[str, list[str]]:
    return {region: [image["ImageId"] for image in client("ec2", region).describe_images(Owners=["self"], Filters=[
        {"Name": f"tag:{RELEASE}", "Values": [release_id]},
        {"Name": "is-public", "Values": ["true"]}])["Images"]] for region in REGIONS}


def test_a_rerun_failing_in_build_keeps_the_public_images_an_earlier_run_left(api, monkeypatch):
    """The first run fails in Announce before the stream metadata names it (once it does, the
    release is out, not FAILED): its images stay public, and the rerun reuses them by name."""
    with LocalRuntime() as runtime:
        monkeypatch.setattr("chalicelib.stages.announce.stream_metadata", _s3_down)
        started = runtime.start_release(synthetic_release("developer", "43.1", len(REGIONS)))
        assert runtime.wait(started.execution_arn).status == "FAILED"
        assert records.get(started.release_id).failed_stage == "announce"
        left = public_images_of(started.release_id)
        assert all(left.values()), left
        monkeypatch.undo()
        runtime.simulator.faults.append(Fault.parse("qa-fails:arm64"))

        status, rerun = post(api, f"/releases/{started.release_id}/retry")   # reuses those images by name
        assert status == 202 and runtime.wait(rerun["execution_arn"]).status == "FAILED"

        for region, images in left.items():
            for image in images:
                found = client("ec2", region).describe_images(ImageIds=[image])["Images"]
                assert found and found[0]["Public"], f"{region}: the earlier run's public {image} is gone"
        assert release_resources(started.release_id, REGIONS)["instances"] == []


def test_a_rerun_that_ended_before_it_claimed_the_record_does_not_block_the_next(api, monkeypatch):
    with LocalRuntime(faults=[Fault.parse("qa-fails:arm64")]) as runtime:
        started = runtime.start_release(synthetic_release("developer", "43.1", len(REGIONS)))
        runtime.wait(started.execution_arn)
        runtime.simulator.faults.clear()

        def throttled(*args, **kwargs):
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                              "PutItem")
        monkeypatch.setattr("chalicelib.store.records.claim_rerun", throttled)
        first = post(api, f"/releases/{started.release_id}/retry")[1]
        assert runtime.wait(first["execution_arn"]).status == "FAILED"
        refused = get(api, f"/releases/{started.release_id}")[1]
        monkeypatch.undo()

        status, second = post(api, f"/releases/{started.release_id}/retry")

        assert status == 202 and second["execution_arn"].endswith("-retry2")
        assert runtime.wait(second["execution_arn"]).status == "SUCCEEDED"
        assert records.get(started.release_id).rerun == 2
    prepare = next(s for s in refused["stages"] if s["name"] == "prepare")
    assert prepare["status"] == "failed" and "slow down" in prepare["reason"]   # its own cause, not the first run's


def slowed_copy_check(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """FollowCopies waits until let go: (entered, let_go)."""
    entered, let_go = threading.Event(), threading.Event()

    def slow(task):
        entered.set()
        let_go.wait(30)
        return follow_copies(task)
    monkeypatch.setattr(follow_copies_function, "follow_copies", slow)
    return entered, let_go


def test_a_fill_in_run_shows_the_regions_released_earlier(api, monkeypatch):
    with LocalRuntime(faults=[RegionFault.parse("copy-fails:us-east-2")]) as runtime:
        started = runtime.start_release(synthetic_release("developer", "43.1", len(REGIONS)))
        runtime.wait(started.execution_arn)
        runtime.region_faults.faults.clear()
        entered, let_go = slowed_copy_check(monkeypatch)
        fill = post(api, f"/releases/{started.release_id}/retry")[1]
        try:
            assert entered.wait(30)
            view = get(api, f"/releases/{started.release_id}")[1]
        finally:
            let_go.set()
            runtime.wait(fill["execution_arn"])

    regions = {r["region"]: r["status"] for r in view["regions"]}
    assert regions == {"us-east-1": "validated", "us-east-2": "copying", "us-west-1": "validated"}


def test_a_run_aborted_mid_copy_shows_no_region_still_copying(api, monkeypatch):
    with LocalRuntime() as runtime:
        entered, let_go = slowed_copy_check(monkeypatch)
        started = runtime.start_release(synthetic_release("developer", "43.1", len(REGIONS)))
        assert entered.wait(60)
        threading.Timer(1.0, let_go.set).start()

        status, _ = post(api, f"/releases/{started.release_id}/abort")
        assert cleaned_up(started.release_id)["cleaned"]
        view = get(api, f"/releases/{started.release_id}")[1]

        assert status == 202
        assert not release_resources(started.release_id, REGIONS)["images"]
    assert view["execution_status"] == "ABORTED"
    assert {r["status"] for r in view["regions"]} == {"not-run"}


def _validate_fails(task):
    raise PublishFailed("us-east-2: an image is not what was promised")


def test_retention_planned_before_a_rerun_claimed_the_release_leaves_it_alone(api, monkeypatch):
    with LocalRuntime() as runtime:
        monkeypatch.setattr("functions.validate.validate", _validate_fails)
        started = runtime.start_release(synthetic_release("developer", "43.1", len(REGIONS)))
        assert runtime.wait(started.execution_arn).status == "FAILED"
        monkeypatch.undo()
        plan = retention.plan("developer")
        assert [r.release_id for r in plan.retire] == [started.release_id]
        claim, applied = records.claim_rerun, {}

        def claim_then_retention_applies(*args, **kwargs):
            record = claim(*args, **kwargs)
            applied["result"] = retention.apply(plan)      # the daily run, a moment later
            return record
        monkeypatch.setattr("chalicelib.store.records.claim_rerun", claim_then_retention_applies)
        rerun = post(api, f"/releases/{started.release_id}/retry")[1]

        assert runtime.wait(rerun["execution_arn"]).status == "SUCCEEDED"
        assert records.get(started.release_id).status == "SUCCEEDED"
    assert applied["result"].retired == [] and applied["result"].deregistered == []
    assert applied["result"].skipped == [f"{started.release_id}: RUNNING since the plan (FAILED)"]


def test_a_retry_is_abortable_before_it_claimed_the_record(api, monkeypatch):
    with LocalRuntime(faults=[Fault.parse("qa-fails:arm64")]) as runtime:
        started = runtime.start_release(synthetic_release("developer", "43.1", len(REGIONS)))
        runtime.wait(started.execution_arn)
        claim, seen = records.claim_rerun, {}

        def aborted_first(*args, **kwargs):
            seen["abort"] = maintainers.abort_release(started.release_id)
            return claim(*args, **kwargs)
        monkeypatch.setattr("chalicelib.store.records.claim_rerun", aborted_first)
        rerun = post(api, f"/releases/{started.release_id}/retry")[1]
        finished = runtime.wait(rerun["execution_arn"])

    assert finished.status == "ABORTED"
    assert seen["abort"].release_id == started.release_id


def test_a_version_released_from_other_commits_is_refused_before_anything_starts(tmp_path, ostree_repo, served):
    config = configuration_for(None, "developer", served.url, 2, tmp_path, ostree_repo.trusted_keys)
    with LocalRuntime(config=config) as runtime, Client(app, project_dir=ROOT) as api:
        commit_all(ostree_repo, DEVELOPER_REFS, "43.1")
        first = post(api, "/releases", {"stream": "developer"})[1]
        assert runtime.wait(first["execution_arn"]).status == "SUCCEEDED"
        ostree_repo.commit(DEVELOPER_REFS["x86_64"], "43.1")        # a respin of x86_64, same version
        ostree_repo.update_summary()

        status, body = post(api, "/releases", {"stream": "developer", "version": "43.1"})

        assert status == 409
        assert f"is release {first['release_id']} (SUCCEEDED) of other commits" in body["error"]
        assert len(records.releases_of("developer")) == 1
