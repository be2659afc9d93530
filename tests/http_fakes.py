"""A deployed API that is never reached: requests to it are kept and answered by a transport
adapter, and signed with fake credentials from the environment."""

import json

import pytest
import requests
from requests.adapters import BaseAdapter

from atomic_release.cli.api_client import ApiClient

DEPLOYED = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/api/"


@pytest.fixture
def credentials(monkeypatch, tmp_path):
    """Fake credentials from the environment, and no AWS configuration of this machine's."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    no_configuration(monkeypatch, tmp_path)


def no_configuration(monkeypatch, tmp_path):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")   # never ask an instance metadata service


class Answering(BaseAdapter):
    """A transport that keeps each request and answers it with ``status`` and ``body``."""

    def __init__(self, status: int = 200, body: object = None, text: str | None = None):
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []
        self.status, self.body, self.text = status, body, text

    def send(self, request, **kwargs):
        self.sent.append(request)
        self.kwargs = kwargs
        response = requests.Response()
        response.status_code = self.status
        response._content = (self.text if self.text is not None else json.dumps(self.body)).encode()
        response.request, response.url = request, request.url
        return response

    def close(self):
        pass


def client_answering(url: str, adapter: Answering, **options) -> ApiClient:
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return ApiClient(url, session=session, **options)
