"""The page of a deployed stack on this machine: its files served here, its reads passed to the
API signed with the maintainer's credentials (a browser cannot sign them), and nothing else."""

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
