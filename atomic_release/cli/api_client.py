"""A client of the maintainers' API: a deployed stack's API Gateway URL, whose routes use IAM
authorization (every request is signed with SigV4 from the caller's AWS credentials), or the
app served on this machine by ``atomic-release local serve`` (loopback: nothing is signed)."""

import ipaddress
import json
import os
import re
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urlsplit

import requests

if TYPE_CHECKING:
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials

ENVIRONMENT_VARIABLE = "ATOMIC_RELEASE_API"
TIMEOUT_S = (5.0, 30.0)   # connect, read
# abc123.execute-api.us-east-1.amazonaws.com (and .amazonaws.com.cn)
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
_OBJECT_PREFIX = re.compile(r"^(<[^>]*>|\w+\([^)]*\)):\s*")


class ApiError(Exception):
    """The API could not be asked or refused the request: the command stops with exit 2."""


class HttpError(ApiError):
    """The API answered with a status other than 2xx; ``reason`` is its ``{"error": ...}``."""

    def __init__(self, method: str, path: str, status: int, body: dict | None, text: str = ""):
        self.method, self.path, self.status, self.body = method, path, status, body or {}
        self.reason = _reason(self.body, text)
        super().__init__(f"{method} {path}: HTTP {status}: {self.reason}")


def _reason(body: dict, text: str) -> str:
    """The routes answer ``{"error": ...}`` (a 409 of POST /releases: the decision, with its
    ``reason``); API Gateway itself answers ``{"message": ...}`` (a refused signature, a throttle)."""
    for key in ("error", "message", "reason", "Message"):
        if isinstance(body.get(key), str) and body[key]:
            return body[key]
    return text.strip()[:300] or "no reason given"


def api_url(value: str | None) -> str:
    """``--api``, else ATOMIC_RELEASE_API: the API's base URL, without a trailing slash."""
    url = value or os.environ.get(ENVIRONMENT_VARIABLE, "")
    if not url:
        raise ApiError(f"no API to ask: pass --api URL or set {ENVIRONMENT_VARIABLE} to a deployed stack's API URL "
                       "(https://ID.execute-api.REGION.amazonaws.com/api/), or run `atomic-release local serve` "
                       "and use the URL it prints")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(f"API URL {url!r}: must be an http:// or https:// URL")
    return url.rstrip("/")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def signing_region(url: str, region: str | None, profile_region: str | None) -> str | None:
    """``--region``; else the region in an execute-api host name; else the profile's."""
    if region:
        return region
    found = _EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
    return found.group(1) if found else profile_region


def _readable(error: Exception) -> str:
    """requests' connection errors wrap urllib3's, which name an object before the reason."""
    inner = getattr(error.args[0], "reason", None) if error.args else None
    return _OBJECT_PREFIX.sub("", str(inner if inner is not None else error))


class ApiClient:
    def __init__(self, url: str | None, profile: str | None = None, region: str | None = None,
                 timeout: tuple[float, float] = TIMEOUT_S, session: requests.Session | None = None):
        self.url = api_url(url)
        self.signed = not is_loopback(self.url)
        self.timeout = timeout
        self.http = session or requests.Session()
        self._profile, self._region = profile, region
        self._signing: tuple[Credentials, str] | None = None

    # -- requests --------------------------------------------------------------------------------
    def _signer_for(self) -> "SigV4Auth":
        """A SigV4 signer for execute-api with the credentials as they are now: SSO and assumed-role
        credentials expire within hours and botocore refreshes them, so they are read per request."""
        from botocore.auth import SigV4Auth
        from botocore.exceptions import BotoCoreError

        credentials, region = self._signing or self._signing_setup()
        try:
            frozen = credentials.get_frozen_credentials()
        except BotoCoreError as error:   # e.g. an SSO session that ended: `aws sso login` again
            raise ApiError(f"AWS credentials to sign requests to {self.url} could not be refreshed: {error}") from None
        if not frozen.access_key:
            raise ApiError(f"the AWS credentials to sign requests to {self.url} have no access key")
        return SigV4Auth(frozen, "execute-api", region)

    def _signing_setup(self) -> tuple["Credentials", str]:
        """The profile's (or the default chain's) live credentials and the region to sign for."""
        import boto3
        from botocore.exceptions import BotoCoreError

        try:
            session = boto3.Session(profile_name=self._profile)
            credentials = session.get_credentials()
        except BotoCoreError as error:
            raise ApiError(f"AWS credentials to sign requests to {self.url}: {error}") from None
        if credentials is None:
            raise ApiError(f"no AWS credentials to sign requests to {self.url} (the API uses IAM authorization): "
                           "pass --profile NAME or configure credentials as the AWS CLI reads them")
        region = signing_region(self.url, self._region, session.region_name)
        if not region:
            raise ApiError(f"the region of {self.url} is not in its host name: pass --region REGION")
        self._signing = credentials, region
        return self._signing

    def prepare(self, method: str, path: str, params: dict | None = None,
                body: dict | None = None) -> requests.PreparedRequest:
        """The request as it is sent: signed unless the API is on this machine."""
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None}, quote_via=quote)
        url = self.url + path + (f"?{query}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.signed:
            from botocore.awsrequest import AWSRequest

            signed = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
            self._signer_for().add_auth(signed)
            headers = dict(signed.headers.items())
        return requests.Request(method, url, data=data, headers=headers).prepare()

    def request(self, method: str, path: str, params: dict | None = None,
                body: dict | None = None) -> tuple[int, dict]:
        """(status, JSON body) of a 2xx answer; raises HttpError for any other, ApiError when
        the API cannot be reached."""
        prepared = self.prepare(method, path, params, body)
        shown = prepared.path_url[len(urlsplit(self.url).path):] or path
        try:
            response = self.http.send(prepared, timeout=self.timeout, allow_redirects=False)
        except requests.ConnectTimeout as error:
            raise ApiError(f"cannot reach the API at {self.url}: {_readable(error)}") from None
        except requests.Timeout:
            raise ApiError(f"{method} {shown}: the API at {self.url} did not answer within {self.timeout[1]:.0f} s") \
                from None
        except requests.RequestException as error:
            raise ApiError(f"cannot reach the API at {self.url}: {_readable(error)}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not 200 <= response.status_code < 300:
            raise HttpError(method, shown, response.status_code, answer if isinstance(answer, dict) else None,
                            response.text)
        if not isinstance(answer, dict):
            raise ApiError(f"{method} {shown}: HTTP {response.status_code}: the answer is not a JSON object: "
                           f"{response.text.strip()[:200]!r}")
        return response.status_code, answer

    # -- the routes ------------------------------------------------------------------------------
    def list_releases(self, stream: str | None = None, status: str | None = None, limit: int | None = None,
                      next_token: str | None = None) -> dict:
        return self.request("GET", "/releases", params={"stream": stream, "status": status, "limit": limit,
                                                        "next_token": next_token})[1]

    def plan(self, stream: str, regions: int | None = None) -> dict:
        return self.request("GET", f"/streams/{quote(stream, safe='')}/plan", params={"regions": regions})[1]

    def release(self, release_id: str) -> dict:
        return self.request("GET", f"/releases/{quote(release_id, safe='')}")[1]

    def trigger(self, stream: str, version: str | None = None) -> tuple[int, dict]:
        return self.request("POST", "/releases", body={"stream": stream, **({"version": version} if version else {})})

    def retry(self, release_id: str) -> dict:
        return self.request("POST", f"/releases/{quote(release_id, safe='')}/retry")[1]

    def abort(self, release_id: str, reason: str | None = None) -> dict:
        return self.request("POST", f"/releases/{quote(release_id, safe='')}/abort",
                            body={"reason": reason} if reason else None)[1]
