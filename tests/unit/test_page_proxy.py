"""The page of a deployed stack on this machine: its files served here, its reads passed to the
API signed with the maintainer's credentials (a browser cannot sign them), and nothing else."""

import http.client

import requests

from atomic_release.cli.api_client import ApiClient
from atomic_release.cli.page_proxy import PageProxy
from tests.http_fakes import DEPLOYED, Answering, client_answering


def test_the_page_is_served_here_and_its_reads_go_signed_to_the_api(credentials):
    api = Answering(body={"releases": [], "next_token": "t"})
    with PageProxy(client_answering(DEPLOYED, api)) as proxy:
        page = requests.get(proxy.url + "/", timeout=5)
        script = requests.get(proxy.url + "/assets/app.js", timeout=5)
        listed = requests.get(proxy.url + "/releases?stream=developer&limit=5", timeout=5)

    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]
    assert page.headers["Content-Security-Policy"] == script.headers["Content-Security-Policy"] == "default-src 'self'"
    assert listed.status_code == 200 and listed.json() == {"releases": [], "next_token": "t"}
    [sent] = api.sent
    assert sent.url == DEPLOYED.rstrip("/") + "/releases?stream=developer&limit=5"
    assert sent.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in sent.headers["Authorization"]


def test_the_apis_refusals_pass_through_and_nothing_but_reads_does(credentials):
    api = Answering(status=404, body={"error": "no release developer-x is recorded"})
    with PageProxy(client_answering(DEPLOYED, api)) as proxy:
        missing = requests.get(proxy.url + "/releases/developer-x", timeout=5)
        posted = requests.post(proxy.url + "/releases/developer-x/abort", timeout=5)
        elsewhere = requests.get(proxy.url + "/hooks/ostree", timeout=5)
        asset = requests.get(proxy.url + "/assets/..%2F__init__.py", timeout=5)

    assert (missing.status_code, missing.json()) == (404, {"error": "no release developer-x is recorded"})
    assert posted.status_code == 405 and "only reads" in posted.json()["error"]
    assert elsewhere.status_code == 404 and asset.status_code == 404
    assert len(api.sent) == 1


def test_an_unreachable_api_is_a_502_saying_so():
    with PageProxy(ApiClient("http://127.0.0.1:9")) as proxy:
        answer = requests.get(proxy.url + "/releases", timeout=10)

    assert answer.status_code == 502 and "cannot reach the API at http://127.0.0.1:9" in answer.json()["error"]


def test_only_its_own_loopback_host_and_port_are_answered_and_nothing_else_reaches_the_api(credentials):
    """A page whose name a DNS rebinding points at 127.0.0.1 names its own host: it reads nothing."""
    api = Answering(body={"releases": []})
    with PageProxy(client_answering(DEPLOYED, api)) as proxy:
        port = proxy.url.rsplit(":", 1)[1]
        refused = {host: requests.get(proxy.url + "/releases", headers={"Host": host}, timeout=5)
                   for host in (f"rebound.example:{port}", "rebound.example", f"127.0.0.1:{int(port) + 1}",
                                "127.0.0.1", f"localhost.rebound.example:{port}", f"[::1]:{port}")}
        page = requests.get(proxy.url + "/", headers={"Host": f"rebound.example:{port}"}, timeout=5)
        posted = requests.post(proxy.url + "/releases/x/abort", headers={"Host": "rebound.example"}, timeout=5)
        without_host = _without_host(port)
        allowed = [requests.get(proxy.url + "/releases", headers={"Host": host}, timeout=5)
                   for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}")]

    for host, answer in refused.items():
        assert answer.status_code == 421, host
        assert answer.json()["error"] == (f"Host {host.lower()!r} is not this server: it answers only as "
                                          f"127.0.0.1:{port} or localhost:{port}")
    assert page.status_code == 421 and "<html" not in page.text
    assert posted.status_code == 421 and without_host == 421
    assert [answer.status_code for answer in allowed] == [200, 200, 200]
    assert len(api.sent) == len(allowed)


def _without_host(port: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
    try:
        connection.putrequest("GET", "/releases", skip_host=True)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()
