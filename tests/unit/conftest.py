import pytest
from moto.core.models import MockAWS

from tests.http_fakes import credentials  # noqa: F401 - the fixture, for the API client's tests


@pytest.fixture(autouse=True)
def without_moto(monkeypatch):
    """The unit tier runs without moto (tiers by folder): a test that needs it is an integration test."""

    def refused(*args, **kwargs):
        raise AssertionError("moto started in the unit tier: the test belongs in tests/integration")

    monkeypatch.setattr(MockAWS, "start", refused)
