"""The public image site's pages, rendered from documents built with the models: what each page
says, what it says when a piece is missing, and that no document value reaches the HTML unescaped."""

import re
from dataclasses import replace
from html import unescape
from html.parser import HTMLParser

from atomic_release.cli.main import _parser
from chalicelib.models.documents import (
    AtomicRelease,
    AtomicReleaseArch,
    AtomicReleaseIndex,
    AtomicStream,
    CommitSignature,
)
from chalicelib.models.stream_metadata import Artifact, ImageFormat, Media, PlatformArtifacts, SingleImage
from chalicelib.site import Published, site_pages
from chalicelib.site.render import index_page, launch_url, stream_page, within_stream
from tests import site_documents as docs

HOSTILE = '<script>alert("x")</script>&\'"'


class Links(HTMLParser):
    """Every tag's attributes, and every text, as a browser would parse them."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def hrefs(self) -> list[str]:
        return [attrs["href"] for tag, attrs in self.tags if tag in ("a", "link") and "href" in attrs]


def test_the_stream_page_shows_the_current_release_its_commits_date_signer_and_partial_state():
    html = stream_page(docs.published())

    text = "".join(Links(html).text)
    assert f"Current release: {docs.CURRENT}" in text
    for arch in ("x86_64", "aarch64"):
        assert docs.commit(docs.CURRENT, "x86_64" if arch == "x86_64" else "arm64") in text
    assert "2026-12-01T08:00:00Z" in text
    assert f"signed by {docs.SIGNER}" in text and "not checked" in text
    assert "Partial release: 1 region missing." in text
    assert f"ap-southeast-2: {docs.MISSING['ap-southeast-2']}" in text


def test_every_region_s_ami_has_a_launch_link_to_that_region_s_console_on_that_ami():
    hrefs = Links(stream_page(docs.published())).hrefs()

    for arch in ("x86_64", "arm64"):
        for region, image in docs.regions_of(arch).items():
            assert (f"https://{region}.console.aws.amazon.com/ec2/home?region={region}"
                    f"#LaunchInstances:ami={image.image}") in hrefs
    assert len([h for h in hrefs if "#LaunchInstances:" in h]) == 2 * len(docs.REGIONS)


def test_a_region_keeping_an_older_release_says_which():
    html = stream_page(docs.published())

    row = re.search(r'<tr data-testid="ami-row" data-arch="x86_64" data-region="ap-southeast-2">.*?</tr>', html)
    assert row and f"{docs.PREVIOUS} <span class=\"older\">(an older release)</span>" in row.group(0)


def test_downloads_link_relatively_with_their_sums_signature_size_and_how_to_verify():
    html = stream_page(docs.published())
    hrefs = Links(html).hrefs()
    text = "".join(Links(html).text)

    raw = docs.artifact("x86_64", "raw.xz", True, docs.BASE_URL)
    relative = f"builds/{docs.CURRENT}/x86_64/atomic-{docs.CURRENT}-metal.x86_64.raw.xz"
    assert relative in hrefs and relative + ".sig" in hrefs
    assert raw.sha256 in text and raw.uncompressed_sha256 in text
    assert "1.2 GiB (1288490189 bytes)" in text
    name = relative.rsplit("/", 1)[-1]
    assert f'echo "{raw.sha256}  {name}" | sha256sum -c' in text
    assert f"gpg --verify {name}.sig {name}" in text
    assert (f"atomic-release images download --stream-url {docs.BASE_URL}streams/stable.json --arch x86_64 "
            "--format raw.xz") in text
    assert len(re.findall(r'data-testid="download"', html)) == 4


def test_signed_downloads_link_the_stream_s_key_and_show_its_fingerprint_to_import():
    html = stream_page(docs.published())
    text = "".join(Links(html).text)

    assert "artifact-signing-key.asc" in Links(html).hrefs()
    assert f"curl -LO {docs.BASE_URL}streams/{docs.STREAM}/artifact-signing-key.asc" in text
    assert "gpg --import artifact-signing-key.asc" in text
    assert f"gpg --fingerprint {docs.ARTIFACT_SIGNER}" in text
    assert html.count(f'data-testid="fingerprint">{docs.ARTIFACT_SIGNER}<') == 4


def test_unsigned_images_say_so_and_offer_no_signature():
    html = stream_page(docs.published(signed=False))

    assert "gpg --verify" not in html and ".sig" not in html
    assert "artifact-signing-key.asc" not in html
    assert html.count('data-testid="unsigned"') == 4


def test_the_history_lists_every_release_newest_first_each_linking_its_document():
    html = stream_page(docs.published())

    assert re.findall(r'data-testid="history-row" data-version="([^"]+)"', html) == docs.VERSIONS[::-1]
    assert all(f"releases/{version}.json" in Links(html).hrefs() for version in docs.VERSIONS)


def test_pages_link_each_other_and_their_stylesheet_relatively_and_load_nothing_else():
    pages = site_pages([docs.published()])

    assert set(pages) == {"streams/index.html", "streams/site.css", "streams/stable/index.html"}
    index, page = Links(pages["streams/index.html"]), Links(pages["streams/stable/index.html"])
    assert {"site.css", "stable/index.html", "stable.json"} <= set(index.hrefs())
    assert {"../site.css", "../index.html", "../stable.json", "releases.json"} <= set(page.hrefs())
    for parsed in (index, page):
        assert not [tag for tag, _ in parsed.tags if tag in ("script", "img", "iframe", "style", "object")]
        assert all(attrs.get("href", "").startswith(("https://", "../", "releases", "builds", "stable", "site",
                                                           "artifact-signing-key.asc"))
                   for tag, attrs in parsed.tags if tag in ("a", "link"))
    assert "@import" not in pages["streams/site.css"] and "url(" not in pages["streams/site.css"]


def test_a_stream_without_downloads_index_or_release_document_renders_what_there_is():
    bare = Published(stream=AtomicStream.model_validate({
        "stream": "next", "metadata": {"last-modified": "2026-12-01T10:00:00Z"},
        "architectures": {"x86_64": {"artifacts": {}, "images": {"aws": {"regions": {
            "us-east-1": {"release": "44.1", "image": "ami-0123456789abcdef0"}}}}}}}))

    html = stream_page(bare)

    text = "".join(Links(html).text)
    assert "Current release: 44.1" in text and "not checked" in text and "unknown" in text
    assert "No downloadable image is published." in text and "None yet." in text
    assert 'data-testid="missing-regions"' not in html and "Partial release" not in text
    assert launch_url("us-east-1", "ami-0123456789abcdef0") in Links(html).hrefs()


def test_a_stream_with_no_image_at_all_has_no_current_release():
    empty = Published(stream=AtomicStream.model_validate({"stream": "new", "metadata": {"last-modified": "x"},
                                                    "architectures": {}}))

    assert "No release yet." in stream_page(empty)
    assert '<td data-label="Current version">none</td>' in index_page([empty])


def test_a_hostile_value_in_any_document_is_escaped_and_never_becomes_a_link():
    good = docs.published()
    x86 = good.stream.architectures["x86_64"]
    hostile_disk = Artifact(location="javascript:alert(1)//" + HOSTILE, signature="data:text/html," + HOSTILE,
                            sha256=HOSTILE, uncompressed_sha256=HOSTILE)
    hostile_arch = x86.model_copy(update={
        "artifacts": {HOSTILE: PlatformArtifacts(release=HOSTILE, formats={HOSTILE: ImageFormat(disk=hostile_disk)})},
        "images": x86.images.model_copy(update={"aws": x86.images.aws.model_copy(update={"regions": {
            HOSTILE: SingleImage(release=HOSTILE, image=HOSTILE),
            "us-east-1": SingleImage(release=docs.CURRENT, image='ami-1" onfocus="alert(1)')}})})})
    hostile_signature = CommitSignature(verified=True, signed_by=HOSTILE, signers=[HOSTILE], reason=HOSTILE)
    hostile = replace(
        good, stream=good.stream.model_copy(update={"stream": HOSTILE, "architectures": {HOSTILE: hostile_arch}}),
        release=good.release.model_copy(update={"missing_regions": {HOSTILE: HOSTILE}, "architectures": {
            HOSTILE: AtomicReleaseArch(commit=HOSTILE, media=Media(), commit_signature=hostile_signature)}}),
        index=good.index.model_copy(update={"releases": [
            r.model_copy(update={"commit_time": HOSTILE}) for r in good.index.releases]}),
        document_url=HOSTILE)

    for html in (stream_page(hostile), index_page([hostile])):
        parsed = Links(html)
        assert "<script>" not in html and not [tag for tag, _ in parsed.tags if tag == "script"]
        assert all(set(attrs) <= {"href", "rel", "data-testid", "data-stream", "data-label", "data-arch", "data-region",
                                  "data-format", "data-version", "class", "lang", "charset", "name", "content",
                                  "scope", "id", "aria-labelledby"} for _, attrs in parsed.tags)
        assert not [h for h in parsed.hrefs() if h.startswith(("javascript:", "data:"))]
        assert not [h for h in parsed.hrefs() if "#LaunchInstances:" in h and "onfocus" in h]
    assert HOSTILE in "".join(Links(stream_page(hostile)).text)


def test_a_launch_link_is_made_only_of_a_region_and_an_ami_id():
    assert launch_url("eu-west-1", "ami-0123456789abcdef0") == (
        "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#LaunchInstances:ami=ami-0123456789abcdef0")
    assert launch_url("evil.example/x", "ami-0123456789abcdef0") is None
    assert launch_url("us-east-1", "ami-1#x") is None


def test_a_location_outside_the_stream_s_prefix_is_not_made_relative():
    assert within_stream("https://h/streams/stable/builds/1/x.raw.xz", "stable") == "builds/1/x.raw.xz"
    assert within_stream("https://h/streams/next/builds/1/x.raw.xz", "stable") is None
    assert within_stream("https://h/streams/stable/../secret", "stable") is None


def test_the_fields_announce_writes_beside_fedora_coreos_s_are_read_through_the_extension_models():
    index = AtomicReleaseIndex.model_validate({"stream": "s", "metadata": {"last-modified": "t"}, "releases": [
        {"version": "1", "commit-time": "2026-01-01T00:00:00Z", "metadata": "https://h/streams/s/releases/1.json",
         "commits": [{"architecture": "x86_64", "checksum": "c" * 64}]}]})
    release = AtomicRelease.model_validate({"release": "1", "stream": "s", "missing-regions": {"r": "why"},
                                            "architectures": {"x86_64": {
                                                "commit": "c" * 64, "commit-signature": {
                                                    "verified": False, "signed-by": None, "signers": [],
                                                    "reason": "no key"},
                                                "media": {"aws": {"images": {"r2": {"image": "ami-1"}}}}}}})
    stream = AtomicStream.model_validate({"stream": "s", "metadata": {"last-modified": "t"}, "architectures": {
        "x86_64": {"images": {"aws": {"regions": {"r2": {"release": "1", "image": "ami-1"}}}}}}})

    page = stream_page(Published(stream=stream, index=index, release=release))

    text = "".join(Links(page).text)
    assert "not verified: no key" in text and "2026-01-01T00:00:00Z" in text and "r: why" in text
    assert "releases/1.json" in Links(page).hrefs()


def test_the_verify_command_names_the_public_stream_document_and_the_cli_accepts_it():
    published = replace(docs.published(), document_url="https://images.example.org/streams/stable.json")

    commands = [line for block in re.findall(r"<pre>(.*?)</pre>", stream_page(published), re.S)
                for line in unescape(block).splitlines() if line.startswith("atomic-release images download")]

    assert len(commands) == 4 and {c.split()[c.split().index("--arch") + 1] for c in commands} == {"x86_64", "aarch64"}
    for command in commands:
        args = _parser().parse_args(command.split()[1:])
        assert args.stream_url == "https://images.example.org/streams/stable.json"
        assert (args.images_command, args.format) == ("download", command.rsplit(" ", 1)[-1])
