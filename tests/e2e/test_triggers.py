"""Every way in, through the Chalice app: the webhook, EventBridge events, the poller; all
converge on one start, so one commit is released once."""

import itertools
import time
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from atomic_release.local.repo_server import RepoServer
from chalicelib.core.errors import PartlyFailed
from chalicelib.triggers import detect, webhook
from tests.conftest import DEVELOPER_REFS
from tests.e2e.conftest import executions
from tests.webhook_requests import announcement, signed

pytestmark = pytest.mark.e2e
ROOT = str(Path(__file__).resolve().parents[2])


def test_webhook_accepts_a_signed_announcement_and_starts_the_release(released):
    checksums, runtime, chalice = released

    answer = chalice.http.post("/hooks/ostree", **signed(announcement(checksums), "d-1"))

    assert answer.status_code == 202
    assert answer.json_body["outcome"] == "started"
    assert answer.json_body["release_id"].startswith("developer-43_7-")
    assert runtime.wait(answer.json_body["execution_arn"]).status == "SUCCEEDED"
    again = chalice.http.post("/hooks/ostree", **signed(announcement(checksums), "d-2"))
    assert again.status_code == 409
    assert (again.json_body["outcome"], again.json_body["release_id"]) == ("already-released",
                                                                        answer.json_body["release_id"])


def test_a_redelivery_gets_the_first_answer_and_starts_nothing_more(released):
    checksums, _, chalice = released
    first = chalice.http.post("/hooks/ostree", **signed(announcement(checksums), "d-1"))

    replay = chalice.http.post("/hooks/ostree", **signed(announcement(checksums), "d-1"))

    assert (first.status_code, first.json_body["outcome"]) == (202, "started")
    assert (replay.status_code, replay.json_body) == (first.status_code, first.json_body)
    assert len(executions()) == 1


@pytest.mark.parametrize(("tamper", "reason"), [
    (lambda r: r["headers"].pop(webhook.SIGNATURE_HEADER), f"missing {webhook.SIGNATURE_HEADER} header"),
    (lambda r: r["headers"].pop(webhook.TIMESTAMP_HEADER), f"missing {webhook.TIMESTAMP_HEADER} header"),
    (lambda r: r["headers"].pop(webhook.ID_HEADER), f"missing {webhook.ID_HEADER} header"),
    (lambda r: r.update(body=r["body"].replace(b"developer", b"developes")), "signature does not match the body"),
    (lambda r: r["headers"].update({webhook.SIGNATURE_HEADER: "v1," + "A" * 43 + "="}),
     "signature does not match the body"),
    (lambda r: r["headers"].update({webhook.SIGNATURE_HEADER: r["headers"][webhook.SIGNATURE_HEADER].replace("v1,", "v2,")}),
     "signature does not match the body"),
])
def test_a_bad_or_missing_signature_is_refused(released, tamper, reason):
    checksums, _, chalice = released
    request = signed(announcement(checksums), "d-1")
    tamper(request)

    answer = chalice.http.post("/hooks/ostree", **request)

    assert (answer.status_code, answer.json_body["error"]) == (401, reason)
    assert executions() == []


def test_a_captured_request_resent_under_a_new_delivery_id_is_refused(released):
    checksums, _, chalice = released
    request = signed(announcement(checksums), "d-1")
    chalice.http.post("/hooks/ostree", **request)
    request["headers"][webhook.ID_HEADER] = "d-2"

    replay = chalice.http.post("/hooks/ostree", **request)

    assert (replay.status_code, replay.json_body["error"]) == (401, "signature does not match the body")


def test_a_delivery_that_failed_on_our_side_may_be_sent_again(developer_repo):
    repo, server, runtime = developer_repo
    checksums = {arch: repo.commit(ref, "43.8") for arch, ref in DEVELOPER_REFS.items()}
    repo.update_summary()
    request = signed(announcement(checksums), "d-1")
    with Client(app, project_dir=ROOT) as chalice:
        server.__exit__()  # the repository is unreachable for a moment
        first = chalice.http.post("/hooks/ostree", **request)
        with RepoServer(repo.path, port=int(server.url.rsplit(":", 1)[1].strip("/"))):
            again = chalice.http.post("/hooks/ostree", **request)

    assert first.status_code == 502
    assert again.status_code == 202
    runtime.wait(again.json_body["execution_arn"])


def test_commits_whose_version_makes_no_release_are_refused_with_the_reason(developer_repo):
    repo, _, _ = developer_repo
    checksums = {arch: repo.commit(ref, "43.9+local build") for arch, ref in DEVELOPER_REFS.items()}
    repo.update_summary()
    with Client(app, project_dir=ROOT) as chalice:
        answer = chalice.http.post("/hooks/ostree", **signed(announcement(checksums), "d-1"))

    assert answer.status_code == 422
    assert "make no release: release: version: String should match pattern" in answer.json_body["error"]
    with pytest.raises(PartlyFailed, match="make no release"):
        detect.poll_all()
    assert executions() == []


def test_a_stale_timestamp_is_refused_even_when_signed(released):
    checksums, _, chalice = released

    answer = chalice.http.post("/hooks/ostree", **signed(announcement(checksums), "d-1", int(time.time()) - 301))

    assert answer.status_code == 401
    assert "not within 5 minutes" in answer.json_body["error"]


def test_a_signature_with_another_key_is_refused(released):
    checksums, _, chalice = released
    answer = chalice.http.post("/hooks/ostree", **signed(announcement(checksums), "d-1",
                                                         secret="whsec_Z3Vlc3NlZCBieSBzb21lb25lIGVsc2U="))
    assert answer.status_code == 401


@pytest.mark.parametrize(("body", "status", "reason"), [
    (b"{not json", 400, "body: not JSON (Expecting property name"),
    ({"stream": "developer"}, 400, "body: commits: Field required"),
    ({"stream": "developer", "commits": {"x86_64": {"ref": DEVELOPER_REFS["x86_64"], "checksum": "abc"}}}, 400,
     "body: commits.x86_64.checksum: String should match pattern"),
    ({"stream": "nightly", "commits": {"x86_64": {"ref": "r", "checksum": "a" * 64}}}, 422, "unknown stream 'nightly'"),
    ({"stream": "developer", "commits": {"ppc64le": {"ref": "r", "checksum": "a" * 64}}}, 422,
     "commits.ppc64le: unsupported architecture 'ppc64le'"),
    ({"stream": "developer", "commits": {"x86_64": {"ref": "fedora/x86_64/coreos/stable", "checksum": "a" * 64}}},
     422, "commits.x86_64.ref: 'fedora/x86_64/coreos/stable' is not stream developer's ref"),
    ({"stream": "developer", "commits": {"aarch64": {"ref": DEVELOPER_REFS["arm64"], "checksum": "a" * 64}}}, 422,
     f"{DEVELOPER_REFS['arm64']} in http://127.0.0.1:"),
])
def test_bad_announcements_are_refused_naming_what_is_wrong(released, body, status, reason):
    _, _, chalice = released

    answer = chalice.http.post("/hooks/ostree", **signed(body, "d-1"))

    assert answer.status_code == status
    assert reason in answer.json_body["error"]
    assert executions() == []


def pungi_event(chalice, arch: str, ref: str, commitid: str) -> dict:
    return chalice.events.generate_cw_event(
        source="org.fedoraproject", detail_type="org.fedoraproject.prod.pungi.compose.ostree",
        detail={"ref": ref, "commitid": commitid, "arch": arch, "compose_id": "Fedora-43-20261125.n.0",
                "location": "https://kojipkgs.example/compose", "variant": "CoreOS", "release_version": "43"},
        resources=[])


def test_a_pungi_ostree_event_starts_the_release(released):
    checksums, runtime, chalice = released

    result = chalice.lambda_.invoke("pungi_ostree_commit",
                                    pungi_event(chalice, "aarch64", DEVELOPER_REFS["arm64"], checksums["arm64"])).payload

    assert result["outcome"] == "considered"
    assert result["decision"]["outcome"] == "started"
    assert runtime.wait(result["decision"]["execution_arn"]).status == "SUCCEEDED"


@pytest.mark.parametrize(("arch", "ref", "commitid", "reason"), [
    ("ppc64le", "fedora/ppc64le/coreos/testing-devel", "a" * 64, "unsupported architecture 'ppc64le'"),
    ("x86_64", "fedora/x86_64/iot", "a" * 64, "no stream builds ref 'fedora/x86_64/iot'"),
    ("x86_64", DEVELOPER_REFS["x86_64"], "a" * 64, "NotTheHead"),
])
def test_an_event_that_does_not_fit_is_dropped_with_the_reason(released, arch, ref, commitid, reason):
    _, _, chalice = released

    result = chalice.lambda_.invoke("pungi_ostree_commit", pungi_event(chalice, arch, ref, commitid)).payload

    assert result["outcome"] == "dropped"
    assert reason in result["reason"]
    assert executions() == []


def test_a_malformed_event_is_dropped(released):
    _, _, chalice = released
    event = chalice.events.generate_cw_event(source="org.fedoraproject",
                                             detail_type="org.fedoraproject.prod.pungi.compose.ostree",
                                             detail={"ref": DEVELOPER_REFS["x86_64"]}, resources=[])

    result = chalice.lambda_.invoke("pungi_ostree_commit", event).payload

    assert result["outcome"] == "dropped"
    assert "detail.commitid: Field required" in result["reason"]


@pytest.mark.parametrize(("state", "result", "outcome"), [
    ("FINISHED", "SUCCESS", "considered"), ("RUNNING", None, "dropped"), ("FINISHED", "FAILURE", "dropped")])
def test_coreos_build_state_changes_start_only_finished_builds(released, state, result, outcome):
    _, runtime, chalice = released
    event = chalice.events.generate_cw_event(
        source="org.fedoraproject", detail_type="org.fedoraproject.prod.coreos.build.state.change",
        detail={"build_id": "43.7", "basearch": "x86_64", "stream": "developer", "state": state, "result": result,
                "build_dir": "builds/43.7/x86_64"}, resources=[])

    handled = chalice.lambda_.invoke("coreos_build_state", event).payload

    assert handled["outcome"] == outcome
    assert len(executions()) == (1 if outcome == "considered" else 0)
    if outcome == "considered":
        runtime.wait(handled["decision"]["execution_arn"])


@pytest.mark.parametrize("order", list(itertools.permutations(["webhook", "event", "poller"])))
def test_the_same_commit_announced_every_way_is_released_once(released, order):
    checksums, runtime, chalice = released
    ways = {
        "webhook": lambda: chalice.http.post("/hooks/ostree", **signed(announcement(checksums), "d-" + "-".join(order))),
        "event": lambda: chalice.lambda_.invoke(
            "pungi_ostree_commit", pungi_event(chalice, "x86_64", DEVELOPER_REFS["x86_64"], checksums["x86_64"])),
        "poller": lambda: detect.poll("developer"),
    }

    for way in order:
        ways[way]()

    (execution,) = executions()
    assert runtime.wait(execution["executionArn"]).status == "SUCCEEDED"
