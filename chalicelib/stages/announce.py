"""Announce a release: the stream's release index, the release's own document and the Fedora
CoreOS stream metadata in S3, ``latest`` pointed at its validated images, then an SNS message
and an EventBridge event (schema: docs/flow.md, "Release events").

A region already naming a release with a newer commit (a fill-in run that finished late, two
releases announcing at once) keeps it: neither the metadata nor ``latest`` moves backwards."""

import json
from collections.abc import Callable
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from chalicelib.aws import events, s3, sns, ssm
from chalicelib.aws.errors import describe, message_of
from chalicelib.core.arch import Arch, ostree_arch
from chalicelib.core.config import Stream, load_streams
from chalicelib.core.errors import AnnounceFailed
from chalicelib.core.settings import settings
from chalicelib.models.announce import Announcement, AnnounceTask
from chalicelib.models.signature import SignatureCheck
from chalicelib.stages import artifacts
from chalicelib.store import records

CACHE_CONTROL = "public, max-age=60"
EVENT_SOURCE = "atomic-release"
EVENT_DETAIL_TYPE = "Release Published"


def bucket() -> str:
    return settings().metadata_bucket


def event_bus() -> str:
    return settings().release_event_bus


def topic_arn() -> str:
    return settings().release_topic_arn


def stream_metadata_key(stream: str) -> str:
    return f"streams/{stream}.json"


def release_index_key(stream: str) -> str:
    return f"streams/{stream}/releases.json"


def release_key(stream: str, version: str) -> str:
    return f"streams/{stream}/releases/{version}.json"


def _timestamp(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_with_etag(key: str) -> tuple[dict | None, str | None]:
    body, etag = s3.read_object(bucket(), key)
    return (None, None) if body is None else (json.loads(body), etag)


def read_document(key: str) -> dict | None:
    return _read_with_etag(key)[0]


def write_document(key: str, document: dict, **condition) -> None:
    s3.put_object(bucket(), key, json.dumps(document, indent=2).encode(), ContentType="application/json",
                  CacheControl=CACHE_CONTROL, **condition)


def update_document(key: str, change: Callable[[dict | None], dict], attempts: int = 5) -> dict:
    """Read, change, and write only if nobody wrote in between (S3 conditional writes): two
    releases of a stream announcing at once must not lose each other's entries."""
    for _ in range(attempts):
        previous, etag = _read_with_etag(key)
        document = change(previous)
        try:
            write_document(key, document, **({"IfMatch": etag} if etag else {"IfNoneMatch": "*"}))
            return document
        except ClientError as error:
            if not s3.lost_a_write_race(error):
                raise
    raise AnnounceFailed(f"s3://{bucket()}/{key} kept changing under {attempts} attempts to update it")


def empty_stream_metadata(stream: str) -> dict:
    return {"stream": stream, "metadata": {}, "architectures": {}}


def read_stream_metadata(stream: str) -> dict:
    return read_document(stream_metadata_key(stream)) or empty_stream_metadata(stream)


def images_by_arch(task: AnnounceTask) -> dict[Arch, dict[str, str]]:
    """arch -> region -> image id, of the validated regions."""
    result: dict[Arch, dict[str, str]] = {}
    for region in task.validated:
        for image in region.images:
            result.setdefault(image.arch, {})[region.region] = image.image_id
    return result


def commit_times(index: dict | None) -> dict[str, str]:
    """version -> commit time (UTC, sortable), from the release index."""
    return {r["version"]: r.get("commit-time", "") for r in (index or {}).get("releases", [])}


def _aws_regions(document: dict, arch: Arch) -> dict[str, dict]:
    return document.get("architectures", {}).get(ostree_arch(arch), {}).get("images", {}).get("aws", {}).get(
        "regions", {})


def stream_metadata(task: AnnounceTask, previous: dict, times: dict[str, str]) -> dict:
    """The stream document with this release's validated images, region by region, except where
    the region already names a release with a newer commit: nothing moves backwards. Regions
    this release did not reach keep what they had."""
    ours = _timestamp(task.commit_time)
    architectures = dict(previous.get("architectures", {}))
    for arch, regions in images_by_arch(task).items():
        entry = architectures.get(ostree_arch(arch), {"artifacts": {}})
        earlier = _aws_regions(previous, arch)
        newer = {region for region, listed in earlier.items() if times.get(listed.get("release", ""), "") > ours}
        listed = {**earlier, **{region: {"release": task.version, "image": image_id}
                                for region, image_id in regions.items() if region not in newer}}
        images = entry.get("images", {})
        architectures[ostree_arch(arch)] = {**entry, "images": {**images, "aws": {"regions": listed}}}
    if architectures == previous.get("architectures") and previous.get("stream") == task.stream:
        return previous
    return {**previous, "stream": task.stream, "architectures": architectures,
            "metadata": {"last-modified": _timestamp(), "generator": "atomic-release"}}


def commit_signature(check: SignatureCheck | None) -> dict:
    """Who signed an architecture's commit, beside it in the release document (Fedora CoreOS's
    stream metadata has no field for it); nothing where the signature was not checked."""
    if check is None:
        return {}
    return {"commit-signature": {"verified": check.verified, "signed-by": check.signed_by, "signers": check.signers,
                                 "reason": check.reason}}


def release_document(task: AnnounceTask, previous: dict | None) -> dict:
    """The release's own metadata, in the shape of Fedora CoreOS's release.json, with each
    commit's signature. A fill-in run adds its regions to those the release already had."""
    previous = previous or {}
    architectures = dict(previous.get("architectures", {}))
    for arch, regions in images_by_arch(task).items():
        earlier = architectures.get(ostree_arch(arch), {}).get("media", {}).get("aws", {}).get("images", {})
        images = {**earlier, **{region: {"image": image_id} for region, image_id in regions.items()}}
        architectures[ostree_arch(arch)] = {"commit": task.commits[arch].checksum,
                                            **commit_signature(task.commits[arch].signature),
                                            "media": {"aws": {"images": images}}}
    validated = {region.region for region in task.validated}
    missing = {region: why for region, why in previous.get("missing-regions", {}).items() if region not in validated}
    return {"release": task.version, "stream": task.stream, "architectures": architectures,
            "missing-regions": {**missing, **task.missing}}


def release_index(task: AnnounceTask, previous: dict | None) -> dict:
    """Oldest to newest by commit time, one entry per version, as Fedora CoreOS's releases.json."""
    entry = {"version": task.version, "commit-time": _timestamp(task.commit_time),
             "commits": [{"architecture": ostree_arch(arch), "checksum": commit.checksum}
                         for arch, commit in sorted(task.commits.items())],
             "metadata": f"s3://{bucket()}/{release_key(task.stream, task.version)}"}
    releases = [r for r in (previous or {}).get("releases", []) if r["version"] != task.version]
    releases = sorted([*releases, entry], key=lambda r: r.get("commit-time", ""))
    return {"stream": task.stream, "releases": releases, "metadata": {"last-modified": _timestamp()}}


def _put_latest(stream: Stream, region: str, arch: Arch, image_id: str, description: str) -> None:
    name = stream.ssm_parameter(arch, "latest")
    try:
        ssm.put_image_parameter(region, name, image_id, description)
    except ClientError as error:
        raise AnnounceFailed(f"{region}: {name}: {describe(error)}",
                             region=region, arch=arch, image_id=image_id) from None


def move_latest(task: AnnounceTask, written: dict) -> list[str]:
    """``latest`` follows the stream metadata: it moves to this release's image in each region
    where the metadata now names it. Then the metadata is read again: where a newer release
    announcing at the same time has taken the region since, ``latest`` follows that one."""
    stream = load_streams().stream(task.stream)
    moved = [(region, arch, image_id) for arch, regions in images_by_arch(task).items()
             for region, image_id in regions.items()
             if _aws_regions(written, arch).get(region, {}).get("image") == image_id]
    for region, arch, image_id in moved:
        _put_latest(stream, region, arch, image_id, f"{task.stream} {task.version} {arch}")
    now = read_stream_metadata(task.stream)
    for region, arch, image_id in moved:
        listed = _aws_regions(now, arch).get(region, {})
        if listed.get("image") not in (None, image_id):
            _put_latest(stream, region, arch, listed["image"], f"{task.stream} {listed['release']} {arch}")
    return sorted({region for region, _, _ in moved})


def message(task: AnnounceTask, metadata_url: str) -> dict:
    return {"release_id": task.release_id, "stream": task.stream, "version": task.version,
            "status": "partial" if task.missing else "complete", "images": images_by_arch(task),
            "missing_regions": task.missing, "stream_metadata": metadata_url,
            "release_metadata": f"s3://{bucket()}/{release_key(task.stream, task.version)}"}


def notify(task: AnnounceTask, body: dict) -> tuple[str, str]:
    message_id = sns.publish(topic_arn(), f"atomic-release: {task.stream} {task.version} released"[:100],
                             json.dumps(body), {"stream": task.stream, "status": body["status"]})
    entry, failed = events.put_event(event_bus(), EVENT_SOURCE, EVENT_DETAIL_TYPE, json.dumps(body))
    if failed or "EventId" not in entry:
        raise AnnounceFailed(f"EventBridge refused the event: {entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
    return message_id, entry["EventId"]


def notify_once(task: AnnounceTask, body: dict) -> tuple[str, str]:
    """A retried Announce (a Lambda service error after the message went out) finds the record
    of what it sent rather than sending it again."""
    record = records.get(task.release_id)
    sent = record.notified.get(str(task.attempt)) if record else None
    if sent:
        return sent["message_id"], sent["event_id"]
    message_id, event_id = notify(task, body)
    records.mark_notified(task.release_id, task.attempt, message_id, event_id)
    return message_id, event_id


def announce(task: AnnounceTask) -> Announcement:
    """The index first (it orders releases by commit time), then the release's document, the
    stream metadata, ``latest`` where the metadata names this release, and the notifications."""
    metadata_key = stream_metadata_key(task.stream)
    if not task.validated:
        # A fill-in run that only retries Marketplace: no region is new, nothing to announce.
        return Announcement(metadata_url=f"s3://{bucket()}/{metadata_key}", message_id="", latest_moved=False)
    try:
        artifacts.publish(task)
        update_document(release_index_key(task.stream), lambda previous: release_index(task, previous))
        update_document(release_key(task.stream, task.version), lambda previous: release_document(task, previous))
        written = update_document(metadata_key, lambda previous: stream_metadata(
            task, previous or empty_stream_metadata(task.stream), commit_times(read_document(
                release_index_key(task.stream)))))
        moved = move_latest(task, written)
        message_id, event_id = notify_once(task, message(task, f"s3://{bucket()}/{metadata_key}"))
    except ClientError as error:
        raise AnnounceFailed(f"{task.stream} {task.version}: {message_of(error)}") from None
    return Announcement(metadata_url=f"s3://{bucket()}/{metadata_key}", message_id=message_id, event_id=event_id,
                        latest_moved=bool(moved))
