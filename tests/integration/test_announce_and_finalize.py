"""announce: stream metadata in S3 and a message on the release topic; finalize: the record says so."""

import json
import os
import re

import pytest
from botocore.exceptions import ClientError

from chalicelib import records
from chalicelib.aws import client
from chalicelib.errors import AnnounceFailed, InvalidReleaseInput
from functions import announce, finalize
from tests.integration.support import BASE, COPY, RELEASE_ID, STREAM, VERSION, invoke

METADATA_KEY = f"streams/{STREAM}.json"
PUBLISHED = [
    {"region": BASE, "images": [{"arch": "x86_64", "image_id": "ami-0000000000000e1x8", "state": "available"},
                                {"arch": "arm64", "image_id": "ami-0000000000000e1a6", "state": "available"}]},
    {"region": COPY, "images": [{"arch": "x86_64", "image_id": "ami-0000000000000e2x8", "state": "available"},
                                {"arch": "arm64", "image_id": "ami-0000000000000e2a6", "state": "available"}]},
]
IMAGES = {"x86_64": {BASE: "ami-0000000000000e1x8", COPY: "ami-0000000000000e2x8"},
          "arm64": {BASE: "ami-0000000000000e1a6", COPY: "ami-0000000000000e2a6"}}


def announce_task(published: list[dict] = PUBLISHED) -> dict:
    return {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION, "published": published}


def metadata_object() -> dict:
    return client("s3").get_object(Bucket=os.environ["METADATA_BUCKET"], Key=METADATA_KEY)


def stream_document() -> dict:
    return json.loads(metadata_object()["Body"].read())


def test_announce_writes_stream_metadata_in_coreos_format(runtime):
    announcement = invoke(announce, announce_task())

    assert announcement["metadata_url"] == f"s3://{os.environ['METADATA_BUCKET']}/{METADATA_KEY}"
    document = stream_document()
    assert document["stream"] == STREAM
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["metadata"]["last-modified"])
    assert set(document["architectures"]) == {"x86_64", "aarch64"}
    for coreos_arch, arch in (("x86_64", "x86_64"), ("aarch64", "arm64")):
        assert document["architectures"][coreos_arch]["images"]["aws"]["regions"] == {
            region: {"release": VERSION, "image": image_id} for region, image_id in IMAGES[arch].items()}


def test_stream_metadata_is_served_as_json_with_a_short_cache(runtime):
    invoke(announce, announce_task())

    stored = metadata_object()
    assert stored["ContentType"] == "application/json"
    assert stored["CacheControl"] == "public, max-age=60"


def test_announce_keeps_the_architectures_this_release_did_not_build(runtime):
    earlier = {"stream": STREAM, "metadata": {"last-modified": "2026-01-01T00:00:00Z"}, "architectures": {
        "aarch64": {"artifacts": {"metal": {"release": "42.1"}}, "images": {"aws": {"regions": {
            BASE: {"release": "42.1", "image": "ami-00000000000042a6"}}}}},
        "ppc64le": {"artifacts": {"metal": {"release": "42.1"}}}}}
    client("s3").put_object(Bucket=os.environ["METADATA_BUCKET"], Key=METADATA_KEY, Body=json.dumps(earlier))
    x86_64_only = [{"region": r["region"], "images": [i for i in r["images"] if i["arch"] == "x86_64"]}
                   for r in PUBLISHED]

    invoke(announce, announce_task(x86_64_only))

    document = stream_document()
    assert document["architectures"]["aarch64"] == earlier["architectures"]["aarch64"]
    assert document["architectures"]["ppc64le"] == earlier["architectures"]["ppc64le"]
    assert document["architectures"]["x86_64"]["images"]["aws"]["regions"][BASE]["release"] == VERSION
    assert document["metadata"]["last-modified"] != "2026-01-01T00:00:00Z"


def test_announce_keeps_other_artifacts_of_a_built_architecture(runtime):
    earlier = {"stream": STREAM, "metadata": {}, "architectures": {"x86_64": {
        "artifacts": {"qemu": {"release": "42.1"}}, "images": {"gcp": {"name": "fedora-coreos-42-1"}}}}}
    client("s3").put_object(Bucket=os.environ["METADATA_BUCKET"], Key=METADATA_KEY, Body=json.dumps(earlier))

    invoke(announce, announce_task())

    x86_64 = stream_document()["architectures"]["x86_64"]
    assert x86_64["artifacts"] == {"qemu": {"release": "42.1"}}
    assert x86_64["images"]["gcp"] == {"name": "fedora-coreos-42-1"}
    assert x86_64["images"]["aws"]["regions"][COPY]["image"] == IMAGES["x86_64"][COPY]


def test_a_release_over_fewer_regions_keeps_the_other_regions_images(runtime):
    earlier = {"stream": STREAM, "metadata": {}, "architectures": {"x86_64": {"artifacts": {}, "images": {"aws": {
        "regions": {BASE: {"release": "42.1", "image": "ami-000000000042e1x8"},
                    "us-west-2": {"release": "42.1", "image": "ami-000000000042w2x8"}}}}}}}
    client("s3").put_object(Bucket=os.environ["METADATA_BUCKET"], Key=METADATA_KEY, Body=json.dumps(earlier))
    base_only = [{"region": BASE, "images": [i for i in PUBLISHED[0]["images"] if i["arch"] == "x86_64"]}]

    invoke(announce, announce_task(base_only))

    regions = stream_document()["architectures"]["x86_64"]["images"]["aws"]["regions"]
    assert regions[BASE] == {"release": VERSION, "image": IMAGES["x86_64"][BASE]}
    assert regions.get("us-west-2") == {"release": "42.1", "image": "ami-000000000042w2x8"}


def test_announce_notifies_topic_subscribers(release_queue):
    announcement = invoke(announce, announce_task())

    messages = client("sqs").receive_message(QueueUrl=release_queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert envelope["MessageId"] == announcement["message_id"]
    message = json.loads(envelope["Message"])
    assert (message["release_id"], message["stream"], message["version"]) == (RELEASE_ID, STREAM, VERSION)
    assert message["images"] == IMAGES


def test_a_deleted_release_topic_fails_the_announcement(runtime):
    client("sns").delete_topic(TopicArn=os.environ["RELEASE_TOPIC_ARN"])

    with pytest.raises(AnnounceFailed, match=f"{STREAM} {VERSION}: "):
        invoke(announce, announce_task())


def test_a_missing_metadata_bucket_fails_the_announcement_before_any_message(release_queue, monkeypatch):
    monkeypatch.setenv("METADATA_BUCKET", "atomic-release-no-such-bucket")

    with pytest.raises(AnnounceFailed, match=f"{STREAM} {VERSION}: "):
        invoke(announce, announce_task())
    assert "Messages" not in client("sqs").receive_message(QueueUrl=release_queue, MaxNumberOfMessages=10)


def test_finalize_marks_the_release_succeeded_with_its_images(prepared):
    announcement = {"metadata_url": f"s3://bucket/{METADATA_KEY}", "message_id": "m-1"}

    result = invoke(finalize, {**announce_task(), "announcement": announcement})

    assert result == {"release_id": RELEASE_ID, "status": "SUCCEEDED", "images": IMAGES,
                      "metadata_url": announcement["metadata_url"]}
    record = records.get(RELEASE_ID)
    assert record.status == "SUCCEEDED"
    assert record.images == IMAGES
    assert record.metadata_url == announcement["metadata_url"]


def test_finalize_without_a_release_record_creates_none(runtime):
    announcement = {"metadata_url": f"s3://bucket/{METADATA_KEY}", "message_id": "m-1"}

    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        invoke(finalize, {**announce_task(), "announcement": announcement})
    assert records.get(RELEASE_ID) is None


def test_finalize_without_an_announcement_is_invalid_input(prepared):
    with pytest.raises(InvalidReleaseInput, match="announcement: Field required"):
        invoke(finalize, announce_task())
    assert records.get(RELEASE_ID).status == "RUNNING"
