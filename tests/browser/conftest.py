"""A real browser on the maintainers' page: Debian's chromium driven by Playwright, and the app
served on 127.0.0.1 with local releases behind it."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from atomic_release.cli.local_release import detect_release
from atomic_release.local.api_server import ServedApp
from atomic_release.local.demo_repo import configuration_for
from atomic_release.local.ostree_repo import OstreeRepo, ostree_cli
from atomic_release.local.region_faults import parse_fault
from atomic_release.local.repo_server import RepoServer
from atomic_release.local.runtime import LocalRuntime
from atomic_release.local.tools import ToolMissing

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output"
LAPTOP = {"width": 1366, "height": 768}
# What the page shows comes within a second or two, however busy the machine; a page that never
# shows it fails within a minute rather than hanging.
PATIENCE_MS = 60_000
# Chromium as a test needs it: no sandbox (containers), nothing fetched behind the test's back.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def _missing(what: str, fix: str) -> None:
    """Skip where a tool is missing, except under CI, where that fails."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}: CI must install it (.ci/run)")
    pytest.skip(f"{what}; {fix}")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's chromium: Playwright never downloads a browser of its own here."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    if not path:
        _missing("Debian's chromium is not installed", "`make test` installs it where apt-get can")
    return path


@pytest.fixture(scope="module")
def ostree_available() -> str:
    try:
        return ostree_cli()
    except ToolMissing as missing:
        _missing(str(missing), "`make test` installs it where apt-get can")


@pytest.fixture(scope="module")
def browser(chromium_executable):
    """Closed with the module: the rest of the suite runs without Playwright's event loop."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Dashboard:
    url: str
    runtime: LocalRuntime
    repo: OstreeRepo
    releases: dict[str, str]  # what the release shows -> release id

    def commit(self, version: str) -> None:
        for ref in self.runtime.streams.stream("developer").refs.values():
            self.repo.commit(ref, version)
        self.repo.update_summary()

    def release(self, version: str, wait: bool = True) -> str:
        """A new version in the repository, released as the deployed poller releases it."""
        self.commit(version)
        decision = detect_release("developer")
        assert decision.outcome == "started", decision.reason
        if wait:
            self.runtime.wait(decision.execution_arn)
        return decision.release_id


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, ostree_available, chromium_executable, signing_key):
    """The app served on 127.0.0.1 over a local runtime that released the developer stream three
    times from a real ostree repository: once in full, once failed at QA, once partially."""
    scratch = tmp_path_factory.mktemp("dashboard")
    repo = OstreeRepo(scratch / "repo", signing_key)
    with RepoServer(repo.path) as server:
        config = configuration_for(None, "developer", server.url, 3, scratch, repo.trusted_keys)
        with LocalRuntime(config=config) as runtime:
            dashboard = Dashboard(url="", runtime=runtime, repo=repo, releases={})
            dashboard.releases["SUCCEEDED"] = dashboard.release("43.1")
            runtime.simulator.faults.append(parse_fault("qa-fails:arm64"))
            dashboard.releases["FAILED"] = dashboard.release("43.2")
            runtime.simulator.faults.clear()
            runtime.region_faults.faults.append(parse_fault("copy-fails:us-east-2"))
            dashboard.releases["PARTIAL"] = dashboard.release("43.3")
            runtime.region_faults.faults.clear()
            with ServedApp() as served:
                dashboard.url = served.url
                yield dashboard


class Visit:
    """One tab at a laptop's size, recording every request it makes and every script error."""

    def __init__(self, page, base_url: str):
        self.page, self.base_url = page, base_url
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._refused_by_the_policy)

    def _refused_by_the_policy(self, message) -> None:
        """Whatever the page's Content-Security-Policy refused is an error of the page."""
        if message.type == "error" and "Content Security Policy" in message.text:
            self.errors.append(message.text)

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.base_url}/{fragment}")

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def fits_the_width(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    def other_origins(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(f"{self.base_url}/")]


@contextmanager
def visiting(browser, url: str) -> Iterator[Visit]:
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(PATIENCE_MS)
    expect.set_options(timeout=PATIENCE_MS)
    try:
        yield Visit(page, url)
    finally:
        context.close()


@pytest.fixture
def visit(browser, dashboard):
    with visiting(browser, dashboard.url) as tab:
        yield tab
