"""The API client: requests to a deployed API are SigV4-signed for execute-api, requests to the
app on this machine are not; answers map to an error that names the request. Nothing here is
sent anywhere: requests are prepared, or answered by a transport adapter that keeps them."""


import boto3
import pytest

from atomic_release.cli.api_client import ApiClient, ApiError, HttpError, api_url, is_loopback, signing_region
from tests.http_fakes import DEPLOYED, Answering, client_answering, no_configuration


def test_a_deployed_api_gets_a_sigv4_signature_for_execute_api_in_the_hosts_region(credentials):
    prepared = ApiClient(DEPLOYED).prepare("GET", "/releases", params={"status": "PARTIAL", "limit": 5})

    authorization = prepared.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request, SignedHeaders=" in authorization
    assert "host" in authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "Signature=" in authorization
    assert prepared.headers["X-Amz-Date"].endswith("Z")
    assert prepared.url == "https://abc123defg.execute-api.eu-west-1.amazonaws.com/api/releases?status=PARTIAL&limit=5"


def test_the_signature_covers_the_body_and_a_session_token(credentials, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    api = ApiClient(DEPLOYED)

    first = api.prepare("POST", "/releases", body={"stream": "developer"})
    other = api.prepare("POST", "/releases", body={"stream": "stable"})

    assert first.body == b'{"stream": "developer"}'
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["X-Amz-Security-Token"] == "session-token"
    assert first.headers["Authorization"].split("Signature=")[1] != other.headers["Authorization"].split("Signature=")[1]


def test_the_region_is_region_option_then_host_name_then_profile(credentials, monkeypatch):
    signed = ApiClient(DEPLOYED, region="us-west-2").prepare("GET", "/releases")
    assert "/us-west-2/execute-api/" in signed.headers["Authorization"]

    assert signing_region(DEPLOYED, None, "ap-south-1") == "eu-west-1"
    assert signing_region("https://releases.example.org/", None, "ap-south-1") == "ap-south-1"
    assert signing_region("https://abc.execute-api.cn-north-1.amazonaws.com.cn/api", None, None) == "cn-north-1"

    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    custom_domain = ApiClient("https://releases.example.org").prepare("GET", "/releases")
    assert "/ca-central-1/execute-api/" in custom_domain.headers["Authorization"]


def test_a_custom_domain_without_any_region_is_refused_naming_the_option(credentials):
    with pytest.raises(ApiError, match="pass --region REGION"):
        ApiClient("https://releases.example.org").prepare("GET", "/releases")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:8000/", "http://[::1]:8000"])
def test_a_loopback_api_is_not_signed_and_needs_no_credentials(url, monkeypatch):
    def no_session(*args, **kwargs):
        raise AssertionError("credentials were looked for")

    monkeypatch.setattr(boto3, "Session", no_session)

    prepared = ApiClient(url).prepare("GET", "/releases/developer-43_1-abc")

    assert is_loopback(url)
    assert "Authorization" not in prepared.headers and "X-Amz-Date" not in prepared.headers
    assert prepared.url.endswith(":8000/releases/developer-43_1-abc")


def test_no_credentials_for_a_deployed_api_is_a_clear_error(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    no_configuration(monkeypatch, tmp_path)

    with pytest.raises(ApiError, match="no AWS credentials to sign requests to https://abc123defg"):
        ApiClient(DEPLOYED).prepare("GET", "/releases")


def test_an_unknown_profile_is_a_clear_error(credentials):
    with pytest.raises(ApiError, match="nobody"):
        ApiClient(DEPLOYED, profile="nobody").prepare("GET", "/releases")


def test_the_api_url_comes_from_the_option_or_the_environment(monkeypatch):
    monkeypatch.delenv("ATOMIC_RELEASE_API", raising=False)
    with pytest.raises(ApiError, match="pass --api URL or set ATOMIC_RELEASE_API.*atomic-release local serve"):
        api_url(None)
    monkeypatch.setenv("ATOMIC_RELEASE_API", "http://127.0.0.1:8000/")
    assert api_url(None) == "http://127.0.0.1:8000"
    assert api_url(DEPLOYED) == DEPLOYED.rstrip("/")
    with pytest.raises(ApiError, match="must be an http:// or https:// URL"):
        api_url("127.0.0.1:8000")


def test_an_error_answer_names_the_request_status_and_reason():
    adapter = Answering(404, {"error": "no release developer-nope is recorded"})
    api = client_answering("http://127.0.0.1:8000", adapter)

    with pytest.raises(HttpError) as raised:
        api.release("developer-nope")

    assert str(raised.value) == "GET /releases/developer-nope: HTTP 404: no release developer-nope is recorded"
    assert raised.value.status == 404
    assert adapter.kwargs["timeout"] == api.timeout and all(adapter.kwargs["timeout"])


def test_an_answer_of_api_gateway_itself_gives_its_message(credentials):
    adapter = Answering(403, {"message": "User: arn:aws:iam::123456789012:user/someone is not authorized"})
    api = client_answering(DEPLOYED, adapter)

    with pytest.raises(HttpError, match=r"^GET /releases\?limit=2: HTTP 403: User: arn:aws:iam::123456789012:user"):
        api.list_releases(limit=2)

    assert adapter.sent[0].headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert adapter.sent[0].path_url == "/api/releases?limit=2"


def test_an_answer_that_is_not_json_is_an_error_quoting_it():
    api = client_answering("http://127.0.0.1:8000", Answering(502, text="<html>Bad Gateway</html>"))

    with pytest.raises(HttpError, match="HTTP 502: <html>Bad Gateway</html>"):
        api.retry("developer-43_1-abc")


def test_a_refused_connection_names_the_url():
    api = ApiClient("http://127.0.0.1:9", timeout=(1, 1))

    with pytest.raises(ApiError, match=r"^cannot reach the API at http://127.0.0.1:9: .*refused"):
        api.list_releases()


def test_what_is_sent_is_exactly_what_was_signed(credentials, monkeypatch):
    from botocore.auth import SigV4Auth

    signed = []
    original = SigV4Auth.add_auth
    monkeypatch.setattr(SigV4Auth, "add_auth", lambda self, request: (signed.append(request.url),
                                                                      original(self, request))[1])

    prepared = ApiClient(DEPLOYED).prepare("GET", "/releases", params={"next_token": "WyIyMDI2Il0=", "stream": "a b/c",
                                                                       "status": None})

    assert signed == [prepared.url]
    assert prepared.url.endswith("/api/releases?next_token=WyIyMDI2Il0%3D&stream=a%20b%2Fc")


def test_each_request_is_signed_with_the_credentials_as_refreshed_since_the_last(credentials, monkeypatch):
    """SSO and assumed-role credentials last an hour: `releases watch` and `releases page` outlive them."""
    from datetime import UTC, datetime, timedelta

    from botocore.credentials import RefreshableCredentials

    start = datetime.now(UTC)
    clock = [start]
    issued = iter(["AKIDREFRESHED"])

    def refresh() -> dict:
        return {"access_key": next(issued), "secret_key": "second-secret", "token": "second-token",
                "expiry_time": (clock[0] + timedelta(hours=1)).isoformat()}

    live = RefreshableCredentials("AKIDFIRST", "first-secret", "first-token", start + timedelta(hours=1), refresh,
                                  "sso", time_fetcher=lambda: clock[0])
    monkeypatch.setattr(boto3.Session, "get_credentials", lambda self: live)
    adapter = Answering(body={"releases": []})
    api = client_answering(DEPLOYED, adapter)

    api.list_releases()
    clock[0] = start + timedelta(minutes=59)
    api.list_releases()

    first, second = (request.headers for request in adapter.sent)
    assert first["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDFIRST/")
    assert first["X-Amz-Security-Token"] == "first-token"
    assert second["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDREFRESHED/")
    assert second["X-Amz-Security-Token"] == "second-token"


def test_credentials_that_cannot_be_refreshed_are_a_clear_error(credentials, monkeypatch):
    from botocore.credentials import RefreshableCredentials
    from botocore.exceptions import TokenRetrievalError

    def refresh() -> dict:
        raise TokenRetrievalError(provider="sso", error_msg="the SSO session has expired")

    expired = RefreshableCredentials.create_from_metadata(
        {"access_key": "AKIDOLD", "secret_key": "s", "token": "t", "expiry_time": "2020-01-01T00:00:00Z"},
        refresh, "sso")
    monkeypatch.setattr(boto3.Session, "get_credentials", lambda self: expired)

    with pytest.raises(ApiError, match="could not be refreshed: .*the SSO session has expired"):
        ApiClient(DEPLOYED).prepare("GET", "/releases")
