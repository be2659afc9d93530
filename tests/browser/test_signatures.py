"""The maintainers' page says who signed each architecture's commit, or why it went out unsigned:
a release of a stream that trusts the tests' key without requiring signatures, from a real
repository whose x86_64 commit is signed and whose arm64 commit is not."""

import json

import pytest
from playwright.sync_api import expect

from atomic_release.local.api_server import ServedApp
from atomic_release.local.demo_repo import configuration_for
from atomic_release.local.ostree_repo import OstreeRepo
from atomic_release.local.repo_server import RepoServer
from atomic_release.local.runtime import LocalRuntime
from chalicelib.triggers import detect
from tests.browser.conftest import visiting
from tests.conftest import DEVELOPER_REFS

pytestmark = pytest.mark.browser
UNSIGNED = "the commit has no detached metadata: it is not signed"


@pytest.fixture(scope="module")
def released(tmp_path_factory, ostree_available, chromium_executable, signing_key):
    """The app on 127.0.0.1, and the id of the one release behind it."""
    scratch = tmp_path_factory.mktemp("signatures")
    repo = OstreeRepo(scratch / "repo", signing_key)
    repo.commit(DEVELOPER_REFS["x86_64"], "43.1")
    repo.commit(DEVELOPER_REFS["arm64"], "43.1", signed=False)
    repo.update_summary()
    with RepoServer(repo.path) as server:
        config = configuration_for(None, "developer", server.url, 1, scratch, repo.trusted_keys)
        raw = json.loads(config.read_text())
        raw["streams"]["developer"]["signatures"]["required"] = False
        config.write_text(json.dumps(raw))
        with LocalRuntime(config=config) as runtime:
            started = detect.poll("developer")
            assert started.outcome == "started", started.reason
            assert runtime.wait(started.execution_arn).status == "SUCCEEDED"
            with ServedApp() as served:
                yield served.url, started.release_id


def test_each_architecture_says_who_signed_its_commit_or_why_it_went_out_unsigned(browser, released, signing_key):
    url, release_id = released
    with visiting(browser, url) as visit:
        visit.open(f"#/releases/{release_id}")

        expect(visit.page.get_by_test_id("signatures-required")).to_have_text("not required by the stream")
        signed = visit.page.locator('[data-testid="signature"][data-arch="x86_64"]')
        expect(signed).to_have_text(f"signed by {signing_key.fingerprint}")
        expect(signed).to_have_attribute("data-status", "signed")
        unsigned = visit.page.locator('[data-testid="signature"][data-arch="arm64"]')
        expect(unsigned).to_have_text(f"unsigned: {UNSIGNED} (released unsigned: stream developer does not require "
                                      "signatures)")
        expect(unsigned).to_have_attribute("data-status", "unsigned")
        assert visit.fits_the_width()
        assert visit.screenshot("dashboard-release-signatures.png").is_file()
        assert visit.other_origins() == [] and visit.errors == []
