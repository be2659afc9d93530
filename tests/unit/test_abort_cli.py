"""``releases abort`` sends the reason given, waits for the cleanup after the stopped run to be
recorded, and gives up at its deadline saying where to look, with exit 3: it never waits
forever for a rule on the run's end that failed."""

import json

import pytest

from atomic_release.cli import releases as releases_cli
from atomic_release.cli.main import ABORT_CLEANUP_WAIT_S, main
from tests.http_fakes import Answering, client_answering

RELEASE = "developer-43_1-abc"
RUN = f"arn:aws:states:us-east-1:123456789012:execution:m:{RELEASE}"
ABORTED = {"release_id": RELEASE, "outcome": "stopping", "status": "RUNNING", "recorded": True,
           "abort": {"execution_arn": RUN, "reason": "wrong commit", "stage": "build", "requested_at": "t"}}
CLEANUP = {"execution_arn": RUN, "status": "ABORTED", "cleaned": True, "removed": {"images": ["us-east-1:ami-1"]},
           "reason": "", "at": "t"}


class FakeTime:
    """The clock and sleep ``releases`` sees: a sleep moves the clock on."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class MaintainersApi:
    """The API's abort answer, then the release without a cleanup until ``cleanup_after`` reads."""

    def __init__(self, cleanup_after: int | None):
        self.cleanup_after, self.reads, self.reasons = cleanup_after, 0, []

    def abort(self, release_id: str, reason: str | None = None) -> dict:
        self.reasons.append(reason)
        return ABORTED

    def release(self, release_id: str) -> dict:
        self.reads += 1
        assert self.reads < 5000, "still waiting for the cleanup after 5000 reads"
        if self.cleanup_after is not None and self.reads >= self.cleanup_after:
            return {"release": {"status": "ABORTED", "cleanup": CLEANUP}}
        return {"release": {"status": "RUNNING"}}


@pytest.fixture
def clock(monkeypatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(releases_cli, "time", fake)
    return fake


def aborting(monkeypatch, capsys, api: MaintainersApi, *options: str) -> tuple[int, str, str]:
    monkeypatch.setattr(releases_cli, "ApiClient", lambda *args, **kwargs: api)
    code = main(["releases", "abort", RELEASE, "--api", "http://127.0.0.1:9", *options])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_abort_sends_the_reason_and_prints_what_the_cleanup_removed(monkeypatch, capsys, clock):
    api = MaintainersApi(cleanup_after=3)

    code, out, _ = aborting(monkeypatch, capsys, api, "--reason", "wrong commit")

    assert code == 0 and api.reasons == ["wrong commit"]
    assert out == f"release {RELEASE} ABORTED: removed images us-east-1:ami-1\n"


def test_abort_gives_up_waiting_for_the_cleanup_at_15_minutes_with_exit_3(monkeypatch, capsys, clock):
    api = MaintainersApi(cleanup_after=None)

    code, out, _ = aborting(monkeypatch, capsys, api)

    assert code == releases_cli.CLEANUP_NOT_RECORDED == 3
    assert out == (f"release {RELEASE} RUNNING: stopped; cleanup not yet recorded; see `releases show {RELEASE}`\n")
    assert ABORT_CLEANUP_WAIT_S == 900 and clock.now == pytest.approx(900, abs=releases_cli.ABORT_CLEANUP_POLL_S)
    assert api.reasons == [None]


def test_the_cleanup_wait_is_an_option_and_json_still_prints_the_answer(monkeypatch, capsys, clock):
    api = MaintainersApi(cleanup_after=None)

    code, out, err = aborting(monkeypatch, capsys, api, "--cleanup-wait", "30", "--output", "json")

    assert code == 3 and json.loads(out) == ABORTED
    assert "cleanup not yet recorded; see `releases show" in err
    assert 30 <= clock.now <= 30 + releases_cli.ABORT_CLEANUP_POLL_S


def test_the_api_client_sends_a_reason_as_the_body_and_none_without_one():
    adapter = Answering(202, ABORTED)
    api = client_answering("http://127.0.0.1:8000", adapter)

    api.abort(RELEASE, "wrong commit")
    api.abort(RELEASE)

    assert json.loads(adapter.sent[0].body) == {"reason": "wrong commit"}
    assert adapter.sent[1].body is None
    assert adapter.sent[0].path_url == f"/releases/{RELEASE}/abort"
