"""The poller and the cadence against repositories built with the ostree CLI."""

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from atomic_release.local.demo_repo import configuration_for
from atomic_release.local.runtime import LocalRuntime
from chalicelib.aws.clients import client
from chalicelib.core.config import load_streams
from chalicelib.core.errors import PartlyFailed
from chalicelib.core.observability import POLL_ERRORS
from chalicelib.core.settings import reset_settings
from chalicelib.ostree.repository import RefState
from chalicelib.store import records, state
from chalicelib.triggers import detect
from tests.conftest import DEVELOPER_REFS
from tests.emf import counts, dimension_sets

ROOT = Path(__file__).resolve().parents[2]


def executions(runtime) -> list[dict]:
    return client("stepfunctions").list_executions(stateMachineArn=os.environ["RELEASE_STATE_MACHINE_ARN"])["executions"]


def configure(tmp_path, monkeypatch, **developer_settings) -> None:
    """Point STREAMS_CONFIG at the runtime's configuration with developer's settings changed."""
    raw = json.loads(Path(os.environ["STREAMS_CONFIG"]).read_text())
    raw["streams"]["developer"].update(developer_settings)
    path = tmp_path / "changed-streams.json"
    path.write_text(json.dumps(raw))
    monkeypatch.setenv("STREAMS_CONFIG", str(path))
    reset_settings()  # the functions read it again, as after a deployment


def x86_64_ahead(repo) -> None:
    repo.commit(DEVELOPER_REFS["arm64"], "43.1")
    repo.commit(DEVELOPER_REFS["x86_64"], "43.2")
    repo.update_summary()


def commit_all(repo, version: str) -> dict[str, str]:
    checksums = {arch: repo.commit(ref, version) for arch, ref in DEVELOPER_REFS.items()}
    repo.update_summary()
    return checksums


def test_read_refs_gives_each_architecture_its_head(developer_repo):
    repo, _, _ = developer_repo
    checksums = commit_all(repo, "43.1")

    heads = detect.read_refs(load_streams().stream("developer"))

    assert {arch: head.checksum for arch, head in heads.items()} == checksums
    assert {head.version for head in heads.values()} == {"43.1"}


def test_poll_starts_a_release_when_every_architecture_has_the_version(developer_repo):
    repo, _, runtime = developer_repo
    checksums = commit_all(repo, "43.1")

    decision = detect.poll("developer")

    assert decision.outcome == "started" and decision.version == "43.1"
    assert runtime.wait(decision.execution_arn).status == "SUCCEEDED"
    record = records.get(decision.release_id)
    assert {arch: c.checksum for arch, c in record.commits.items()} == checksums
    assert record.trigger == "poller"


def test_poll_waits_while_an_architecture_lags(developer_repo):
    repo, _, runtime = developer_repo
    # Explicit times: commits made now may fall either side of a second, and the newest decides.
    repo.commit(DEVELOPER_REFS["x86_64"], "43.2", timestamp="2026-11-25T10:00:00Z")
    repo.commit(DEVELOPER_REFS["arm64"], "43.1", timestamp="2026-11-25T09:00:00Z")
    repo.update_summary()

    decision = detect.poll("developer")

    assert (decision.outcome, decision.missing) == ("waiting", ["arm64"])
    assert executions(runtime) == []


def test_an_unchanged_repository_costs_one_request_and_starts_nothing(developer_repo):
    repo, server, runtime = developer_repo
    commit_all(repo, "43.1")
    first = detect.poll("developer")
    runtime.wait(first.execution_arn)
    before = (server.traffic.requests, server.traffic.body_bytes)

    again = detect.poll("developer")

    assert again.outcome == "unchanged"
    assert (server.traffic.requests - before[0], server.traffic.body_bytes - before[1]) == (1, 0)
    assert len(executions(runtime)) == 1


def test_a_new_version_is_released_by_the_next_poll(developer_repo):
    repo, _, runtime = developer_repo
    commit_all(repo, "43.1")
    runtime.wait(detect.poll("developer").execution_arn)
    commit_all(repo, "43.2")

    decision = detect.poll("developer")

    assert (decision.outcome, decision.version) == ("started", "43.2")
    runtime.wait(decision.execution_arn)
    assert len(executions(runtime)) == 2


def test_overlapping_polls_act_once(developer_repo, monkeypatch):
    repo, _, runtime = developer_repo
    commit_all(repo, "43.1")
    stale = state.get_poll_state("developer")
    first = detect.poll("developer")
    monkeypatch.setattr(state, "get_poll_state", lambda stream: stale)   # a poll that read before the first wrote

    second = detect.poll("developer")

    assert first.outcome == "started"
    assert second.outcome == "raced"
    runtime.wait(first.execution_arn)
    assert len(executions(runtime)) == 1


def test_grace_policy_releases_present_architectures_and_records_the_missing(developer_repo, tmp_path):
    stream = load_streams().stream("developer").model_copy(update={"partial_release_after_minutes": 60})
    old = datetime.now(UTC) - timedelta(hours=2)
    heads = {"x86_64": RefState(DEVELOPER_REFS["x86_64"], "a" * 64, "43.3", old),
             "arm64": RefState(DEVELOPER_REFS["arm64"], "b" * 64, "43.2", old - timedelta(days=1))}

    release, missing = detect.candidate(stream, heads, "poller")
    fresh, _ = detect.candidate(stream, {**heads, "x86_64": RefState(DEVELOPER_REFS["x86_64"], "a" * 64, "43.3",
                                                                     datetime.now(UTC))}, "poller")

    assert missing == ["arm64"]
    assert list(release.commits) == ["x86_64"] and release.missing_arches == ["arm64"]
    assert fresh is None
    without_policy, _ = detect.candidate(load_streams().stream("developer"), heads, "poller")
    assert without_policy is None


def test_biweekly_stream_is_left_to_its_schedule_which_releases_newest_once(ostree_repo, served, tmp_path):
    stable = load_streams().stream("stable")
    for ref in stable.refs.values():
        ostree_repo.commit(ref, "43.20261125.3.0")
    ostree_repo.update_summary()
    with LocalRuntime(config=configuration_for(None, "stable", served.url, 2, tmp_path, ostree_repo.trusted_keys)) as runtime:
        assert detect.poll("stable").outcome == "on-cadence"
        (scheduled,) = detect.cadence_all()
        assert (scheduled.outcome, scheduled.version) == ("started", "43.20261125.3.0")
        assert runtime.wait(scheduled.execution_arn).status == "SUCCEEDED"
        (again,) = detect.cadence_all()
        assert again.outcome == "already-released"
        assert len(executions(runtime)) == 1


def with_a_broken_stream(tmp_path, monkeypatch) -> None:
    """A second stream, developer-broken, whose repository is down (nothing listens on port 9)."""
    raw = json.loads(Path(os.environ["STREAMS_CONFIG"]).read_text())
    raw["streams"]["developer-broken"] = {**raw["streams"]["developer"], "repo_url": "http://127.0.0.1:9/"}
    path = tmp_path / "two-streams.json"
    path.write_text(json.dumps(raw))
    monkeypatch.setenv("STREAMS_CONFIG", str(path))
    reset_settings()  # the functions read it again, as after a deployment


def test_one_streams_failure_does_not_stop_the_others_and_fails_the_run(developer_repo, tmp_path, monkeypatch,
                                                                        capsys):
    repo, _, runtime = developer_repo
    with_a_broken_stream(tmp_path, monkeypatch)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the local runtime turns them off
    commit_all(repo, "43.1")

    with pytest.raises(PartlyFailed) as failed:
        detect.poll_all()

    assert "developer-broken: RepositoryUnreachable: http://127.0.0.1:9/summary" in str(failed.value)
    assert "developer:" not in str(failed.value)
    assert len(executions(runtime)) == 1  # the working stream was released all the same
    assert counts(capsys.readouterr().out, POLL_ERRORS) == [({"service": "atomic-release",
                                                              "stream": "developer-broken"}, 1.0)]


def test_the_poller_lambda_fails_naming_the_stream_whose_repository_is_down(developer_repo, tmp_path, monkeypatch,
                                                                            capsys):
    with_a_broken_stream(tmp_path, monkeypatch)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    commit_all(developer_repo[0], "43.1")

    with Client(app, project_dir=str(ROOT)) as chalice, pytest.raises(PartlyFailed, match="developer-broken"):
        chalice.lambda_.invoke("poll_repositories", chalice.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))

    output = capsys.readouterr().out
    assert counts(output, POLL_ERRORS) == [({"service": "atomic-release", "stream": "developer-broken"}, 1.0)]
    assert dimension_sets(output, POLL_ERRORS) == [[["service"], ["service", "stream"]]]
    assert len(executions(developer_repo[2])) == 1  # the working stream was released all the same


def test_the_poller_releases_the_present_architectures_once_the_grace_period_has_passed(developer_repo, tmp_path,
                                                                                        monkeypatch):
    repo, server, runtime = developer_repo
    configure(tmp_path, monkeypatch, partial_release_after_minutes=60)
    x86_64_ahead(repo)

    first = detect.poll("developer")
    before = server.traffic.requests
    later = detect.poll("developer", now=datetime.now(UTC) + timedelta(hours=2))

    assert (first.outcome, first.missing) == ("waiting", ["arm64"])
    assert (later.outcome, later.version, later.missing) == ("started", "43.2", ["arm64"])
    assert server.traffic.requests - before == 1  # the summary was not modified: its heads were remembered
    runtime.wait(later.execution_arn)
    record = records.get(later.release_id)
    assert (list(record.commits), record.missing_arches) == (["x86_64"], ["arm64"])


def test_a_change_elsewhere_in_the_repository_does_not_defeat_the_conditional_get(developer_repo):
    repo, server, runtime = developer_repo
    commit_all(repo, "43.1")
    runtime.wait(detect.poll("developer").execution_arn)
    repo.commit("fedora/x86_64/coreos/next-devel", "44.1")
    repo.update_summary()
    assert detect.poll("developer").outcome == "unchanged"
    before = (server.traffic.requests, server.traffic.body_bytes)

    again = detect.poll("developer")

    assert again.outcome == "unchanged"
    assert (server.traffic.requests - before[0], server.traffic.body_bytes - before[1]) == (1, 0)


def test_a_version_released_without_an_architecture_is_not_released_again_when_it_arrives(developer_repo, tmp_path,
                                                                                          monkeypatch):
    repo, _, runtime = developer_repo
    configure(tmp_path, monkeypatch, partial_release_after_minutes=0)
    x86_64_ahead(repo)
    partial = detect.poll("developer")
    runtime.wait(partial.execution_arn)
    repo.commit(DEVELOPER_REFS["arm64"], "43.2")
    repo.update_summary()

    late = detect.poll("developer")

    assert (partial.outcome, partial.missing) == ("started", ["arm64"])
    assert late.outcome == "unchanged" and "was released without arm64" in late.reason
    assert len(executions(runtime)) == 1


def test_a_renamed_ref_in_the_configuration_is_read_afresh(developer_repo, tmp_path, monkeypatch):
    repo, _, runtime = developer_repo
    commit_all(repo, "43.1")
    runtime.wait(detect.poll("developer").execution_arn)
    repo.commit("fedora/x86_64/coreos/next-devel", "43.1")
    repo.update_summary()
    assert detect.poll("developer").outcome == "unchanged"
    configure(tmp_path, monkeypatch, refs={**DEVELOPER_REFS, "x86_64": "fedora/x86_64/coreos/next-devel"})

    same_version = detect.poll("developer")
    repo.commit("fedora/x86_64/coreos/next-devel", "43.2")
    repo.commit(DEVELOPER_REFS["arm64"], "43.2")
    repo.update_summary()
    decision = detect.poll("developer")

    assert same_version.outcome == "unchanged"  # 43.1 is released; another 43.1 commit would reuse its names
    assert (decision.outcome, decision.version) == ("started", "43.2")
    runtime.wait(decision.execution_arn)
