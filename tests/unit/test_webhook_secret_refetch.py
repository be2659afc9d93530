"""A signature that does not match reads the webhook secret again at most once per 10 s, so
forged deliveries cannot turn into a stream of Secrets Manager reads; and a stale replay is
refused on its timestamp before it can use that one re-read up."""

import pytest

from chalicelib.triggers import webhook
from tests.webhook_requests import signed

SECRET = "whsec_dGhlIHNlY3JldCB0aGUgZnVuY3Rpb25zIGhvbGQ="
FORGER = "whsec_YSBzZWNyZXQgbm9ib2R5IHNoYXJlcw=="
NOW = 1_790_000_000


class CountingProvider:
    """A Powertools provider's ``get``, counting the forced reads."""

    def __init__(self) -> None:
        self.forced = 0

    def get(self, name: str, max_age: int, force_fetch: bool = False, **options) -> str:
        self.forced += force_fetch
        return SECRET


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def source(monkeypatch) -> tuple[CountingProvider, FakeClock]:
    provider, clock = CountingProvider(), FakeClock()
    secret_source = webhook._SecretSource(provider, "webhook-secret", clock=clock)
    monkeypatch.setattr(webhook, "secret_source", lambda: secret_source)
    monkeypatch.setattr(webhook, "settings", lambda: None)   # a forged delivery is refused before any setting is read
    return provider, clock


def forged(delivery: str, timestamp: int = NOW) -> webhook.Answer:
    request = signed(b'{"stream": "developer", "commits": {}}', delivery, timestamp=timestamp, secret=FORGER)
    return webhook.handle(request["headers"], request["body"], now=NOW)


def test_two_forged_deliveries_within_10_s_read_the_secret_again_once(source):
    provider, clock = source

    first = forged("d-1")
    clock.now += 9.9
    second = forged("d-2")

    assert first.status == second.status == 401
    assert provider.forced == 1
    clock.now += 0.1   # 10 s after the re-read: a rotation may have come since
    forged("d-3")
    assert provider.forced == 2


def test_a_stale_replay_is_refused_on_its_timestamp_without_reading_the_secret_again(source):
    provider, _ = source

    stale = forged("d-old", timestamp=NOW - webhook.MAX_SKEW_SECONDS - 1)

    assert (stale.status, stale.body["error"]) == (401, "webhook-timestamp is not within 5 minutes of now")
    assert provider.forced == 0
    assert forged("d-fresh").status == 401 and provider.forced == 1   # the re-read is still there for a rotation
