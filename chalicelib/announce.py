"""Announce a published release: Fedora CoreOS stream metadata in S3, and an SNS message."""

import json
import os
from datetime import datetime, timezone

from botocore.exceptions import ClientError

from chalicelib.arch import ostree_arch
from chalicelib.aws import client
from chalicelib.errors import AnnounceFailed
from chalicelib.models import Announcement, AnnounceTask

CACHE_CONTROL = "public, max-age=60"


def bucket() -> str:
    return os.environ.get("METADATA_BUCKET", "atomic-release-metadata")


def topic_arn() -> str:
    try:
        return os.environ["RELEASE_TOPIC_ARN"]
    except KeyError:
        raise AnnounceFailed("RELEASE_TOPIC_ARN is not set") from None


def stream_metadata_key(stream: str) -> str:
    return f"streams/{stream}.json"


def _read_stream_metadata(stream: str) -> dict:
    try:
        body = client("s3").get_object(Bucket=bucket(), Key=stream_metadata_key(stream))["Body"].read()
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return {"stream": stream, "metadata": {}, "architectures": {}}
        raise
    return json.loads(body)


def stream_metadata(task: AnnounceTask, previous: dict) -> dict:
    """The stream document with this release's images. Regions and architectures this release
    did not publish to keep what they had: each region names the release its image is from."""
    document = {**previous, "stream": task.stream, "metadata": {
        "last-modified": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generator": "atomic-release",
    }}
    architectures = dict(previous.get("architectures", {}))
    for arch in sorted({image.arch for region in task.published for image in region.images}):
        regions = {region.region: {"release": task.version, "image": image.image_id}
                   for region in task.published for image in region.images if image.arch == arch}
        entry = architectures.get(ostree_arch(arch), {"artifacts": {}})
        images = entry.get("images", {})
        earlier = images.get("aws", {}).get("regions", {})
        architectures[ostree_arch(arch)] = {**entry, "images": {**images, "aws": {"regions": {**earlier, **regions}}}}
    document["architectures"] = architectures
    return document


def images_by_arch(task: AnnounceTask) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for region in task.published:
        for image in region.images:
            result.setdefault(image.arch, {})[region.region] = image.image_id
    return result


def announce(task: AnnounceTask) -> Announcement:
    key = stream_metadata_key(task.stream)
    try:
        document = stream_metadata(task, _read_stream_metadata(task.stream))
        client("s3").put_object(Bucket=bucket(), Key=key, Body=json.dumps(document, indent=2).encode(),
                                ContentType="application/json", CacheControl=CACHE_CONTROL)
        message = {"release_id": task.release_id, "stream": task.stream, "version": task.version,
                   "images": images_by_arch(task), "stream_metadata": f"s3://{bucket()}/{key}"}
        message_id = client("sns").publish(
            TopicArn=topic_arn(), Subject=f"atomic-release: {task.stream} {task.version} released"[:100],
            Message=json.dumps(message),
            MessageAttributes={"stream": {"DataType": "String", "StringValue": task.stream}},
        )["MessageId"]
    except ClientError as error:
        raise AnnounceFailed(f"{task.stream} {task.version}: {error.response['Error']['Message']}") from None
    return Announcement(metadata_url=f"s3://{bucket()}/{key}", message_id=message_id)
