"""The site's pages written beside the stream documents: by Announce for each release, and from
documents in the newer shape (downloads included), each download's size read from the bucket."""

import json
import os
from html import escape

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
    published = docs.published()
    put(f"streams/{docs.STREAM}.json", json.dumps(document(published.stream)).encode())
    index = document(published.index)
    for entry in index["releases"]:
        entry["commit-time"] = published.commit_times[entry["version"]]
    put(f"streams/{docs.STREAM}/releases.json", json.dumps(index).encode())
    release = document(published.release)
    release["missing-regions"] = dict(docs.MISSING)
    release["architectures"]["x86_64"]["commit-signature"] = dict(published.signatures["x86_64"])
    put(f"streams/{docs.STREAM}/releases/{docs.CURRENT}.json", json.dumps(release).encode())
    disk = docs.artifact("arm64", "qcow2.xz", True, docs.BASE_URL)
    put(disk.location.removeprefix(docs.BASE_URL), b"q" * 5000)

    keys = publish_site(docs.STREAM)

    assert keys == ["streams/index.html", "streams/site.css", f"streams/{docs.STREAM}/index.html"]
    page = text_of(f"streams/{docs.STREAM}/index.html")
    assert "4.9 KiB (5000 bytes)" in page and page.count('data-testid="size"') == 1
    assert f"signed by {escape(docs.SIGNER)}" in page and "2026-12-01T08:00:00Z" in page
    assert docs.MISSING["ap-southeast-2"] in page
    assert page.count('data-testid="history-row"') == len(docs.VERSIONS)
