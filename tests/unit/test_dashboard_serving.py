"""The maintainers' page as the API serves it: nothing but its own origin's files run or load
(Content-Security-Policy), and under a stage prefix the page is moved to its folder (``/api`` ->
``/api/``) so that its relative URLs stay inside the stage."""

import json

import pytest

from tests.api_gateway import page_through_api_gateway

PAGE_FILES = ["index.html", "app.js", "app.css", "icon.svg"]


def test_the_page_under_a_stage_with_its_slash_is_served_with_the_policy():
    answer = page_through_api_gateway("/api/")

    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Security-Policy"] == "default-src 'self'"
    assert answer["headers"]["Content-Type"].startswith("text/html")
    assert 'src="assets/app.js"' in answer["body"]


@pytest.mark.parametrize(("requested", "query", "location"), [
    ("/api", None, "api/"),
    ("/prod", {"view": "all"}, "prod/?view=all"),
])
def test_the_page_without_its_slash_is_moved_to_its_folder(requested, query, location):
    answer = page_through_api_gateway(requested, query)

    assert answer["statusCode"] == 301
    assert answer["headers"]["Location"] == location


def test_the_page_has_nothing_inline_that_the_policy_would_refuse():
    from chalicelib.api import dashboard

    page = dashboard.asset("index.html")[0]
    script = dashboard.asset("app.js")[0]

    assert "<script>" not in page and "<style" not in page and " style=" not in page
    assert 'href="data:' not in page and "javascript:" not in page
    assert "eval(" not in script and "new Function" not in script and 'h("style"' not in script


def test_every_file_of_the_page_carries_the_policy(api_client):
    for name in PAGE_FILES:
        answer = api_client.http.get("/" if name == "index.html" else f"/assets/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["Content-Security-Policy"] == "default-src 'self'", name
    missing = api_client.http.get("/assets/nope.js")
    assert missing.status_code == 404 and json.loads(missing.body)["error"] == "no asset nope.js"


@pytest.fixture
def api_client():
    from chalice.test import Client

    from app import app
    from atomic_release.local.runtime import ROOT

    with Client(app, project_dir=ROOT) as client:
        yield client
