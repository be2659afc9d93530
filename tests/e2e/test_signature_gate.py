"""Only signed commits ship: a commit not signed by a key its stream trusts starts nothing, through
every way in (poller, webhook, Fedora's events, the cadence, the API), and says why."""

import json
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from atomic_release.local.demo_repo import configuration_for
from atomic_release.local.region_faults import parse_fault
from atomic_release.local.runtime import LocalRuntime
from atomic_release.local.signing import temporary_key
from chalicelib.store import records, state
from chalicelib.triggers import detect, trust
from tests.conftest import DEVELOPER_REFS, require_gpg_cli
from tests.e2e.conftest import executions
from tests.webhook_requests import announcement, signed

pytestmark = pytest.mark.e2e
ROOT = str(Path(__file__).resolve().parents[2])
VERSION = "43.9"


def nothing_started() -> None:
    assert executions() == []
    assert list(records.listing(None, None, None, 10)) == []


@pytest.fixture(scope="module")
def expired_key():
    """A key made in 2024, valid for a year: it signs as of then, and has expired since."""
    require_gpg_cli()
    with temporary_key(name="expired since", expires="1y", faked_time="20240101T000000") as key:
        yield key


@pytest.fixture
def gate(tmp_path, ostree_repo, served, expired_key):
    """The developer stream requiring signatures by the repository's key or the expired one;
    yields (repository, runtime, chalice client)."""
    config = configuration_for(None, "developer", served.url, 2, tmp_path,
                               [*ostree_repo.trusted_keys, expired_key.public])
    with LocalRuntime(config=config) as runtime, Client(app, project_dir=ROOT) as chalice:
        yield ostree_repo, runtime, chalice


def commit_both(repo, signed_by=None, sign=True) -> dict[str, str]:
    """One commit of VERSION on each ref: signed by the repository's key, unless ``sign`` is false;
    ``signed_by``: by that key instead."""
    checksums = {arch: repo.commit(ref, VERSION, signed=sign and signed_by is None)
                 for arch, ref in DEVELOPER_REFS.items()}
    for checksum in checksums.values():
        if signed_by is not None:
            repo.sign(checksum, signed_by)
    repo.update_summary()
    return checksums


def unsigned(repo) -> dict[str, str]:
    return commit_both(repo, sign=False)


def moved(repo) -> dict[str, str]:
    """Each commit carries the signatures of another, signed commit."""
    donor = repo.commit("elsewhere", "1")
    checksums = unsigned(repo)
    for checksum in checksums.values():
        shutil.copy(repo.object_path(donor, "commitmeta"), repo.object_path(checksum, "commitmeta"))
    return checksums


def detached_metadata(content: Callable[[bytes], bytes]) -> Callable:
    def make(repo) -> dict[str, str]:
        checksums = commit_both(repo)
        for checksum in checksums.values():
            path = repo.object_path(checksum, "commitmeta")
            path.write_bytes(content(path.read_bytes()))
        return checksums
    return make


REFUSED = {
    "unsigned": (unsigned, "the commit has no detached metadata: it is not signed"),
    "moved": (moved, "does not match the commit's bytes"),
    "garbage": (detached_metadata(lambda _: b"\x00garbage\xff" * 7), "the detached metadata does not parse"),
    "truncated": (detached_metadata(lambda real: real[:-1]), "the detached metadata does not parse"),
}


def refused_reason(x86: str) -> str:
    return f"{DEVELOPER_REFS['x86_64']} {x86}: not signed by a trusted key ("


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_the_webhook_answers_422_naming_the_commit_and_why(gate, case):
    repo, _, chalice = gate
    make, why = REFUSED[case]
    checksums = make(repo)

    answer = chalice.http.post("/hooks/ostree", **signed(announcement(checksums), f"d-{case}"))

    assert answer.status_code == 422, answer.json_body
    assert answer.json_body["error"].startswith(refused_reason(checksums["x86_64"]))
    assert why in answer.json_body["error"]
    nothing_started()


@pytest.mark.parametrize(("signer", "why"), [
    ("other_key", "signature 1 is by {fingerprint}, which is not trusted"),
    ("expired_key", "signature 1 is by trusted key {fingerprint}, which expired on 2024-12-31"),
])
def test_a_signer_not_trusted_now_is_named(gate, request, signer, why):
    repo, _, chalice = gate
    key = request.getfixturevalue(signer)
    checksums = commit_both(repo, signed_by=key)

    answer = chalice.http.post("/hooks/ostree", **signed(announcement(checksums), "d-1"))

    assert answer.status_code == 422
    assert answer.json_body["error"] == (f"{DEVELOPER_REFS['x86_64']} {checksums['x86_64']}: not signed by a trusted "
                                         f"key ({why.format(fingerprint=key.fingerprint)})")
    nothing_started()


def pungi_event(chalice, checksums: dict[str, str]) -> dict:
    return chalice.events.generate_cw_event(
        source="org.fedoraproject", detail_type="org.fedoraproject.prod.pungi.compose.ostree",
        detail={"ref": DEVELOPER_REFS["x86_64"], "commitid": checksums["x86_64"], "arch": "x86_64"}, resources=[])


def coreos_event(chalice) -> dict:
    return chalice.events.generate_cw_event(
        source="org.fedoraproject", detail_type="org.fedoraproject.prod.coreos.build.state.change",
        detail={"build_id": VERSION, "basearch": "x86_64", "stream": "developer", "state": "FINISHED",
                "result": "SUCCESS"}, resources=[])


def test_an_event_of_an_unsigned_commit_is_dropped_with_the_reason(gate):
    repo, _, chalice = gate
    checksums = unsigned(repo)

    pungi = chalice.lambda_.invoke("pungi_ostree_commit", pungi_event(chalice, checksums)).payload
    coreos = chalice.lambda_.invoke("coreos_build_state", coreos_event(chalice)).payload

    for handled in (pungi, coreos):
        assert handled["outcome"] == "dropped"
        assert handled["reason"].startswith(f"UntrustedCommit: {DEVELOPER_REFS['x86_64']} {checksums['x86_64']}: "
                                            "not signed by a trusted key (the commit has no detached metadata")
    nothing_started()


def test_the_api_answers_422_for_the_newest_commits_and_starts_nothing(gate):
    repo, _, chalice = gate
    checksums = unsigned(repo)

    answer = chalice.http.post("/releases", body=json.dumps({"stream": "developer"}),
                               headers={"Content-Type": "application/json"})

    assert answer.status_code == 422, answer.json_body
    assert answer.json_body["error"].startswith(f"{DEVELOPER_REFS['x86_64']} {checksums['x86_64']}: not signed")
    nothing_started()


def test_the_api_answers_422_for_an_older_version_it_finds_unsigned(gate):
    repo, _, chalice = gate
    older = unsigned(repo)
    for ref in DEVELOPER_REFS.values():
        repo.commit(ref, "43.10")
    repo.update_summary()

    answer = chalice.http.post("/releases", body=json.dumps({"stream": "developer", "version": VERSION}),
                               headers={"Content-Type": "application/json"})

    assert answer.status_code == 422, answer.json_body
    assert answer.json_body["error"].startswith(f"{DEVELOPER_REFS['x86_64']} {older['x86_64']}: not signed")
    nothing_started()


def test_the_cadence_refuses_and_says_why(tmp_path, ostree_repo, served):
    config = configuration_for(None, "stable", served.url, 2, tmp_path, ostree_repo.trusted_keys)
    stable_refs = json.loads(Path(config).read_text())["streams"]["stable"]["refs"]
    for ref in stable_refs.values():
        ostree_repo.commit(ref, "43.20261125.3.0", signed=False)
    ostree_repo.update_summary()
    with LocalRuntime(config=config):
        (decision,) = detect.cadence_all()
        assert decision.outcome == "refused"
        assert "not signed by a trusted key (the commit has no detached metadata" in decision.reason
        nothing_started()


def test_the_poller_skips_an_unsigned_head_and_reads_only_its_signature_again(gate, served, monkeypatch):
    repo, _, _ = gate
    checksums = unsigned(repo)
    logged = []
    monkeypatch.setattr(detect.logger, "warning", lambda message, **kw: logged.append((message, kw.get("extra"))))

    first = detect.poll("developer")
    before = (served.traffic.requests, served.traffic.signature_requests)
    again = detect.poll("developer")

    assert (first.outcome, again.outcome) == ("refused", "refused")
    assert again.reason == first.reason
    # the summary (not modified), and per head its commit object and its missing .commitmeta
    assert (served.traffic.requests - before[0], served.traffic.signature_requests - before[1]) == (5, 2)
    assert logged[0] == ("not signed by a trusted key: refused", {
        "stream": "developer", "ref": DEVELOPER_REFS["x86_64"], "commit": checksums["x86_64"],
        "reason": "the commit has no detached metadata: it is not signed"})
    nothing_started()
    assert set(state.get_poll_state("developer").heads) == set(DEVELOPER_REFS.values())


def test_a_signed_commit_after_a_refused_one_is_released_by_the_poller(gate):
    repo, runtime, _ = gate
    unsigned(repo)
    assert detect.poll("developer").outcome == "refused"
    for ref in DEVELOPER_REFS.values():
        repo.commit(ref, "43.12")
    repo.update_summary()

    decision = detect.poll("developer")

    assert decision.outcome == "started", decision.reason
    assert runtime.wait(decision.execution_arn).status == "SUCCEEDED"
    record = records.get(decision.release_id)
    assert {arch: c.signature.signed_by for arch, c in record.commits.items()} == {
        "x86_64": repo.signing_key.fingerprint, "arm64": repo.signing_key.fingerprint}


def test_a_head_signed_after_it_was_refused_is_released_by_the_next_poll(gate):
    repo, runtime, _ = gate
    checksums = unsigned(repo)
    assert detect.poll("developer").outcome == "refused"
    for checksum in checksums.values():
        repo.sign(checksum, repo.signing_key)   # the summary stays as it was: the poll reads it as unchanged

    decision = detect.poll("developer")

    assert decision.outcome == "started", decision.reason
    assert runtime.wait(decision.execution_arn).status == "SUCCEEDED"


def test_a_verdict_is_kept_until_the_key_that_signed_expires(tmp_path, ostree_repo, served):
    with temporary_key(name="expires soon", expires="2d") as short_lived:
        commit_both(ostree_repo, signed_by=short_lived)
        ostree_repo.update_summary(signed=False)   # the repository's own key is not trusted here
        config = configuration_for(None, "developer", served.url, 2, tmp_path, [short_lived.public])
        with LocalRuntime(config=config) as runtime:
            started = detect.poll("developer")
            assert started.outcome == "started", started.reason
            runtime.wait(started.execution_arn)
            expires = state.get_poll_state("developer").heads[DEVELOPER_REFS["x86_64"]].signature.valid_until

            before = served.traffic.signature_requests
            assert detect.poll("developer", now=expires - timedelta(hours=1)).outcome == "unchanged"
            kept = served.traffic.signature_requests - before
            assert detect.poll("developer", now=expires + timedelta(hours=1)).outcome == "unchanged"
            judged_again = served.traffic.signature_requests - before - kept

    assert expires is not None
    assert (kept, judged_again) == (0, len(DEVELOPER_REFS))


def test_a_summary_signed_by_an_untrusted_key_is_refused(gate, other_key):
    repo, _, chalice = gate
    checksums = commit_both(repo)
    repo.signing_key, trusted = other_key, repo.signing_key
    repo.update_summary()
    repo.signing_key = trusted

    poll = detect.poll("developer")
    answer = chalice.http.post("/hooks/ostree", **signed(announcement(checksums), "d-1"))

    assert poll.outcome == "refused"
    assert answer.status_code == 422
    for reason in (poll.reason, answer.json_body["error"]):
        assert reason.startswith(f"{repo_url(gate)}summary: not signed by a trusted key (signature 1 is by "
                                 f"{other_key.fingerprint}, which is not trusted)")
    nothing_started()


def repo_url(gate) -> str:
    _, runtime, _ = gate
    return json.loads(Path(runtime.config).read_text())["streams"]["developer"]["repo_url"].rstrip("/") + "/"


def test_refusals_are_counted(gate, monkeypatch, capsys):
    repo, _, _ = gate
    unsigned(repo)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()

    detect.poll("developer")

    (emitted,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if trust.REFUSALS_METRIC in line]
    assert emitted[trust.REFUSALS_METRIC] == [1.0]
    assert emitted["stream"] == "developer"
    assert emitted["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"], ["service", "stream"]]


def test_a_stream_that_does_not_require_signatures_releases_an_unsigned_commit_and_says_so(
        tmp_path, ostree_repo, served):
    config = configuration_for(None, "developer", served.url, 2, tmp_path)
    raw = json.loads(Path(config).read_text())
    raw["streams"]["developer"]["signatures"] = {"required": False, "keys": ostree_repo.trusted_keys}
    Path(config).write_text(json.dumps(raw))
    unsigned(ostree_repo)
    with LocalRuntime(config=config) as runtime:
        decision = detect.poll("developer")
        assert decision.outcome == "started", decision.reason
        assert runtime.wait(decision.execution_arn).status == "SUCCEEDED"
        record = records.get(decision.release_id)
        for commit in record.commits.values():
            assert (commit.signature.verified, commit.signature.reason) == (
                False, "the commit has no detached metadata: it is not signed")


def signatures_required(config: Path, required: bool, keys: list[str]) -> None:
    raw = json.loads(config.read_text())
    raw["streams"]["developer"]["signatures"] = {"required": required, "keys": keys}
    config.write_text(json.dumps(raw))


def test_a_retry_of_a_release_whose_commits_were_not_trusted_is_refused_once_signatures_are_required(
        tmp_path, ostree_repo, served):
    config = configuration_for(None, "developer", served.url, 2, tmp_path)
    signatures_required(config, False, ostree_repo.trusted_keys)
    checksums = unsigned(ostree_repo)
    with LocalRuntime(config=config, faults=[parse_fault("qa-fails:arm64")]) as runtime, \
            Client(app, project_dir=ROOT) as chalice:
        failed = detect.poll("developer")
        assert runtime.wait(failed.execution_arn).status == "FAILED"
        signatures_required(config, True, ostree_repo.trusted_keys)

        answer = chalice.http.post(f"/releases/{failed.release_id}/retry")

        assert answer.status_code == 422, answer.json_body
        assert answer.json_body["error"] == (f"{DEVELOPER_REFS['x86_64']} {checksums['x86_64']}: not signed by a "
                                             "trusted key (the commit has no detached metadata: it is not signed)")
        assert [e["executionArn"] for e in executions()] == [failed.execution_arn]
