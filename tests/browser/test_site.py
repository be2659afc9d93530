"""The public image site in Debian's chromium: pages rendered from documents built with the
models (a partial release with downloads), served as files from 127.0.0.1 as the bucket serves
them, and checked as a consumer uses them: with a mouse, with the keyboard, on a phone."""

import json

import pytest
from playwright.sync_api import expect

from atomic_release.local.repo_server import RepoServer
from chalicelib.models.stream_metadata import document
from chalicelib.site import site_pages
from tests import site_documents as docs
from tests.browser.conftest import visiting

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 812}
LAPTOP = {"width": 1366, "height": 768}
STREAM_PAGE = f"streams/{docs.STREAM}/index.html"


def write_site(root, published) -> None:
    """The site's files under their bucket keys, with the documents and downloads they link."""
    files = {**site_pages([published]),
             f"streams/{docs.STREAM}.json": json.dumps(document(published.stream)),
             f"streams/{docs.STREAM}/releases.json": json.dumps(document(published.index)),
             **{f"streams/{docs.STREAM}/releases/{v}.json": json.dumps({"release": v}) for v in docs.VERSIONS}}
    base_url = published.document_url.removesuffix(f"streams/{docs.STREAM}.json")
    for arch in published.stream.architectures.values():
        for artifacts in arch.artifacts.values():
            for image in artifacts.formats.values():
                for location in (image.disk.location, image.disk.signature):
                    key = location.removeprefix(base_url)
                    files[key] = f"the bytes of {key}"
    files["index.html"] = files["streams/index.html"]  # at "/", as CloudFront's default root object
    for key, text in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text(text)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    with RepoServer(root) as server:
        published = docs.published(base_url=server.url)
        write_site(root, published)
        yield server.url.rstrip("/"), published, root


@pytest.fixture
def tab(browser, site):
    with visiting(browser, site[0]) as visit:
        yield visit


def test_every_region_s_launch_link_opens_the_console_on_that_region_s_ami(tab, site):
    tab.open(STREAM_PAGE)

    rows = tab.page.get_by_test_id("ami-row")
    expect(rows).to_have_count(2 * len(docs.REGIONS))
    for arch in ("x86_64", "arm64"):
        ostree = "aarch64" if arch == "arm64" else arch
        for region, image in docs.regions_of(arch).items():
            row = tab.page.locator(f'[data-testid="ami-row"][data-arch="{ostree}"][data-region="{region}"]')
            expect(row.locator("code")).to_have_text(image.image)
            expect(row.get_by_test_id("launch")).to_have_attribute(
                "href", f"https://{region}.console.aws.amazon.com/ec2/home?region={region}"
                        f"#LaunchInstances:ami={image.image}")
    assert tab.other_origins() == [] and tab.errors == []


def test_every_download_and_signature_link_serves_its_file_from_the_site(tab, site):
    base_url, published, root = site
    tab.open(STREAM_PAGE)

    downloads = tab.page.get_by_test_id("download")
    expect(downloads).to_have_count(4)
    links = tab.page.get_by_test_id("download-link").evaluate_all("links => links.map(a => a.href)")
    signatures = tab.page.get_by_test_id("signature").evaluate_all("links => links.map(a => a.href)")
    expected = [image.disk for _, arch in sorted(published.stream.architectures.items())
                for _, artifacts in sorted(arch.artifacts.items()) for image in artifacts.formats.values()]
    assert links == [disk.location for disk in expected]
    assert signatures == [disk.signature for disk in expected]
    for href in links + signatures:
        answer = tab.page.request.get(href)
        assert answer.status == 200 and answer.text() == f"the bytes of {href.removeprefix(base_url + '/')}"
    first = downloads.first
    expect(first.get_by_test_id("sha256")).to_have_text(expected[0].sha256)
    expect(first.get_by_test_id("uncompressed-sha256")).to_have_text(expected[0].uncompressed_sha256)
    expect(first.locator("pre")).to_contain_text("sha256sum -c")
    expect(first.locator("pre")).to_contain_text(f"atomic-release images download --stream-url {base_url}/streams/")


def test_downloads_come_from_where_the_site_is_served_even_when_the_documents_name_another_address(
        browser, tmp_path):
    """A --publish-dir served on another port than its PUBLIC_BASE_URL: the page's own links
    still reach its files, and only the verify command names the documents' address."""
    published = docs.published(base_url="http://127.0.0.1:8000/")
    write_site(tmp_path, published)

    with RepoServer(tmp_path) as server, visiting(browser, server.url.rstrip("/")) as tab:
        tab.open(STREAM_PAGE)
        links = tab.page.locator('[data-testid="download-link"], [data-testid="signature"]').evaluate_all(
            "links => links.map(a => a.href)")

        assert len(links) == 8 and all(href.startswith(server.url + "streams/") for href in links)
        assert all(tab.page.request.get(href).status == 200 for href in links)
        expect(tab.page.get_by_test_id("download").first.locator("pre")).to_contain_text(
            f"--stream-url {published.document_url}")
        assert tab.other_origins() == [] and tab.errors == []


def test_the_partial_release_shows_which_regions_are_missing_and_why(tab):
    tab.open(STREAM_PAGE)

    expect(tab.page.get_by_test_id("partial")).to_have_text("Partial release: 1 region missing.")
    missing = tab.page.get_by_test_id("missing-region")
    expect(missing).to_have_count(len(docs.MISSING))
    region, why = next(iter(docs.MISSING.items()))
    expect(missing.first).to_have_attribute("data-region", region)
    expect(missing.first).to_have_text(f"{region}: {why}")
    expect(tab.page.get_by_test_id("missing-regions")).to_be_visible()


@pytest.mark.parametrize(("width", "viewport"), [("phone", PHONE), ("laptop", LAPTOP)])
def test_both_pages_fit_the_width_and_ask_nothing_of_another_origin(tab, width, viewport):
    tab.page.set_viewport_size(viewport)
    tab.open("streams/index.html")
    expect(tab.page.get_by_test_id("stream-row")).to_have_count(1)
    assert tab.fits_the_width()
    tab.screenshot(f"site-index-{width}.png")  # for people: test-output/

    tab.page.get_by_role("link", name=docs.STREAM, exact=True).click()

    expect(tab.page.get_by_test_id("current-version")).to_have_text(docs.CURRENT)
    assert tab.page.url.endswith(f"/{STREAM_PAGE}")
    assert tab.fits_the_width()
    tab.screenshot(f"site-stream-{width}.png")
    assert any(url.endswith("/streams/site.css") for url in tab.requests)
    assert tab.other_origins() == [] and tab.errors == []


def test_the_index_served_at_the_root_links_the_stream_pages_under_streams(tab):
    tab.open()

    tab.page.get_by_role("link", name=docs.STREAM, exact=True).click()

    expect(tab.page.get_by_test_id("current-version")).to_have_text(docs.CURRENT)
    assert tab.page.url == f"{tab.base_url}/{STREAM_PAGE}"
    assert f"{tab.base_url}/streams/site.css" in tab.requests
    assert tab.other_origins() == [] and tab.errors == []


def test_the_keyboard_reaches_every_link_and_shows_where_it_is(tab):
    tab.page.set_viewport_size(PHONE)
    tab.open(STREAM_PAGE)
    links = tab.page.locator("a").evaluate_all("links => links.map((a, i) => (a.dataset.order = i, i))")

    reached, outlines = [], set()
    for _ in range(len(links) + 20):
        tab.page.keyboard.press("Tab")
        focused = tab.page.evaluate("""() => { const e = document.activeElement;
            return e.tagName === 'A' ? [Number(e.dataset.order), getComputedStyle(e).outlineStyle] : null; }""")
        if focused:
            reached.append(focused[0])
            outlines.add(focused[1])
        if len(set(reached)) == len(links):
            break

    assert sorted(set(reached)) == links
    assert reached == sorted(reached), "Tab follows the page's order"
    assert outlines == {"solid"}

