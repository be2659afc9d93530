"""The real guests' bookkeeping: the runtime asks, from the interpreter's threads, whether a guest
is still at work while another thread boots new ones. A guest it forgets makes the task-token wait
end at once, and the guest's thread is then never joined: its device link and loop disk outlive
the command."""

import threading

import pytest

from atomic_release.local.guests.player import RealGuests


@pytest.fixture
def guests(tmp_path, monkeypatch):
    guests = RealGuests(work=tmp_path, repo_url="http://127.0.0.1:1/repo/", account="123456789012")
    release = threading.Event()
    monkeypatch.setattr(RealGuests, "_play", lambda self, region, instance_id: release.wait(10))
    yield guests
    release.set()
    for thread in guests._threads:
        thread.join(timeout=10)


def test_a_launched_guest_counts_as_working_before_it_boots(guests):
    guests.launched("us-east-1", ["i-0123456789abcdef0"])

    assert guests.guests_working


def test_a_guest_stays_counted_when_the_runtime_asks_while_it_starts(guests, monkeypatch):
    start = threading.Thread.start

    def asked_while_starting(thread):
        assert guests.guests_working  # the runtime's question, at the worst moment
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", asked_while_starting)
    guests.launched("us-east-1", ["i-0123456789abcdef0"])
    guests.boot_new_instances()

    assert guests.guests_working
    assert len(guests._threads) == 1
