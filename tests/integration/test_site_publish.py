"""The site's pages written beside the stream documents: by Announce for each release, and from
documents in the newer shape (downloads included), each download's size read from the bucket."""

import json
import os
from html import escape

import chalicelib.site.publish
from chalicelib.aws.clients import client
from chalicelib.models.stream_metadata import document
from chalicelib.site import publish_site
from functions import announce
from tests import site_documents as docs
from tests.integration.support import BASE, COPY, STREAM, VERSION, invoke, outcome
from tests.integration.test_announce_and_finalize import IMAGES, NOT_PUBLIC, announce_task, region_images, validated


def s3_object(key: str) -> dict:
    return client("s3").get_object(Bucket=os.environ["METADATA_BUCKET"], Key=key)


def text_of(key: str) -> str:
    return s3_object(key)["Body"].read().decode()


def put(key: str, body: bytes) -> None:
    client("s3").put_object(Bucket=os.environ["METADATA_BUCKET"], Key=key, Body=body)


def put_documents(published) -> None:
    """The three documents of ``published`` as Announce writes them, through their models."""
    put(f"streams/{docs.STREAM}.json", json.dumps(document(published.stream)).encode())
    put(f"streams/{docs.STREAM}/releases.json", json.dumps(document(published.index)).encode())
    put(f"streams/{docs.STREAM}/releases/{docs.CURRENT}.json", json.dumps(document(published.release)).encode())


def test_announce_writes_the_stream_s_page_the_index_and_the_stylesheet(runtime):
    failed = outcome(COPY, "failed", "validate", region_images(IMAGES, COPY), reason=NOT_PUBLIC)

    invoke(announce, announce_task([validated(BASE), failed]))

    page = text_of(f"streams/{STREAM}/index.html")
    assert f'<span data-testid="current-version">{VERSION}</span>' in page
    assert all(f"#LaunchInstances:ami={IMAGES[arch][BASE]}" in page for arch in IMAGES)
    assert f'data-region="{COPY}"' in page and f"validate: {NOT_PUBLIC}" in page
    assert "Partial release: 1 region missing." in page
    assert f'href="releases/{VERSION}.json"' in page
    index = text_of("streams/index.html")
    assert f'data-stream="{STREAM}"' in index and f'<td data-label="Current version">{VERSION}</td>' in index
    assert s3_object("streams/index.html")["ContentType"] == "text/html; charset=utf-8"
    assert s3_object("streams/site.css")["ContentType"] == "text/css; charset=utf-8"


def test_the_site_reads_the_documents_in_the_newer_shape_with_each_download_s_size(runtime):
    put_documents(docs.published())
    disk = docs.artifact("arm64", "qcow2.xz", True, docs.BASE_URL)
    put(disk.location.removeprefix(docs.BASE_URL), b"q" * 5000)

    keys = publish_site(docs.STREAM)

    assert keys == ["streams/index.html", "streams/site.css", f"streams/{docs.STREAM}/index.html"]
    page = text_of(f"streams/{docs.STREAM}/index.html")
    assert "4.9 KiB (5000 bytes)" in page and page.count('data-testid="size"') == 1
    assert f"signed by {escape(docs.SIGNER)}" in page and "2026-12-01T08:00:00Z" in page
    assert docs.MISSING["ap-southeast-2"] in page
    assert page.count('data-testid="history-row"') == len(docs.VERSIONS)
    assert (f"--stream-url {os.environ['PUBLIC_BASE_URL']}streams/{docs.STREAM}.json --arch aarch64 "
            "--format qcow2.xz") in page


def test_a_document_not_in_its_model_s_shape_is_logged_and_the_stream_s_last_page_kept(runtime, monkeypatch):
    warnings = []
    monkeypatch.setattr(chalicelib.site.publish.logger, "warning",
                        lambda message, extra: warnings.append((message, extra["stream"])))
    put_documents(docs.published())
    publish_site(docs.STREAM)
    last_page = text_of(f"streams/{docs.STREAM}/index.html")
    index = document(docs.index())
    del index["releases"][-1]["commit-time"]
    put(f"streams/{docs.STREAM}/releases.json", json.dumps(index).encode())

    keys = publish_site(docs.STREAM)

    assert keys == ["streams/index.html", "streams/site.css"]
    assert text_of(f"streams/{docs.STREAM}/index.html") == last_page
    assert f'data-stream="{docs.STREAM}"' not in text_of("streams/index.html")
    assert warnings == [("site: a published document of the stream does not read as the models say; page not rendered",
                         docs.STREAM)]
