"""The maintainers' page in Debian's chromium: the releases table, a failed release, a partial
one, a running one followed live, and errors, all read from the app on 127.0.0.1."""

import re

import pytest
import requests
from playwright.sync_api import expect

from atomic_release.local.simulator import Fault
from chalicelib.store import records
from tests.api_gateway import StageGateway
from tests.browser.conftest import visiting
from tests.helpers import wait_until

pytestmark = pytest.mark.browser
REGIONS = ["us-east-1", "us-east-2", "us-west-1"]
ARCHES = ["arm64", "x86_64"]


def test_the_releases_table_shows_every_release_newest_first(visit, dashboard):
    visit.open()

    rows = visit.page.get_by_test_id("release-row")
    expect(rows).to_have_count(3)
    expect(visit.page.get_by_test_id("releases-table")).to_be_visible()
    assert [rows.nth(i).get_attribute("data-release") for i in range(3)] == [
        dashboard.releases[status] for status in ("PARTIAL", "FAILED", "SUCCEEDED")]
    for version, status in (("43.1", "SUCCEEDED"), ("43.2", "FAILED"), ("43.3", "PARTIAL")):
        row = visit.page.locator(f'[data-testid="release-row"][data-release="{dashboard.releases[status]}"]')
        expect(row.locator('[data-col="stream"]')).to_have_text("developer")
        expect(row.locator('[data-col="version"]')).to_have_text(version)
        expect(row.locator('[data-col="status"] .badge')).to_have_attribute("data-status", status)
        expect(row.locator('[data-col="trigger"]')).to_have_text("poller")
    partial = visit.page.locator(f'[data-release="{dashboard.releases["PARTIAL"]}"] [data-col="note"]')
    expect(partial).to_have_text("1 region missing: us-east-2")
    failed = visit.page.locator(f'[data-release="{dashboard.releases["FAILED"]}"] [data-col="note"]')
    expect(failed).to_contain_text("QAFailed: arm64: system-state")
    expect(visit.page.get_by_test_id("more")).to_be_hidden()
    assert visit.fits_the_width()
    assert visit.screenshot("dashboard-releases.png").is_file()

    visit.page.get_by_test_id("filter-status").select_option("FAILED")

    expect(visit.page).to_have_url(re.compile(r"#/\?status=FAILED$"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-release", dashboard.releases["FAILED"])

    visit.page.get_by_test_id("release-row").first.locator('[data-col="version"]').click()

    expect(visit.page).to_have_url(re.compile(rf"#/releases/{dashboard.releases['FAILED']}$"))
    expect(visit.page.get_by_test_id("release-header")).to_contain_text("43.2")
    assert visit.other_origins() == [] and visit.errors == []


def test_more_follows_the_next_token(visit, dashboard):
    visit.page.route(re.compile(r"/releases\?"), lambda route: route.continue_(
        url=route.request.url.replace("limit=20", "limit=2")))
    visit.open()

    expect(visit.page.get_by_test_id("release-row")).to_have_count(2)
    visit.page.get_by_test_id("more").click()

    expect(visit.page.get_by_test_id("release-row")).to_have_count(3)
    expect(visit.page.get_by_test_id("more")).to_be_hidden()
    assert any("next_token=" in url for url in visit.requests)
    assert visit.other_origins() == [] and visit.errors == []


def test_a_release_failed_at_qa_shows_the_failed_build_stage_and_its_reason(visit, dashboard):
    release_id = dashboard.releases["FAILED"]
    visit.open(f"#/releases/{release_id}")

    header = visit.page.get_by_test_id("release-header")
    expect(header.get_by_test_id("release-stream")).to_have_text("developer")
    expect(header.get_by_test_id("release-version")).to_have_text("43.2")
    expect(header.get_by_test_id("release-status").locator(".badge")).to_have_text("FAILED")
    expect(header.get_by_test_id("failure")).to_contain_text(
        "evaluate-qa (arm64) failed: QAFailed: arm64: system-state: expected 'running', got 'degraded")
    stages = visit.page.get_by_test_id("stage")
    expect(stages).to_have_count(8)
    assert stages.evaluate_all("items => items.map(item => item.dataset.stage)") == [
        "prepare", "build", "preflight", "distribute", "validate", "announce", "marketplace", "finalize"]
    expect(visit.page.locator('[data-testid="stage"][data-stage="prepare"]')).to_have_attribute(
        "data-status", "succeeded")
    expect(visit.page.locator('[data-testid="stage"][data-stage="build"]')).to_have_attribute("data-status", "failed")
    expect(visit.page.locator('[data-testid="stage"][data-stage="distribute"]')).to_have_attribute(
        "data-status", "not-run")
    reason = visit.page.locator('[data-testid="stage-reason"][data-stage="build"]')
    expect(reason).to_be_visible()
    expect(reason).to_contain_text("build failed: evaluate-qa (arm64) failed: QAFailed: arm64: system-state")
    arm64 = visit.page.locator('[data-testid="arch-row"][data-arch="arm64"]')
    expect(arm64.locator('[data-step="qa"] .badge')).to_have_text("failed")
    expect(arm64.locator('[data-check="system-state"]')).to_have_attribute("data-passed", "false")
    expect(arm64.locator('[data-check="system-state"]')).to_contain_text("got degraded")
    expect(visit.page.locator('[data-testid="arch-row"][data-arch="x86_64"] [data-step="qa"] .badge')).to_have_text(
        "succeeded")
    expect(visit.page.locator('[data-testid="region-row"]')).to_have_count(3)
    for region in REGIONS:
        expect(visit.page.locator(f'[data-testid="region-row"][data-region="{region}"]')).to_have_attribute(
            "data-status", "not-run")
    expect(visit.page.get_by_test_id("live")).not_to_contain_text("live")
    [run] = requests.get(f"{dashboard.url}/releases/{release_id}", timeout=30).json()["runs"]
    expect(header.get_by_test_id("failure-console")).to_have_attribute("href", run["console_url"])
    expect(header.get_by_test_id("failure-console")).to_contain_text("input, error and cause")
    expect(visit.page.get_by_test_id("run").get_by_test_id("run-console")).to_have_attribute("href", run["console_url"])
    assert visit.fits_the_width()
    assert visit.screenshot("dashboard-release-failed.png").is_file()
    assert visit.other_origins() == [] and visit.errors == []


def test_a_partial_release_shows_every_image_and_why_a_region_is_missing(visit, dashboard):
    release_id = dashboard.releases["PARTIAL"]
    record = records.get(release_id)
    visit.open(f"#/releases/{release_id}")

    expect(visit.page.get_by_test_id("release-header").locator(".badge").first).to_have_text("PARTIAL")
    expect(visit.page.get_by_test_id("missing-regions")).to_contain_text("us-east-2 copy: ")
    rows = visit.page.locator('[data-testid="region-row"]')
    expect(rows).to_have_count(3)
    assert rows.evaluate_all("rows => rows.map(row => row.dataset.region)") == REGIONS
    for region in ("us-east-1", "us-west-1"):
        expect(visit.page.locator(f'[data-testid="region-row"][data-region="{region}"]')).to_have_attribute(
            "data-status", "validated")
        for arch in ARCHES:
            cell = visit.page.locator(f'[data-testid="cell"][data-region="{region}"][data-arch="{arch}"]')
            expect(cell.get_by_test_id("cell-image")).to_have_text(record.images[arch][region])
            expect(cell).to_contain_text("public yes")
    failed = visit.page.locator('[data-testid="region-row"][data-region="us-east-2"]')
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed.locator('[data-col="stage"]')).to_have_text("copy")
    expect(failed.get_by_test_id("region-reason")).to_have_text(re.compile(
        r"^arm64 ami-[0-9a-f]+ is failed, x86_64 ami-[0-9a-f]+ is failed$"))
    expect(failed.locator('[data-testid="cell"][data-arch="x86_64"]')).to_contain_text("public no")
    expect(visit.page.locator('[data-testid="stage"][data-stage="finalize"]')).to_have_attribute(
        "data-status", "succeeded")
    expect(visit.page.get_by_test_id("change-set")).to_have_count(2)
    expect(visit.page.locator('[data-testid="change-set"][data-arch="arm64"]')).to_contain_text(
        "prod-example0armstable")
    expect(visit.page.get_by_test_id("run")).to_have_count(1)
    expect(visit.page.get_by_test_id("run")).to_contain_text("SUCCEEDED")
    assert visit.fits_the_width()
    assert visit.screenshot("dashboard-release-partial.png").is_file()
    assert visit.other_origins() == [] and visit.errors == []


def test_a_release_published_with_errors_is_a_warning_with_what_failed_and_is_listed_by_its_status(visit,
                                                                                                 dashboard):
    """Recorded as a failure after Announce leaves it (the succeeded release's record, restored after)."""
    release_id = dashboard.releases["SUCCEEDED"]
    record = records.get(release_id)
    failure = "marketplace failed: RuntimeError: no catalog; the release is out: its images stay public and announced"

    def mark(status: str, failed: tuple[str, str] | None = None) -> None:
        records.mark_finished(release_id, status, record.images, record.metadata_url, record.built_images,
                              record.region_states, record.marketplace, failed)

    mark("PUBLISHED_WITH_ERRORS", ("marketplace", failure))
    try:
        visit.open(f"#/releases/{release_id}")
        badge = visit.page.get_by_test_id("release-header").get_by_test_id("release-status").locator(".badge")
        expect(badge).to_have_text("PUBLISHED WITH ERRORS")
        expect(badge).to_have_class(re.compile(r"\btone-warn\b"))
        expect(visit.page.get_by_test_id("release-header").get_by_test_id("failure")).to_have_text(failure)

        visit.open("#/?status=PUBLISHED_WITH_ERRORS")
        expect(visit.page.get_by_test_id("release-row")).to_have_count(1)
        expect(visit.page.get_by_test_id("release-row").first).to_have_attribute("data-release", release_id)
        assert visit.other_origins() == [] and visit.errors == []
    finally:
        mark("SUCCEEDED")


def test_api_errors_are_shown_as_text_on_the_page(visit, dashboard):
    visit.open("#/releases/developer-nothing-000000000000")

    expect(visit.page.get_by_test_id("error")).to_contain_text("no release developer-nothing-000000000000 is recorded")
    expect(visit.page.get_by_test_id("release-unavailable")).to_be_visible()

    visit.open('#/?stream=<b id="injected">bold</b>')

    expect(visit.page.get_by_test_id("error")).to_contain_text("""unknown stream '<b id="injected">bold</b>'""")
    assert visit.page.locator("#injected").count() == 0
    assert visit.other_origins() == [] and visit.errors == []


def test_the_table_refreshes_every_ten_seconds(visit, dashboard):
    visit.page.clock.install()
    visit.open()
    expect(visit.page.get_by_test_id("release-row")).to_have_count(3)

    with visit.page.expect_request(re.compile(r"/releases\?")):
        visit.page.clock.run_for(10_000)

    expect(visit.page.get_by_test_id("release-row")).to_have_count(3)
    assert visit.other_origins() == [] and visit.errors == []


def test_the_page_works_under_a_stage_prefix(browser, dashboard):
    """As API Gateway serves it: every URL of the page is relative, so /api/ reads /api/releases,
    and the app moves /api to /api/ (its script is not inline: the page cannot move itself)."""
    with StageGateway(dashboard.url) as gateway, visiting(browser, gateway.url) as visit:
        visit.open("api")

        expect(visit.page).to_have_url(f"{gateway.url}/api/")
        expect(visit.page.get_by_test_id("release-row")).to_have_count(3)
        expect(visit.page.locator(".badge").first).to_have_css("border-radius", "999px")  # the stylesheet is read
        assert {f"{gateway.url}/api/assets/app.css", f"{gateway.url}/api/assets/app.js"} <= set(visit.requests)
        assert not [url for url in visit.requests if url.startswith(f"{gateway.url}/assets/")]
        reads = [url for url in visit.requests if "/releases" in url]
        assert reads and all(url.startswith(f"{gateway.url}/api/releases?") for url in reads)
        assert visit.other_origins() == [] and visit.errors == []


def test_a_running_release_is_followed_until_it_ends(visit, dashboard):
    runtime = dashboard.runtime
    runtime.simulator.faults.append(Fault.parse("builder-hangs:arm64"))
    visit.page.clock.install()   # time goes on; run_for makes it go faster

    def reads() -> int:
        return sum(url.endswith(f"/releases/{release_id}") for url in visit.requests)

    try:
        release_id = dashboard.release("43.4", wait=False)
        wait_until(lambda: runtime.simulator.guests_working and records.get(release_id), "the arm64 builder at work")
        visit.open(f"#/releases/{release_id}")

        expect(visit.page.get_by_test_id("live")).to_contain_text("live")
        expect(visit.page.locator('[data-testid="stage"][data-stage="build"]')).to_have_attribute(
            "data-status", "running")
        expect(visit.page.locator('[data-testid="arch-row"][data-arch="arm64"] [data-step="builder"] .badge')
               ).to_have_text("running")
        assert visit.screenshot("dashboard-release-running.png").is_file()
        with visit.page.expect_request(f"{dashboard.url}/releases/{release_id}"):
            visit.page.clock.run_for(3_000)

        visit.page.get_by_test_id("back").click()
        expect(visit.page.get_by_test_id("release-row")).to_have_count(4)
        left_at = reads()
        visit.page.clock.run_for(10_000)
        assert reads() == left_at, "the release is no longer read once the page shows another"
        visit.page.go_back()
        expect(visit.page.get_by_test_id("live")).to_contain_text("live")
    finally:
        runtime.simulator.faults.clear()
        runtime.simulator.finish_hung_guests()
    assert runtime.wait(records.get(release_id).execution_arn).status == "SUCCEEDED"

    status = visit.page.get_by_test_id("release-status").locator(".badge")
    expect(status).to_have_text("SUCCEEDED")
    expect(visit.page.get_by_test_id("live")).not_to_contain_text("live")
    ended_at = reads()
    visit.page.clock.run_for(10_000)
    assert reads() == ended_at, "a release that ended is not read again"
    assert visit.other_origins() == [] and visit.errors == []
