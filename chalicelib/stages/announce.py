"""Announce a release: the stream's release index, the release's own document and the Fedora
CoreOS stream metadata in S3, each made through its model (chalicelib/models/documents.py),
``latest`` pointed at its validated images, then an SNS message and an EventBridge event
(schema: docs/flow.md, "Release events"). Every link is under PUBLIC_BASE_URL. Every image the
metadata (and so ``latest``) is to name is protected from deregistration before it is named.

A region or a download already naming a release with a newer commit (a fill-in run that
finished late, two releases announcing at once) keeps it: neither the metadata nor ``latest``
moves backwards."""

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from botocore.exceptions import ClientError
from pydantic import ValidationError

from chalicelib.aws import events, s3, sns, ssm
from chalicelib.aws.ec2 import protect_from_deregistration
from chalicelib.aws.errors import describe, message_of
from chalicelib.core.arch import Arch, ostree_arch
from chalicelib.core.config import Stream, load_streams
from chalicelib.core.errors import AnnouncedThenFailed, AnnounceFailed
from chalicelib.core.observability import logger
from chalicelib.core.settings import settings
from chalicelib.models.announce import Announcement, AnnounceTask
from chalicelib.models.artifacts import SIGNATURE_SUFFIX
from chalicelib.models.documents import (
    UNSIGNED_ARTIFACTS,
    AtomicIndexRelease,
    AtomicRelease,
    AtomicReleaseArch,
    AtomicReleaseIndex,
    AtomicStream,
    AtomicStreamArch,
    CommitSignature,
    Document,
)
from chalicelib.models.stream_metadata import (
    Artifact,
    CloudImage,
    ImageFormat,
    Images,
    IndexMetadata,
    IndexReleaseCommit,
    Media,
    PlatformArtifacts,
    PlatformBase,
    PlatformImages,
    ReplicatedImage,
    SingleImage,
    StreamMetadata,
    document,
)
from chalicelib.site import publish_site
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


def write_document(key: str, body: dict, **condition) -> None:
    s3.put_object(bucket(), key, json.dumps(body, indent=2).encode(), ContentType="application/json",
                  CacheControl=CACHE_CONTROL, **condition)


def update_document(key: str, change: Callable[[dict | None], dict], attempts: int = 5) -> dict:
    """Read, change, and write only if nobody wrote in between (S3 conditional writes): two
    releases of a stream announcing at once must not lose each other's entries."""
    for _ in range(attempts):
        previous, etag = _read_with_etag(key)
        changed = change(previous)
        try:
            write_document(key, changed, **({"IfMatch": etag} if etag else {"IfNoneMatch": "*"}))
            return changed
        except ClientError as error:
            if not s3.lost_a_write_race(error):
                raise
    raise AnnounceFailed(f"s3://{bucket()}/{key} kept changing under {attempts} attempts to update it")


def public_url(key: str) -> str:
    """Where consumers read a public key of the metadata bucket (PUBLIC_BASE_URL)."""
    return settings().public_base_url + key


def parsed(key: str, model: type[Document], raw: dict | None) -> Document | None:
    """A document read from S3 as its model; None when there is none, or when it is not in the
    model's shape: it is then replaced, not patched."""
    if raw is None:
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        logger.warning("a published document is not in its model's shape: it is replaced",
                       extra={"key": key, "model": model.__name__,
                              "errors": [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]})
        return None


def update_model(key: str, model: type[Document], change: Callable[[Document | None], Document]) -> dict:
    """``update_document`` through a model: the previous document is read as one, and what is
    written is the model's document."""
    return update_document(key, lambda previous: document(change(parsed(key, model, previous))))


def read_stream_metadata(stream: str) -> dict:
    return read_document(stream_metadata_key(stream)) or {"stream": stream, "metadata": {}, "architectures": {}}


def images_by_arch(task: AnnounceTask) -> dict[Arch, dict[str, str]]:
    """arch -> region -> image id, of the validated regions."""
    result: dict[Arch, dict[str, str]] = {}
    for region in task.validated:
        for image in region.images:
            result.setdefault(image.arch, {})[region.region] = image.image_id
    return result


Downloads = dict[Arch, dict[str, dict[str, ImageFormat]]]


def downloads_by_arch(published: list[artifacts.Published]) -> Downloads:
    """arch -> platform (metal, qemu) -> format -> its disk image as it is public: its https
    location, its signature where one is beside it, its sums."""
    result: Downloads = {}
    for file in published:
        location = public_url(file.public)
        disk = Artifact(location=location, signature=location + SIGNATURE_SUFFIX if file.signed else None,
                        sha256=file.artifact.sha256, uncompressed_sha256=file.artifact.uncompressed_sha256)
        result.setdefault(file.arch, {}).setdefault(file.artifact.platform, {})[file.artifact.format] = \
            ImageFormat(disk=disk)
    return result


def signers_by_arch(published: list[artifacts.Published]) -> dict[Arch, str]:
    """arch -> the fingerprint of the key that signed its files, where recorded."""
    signers: dict[Arch, set[str]] = {}
    for file in published:
        if file.signed_by:
            signers.setdefault(file.arch, set()).add(file.signed_by)
    return {arch: ", ".join(sorted(fingerprints)) for arch, fingerprints in signers.items()}


def unsigned_note(formats: Iterable[ImageFormat]) -> str | None:
    """The ``artifacts-signature`` note of an architecture whose downloads have no signature."""
    return UNSIGNED_ARTIFACTS if any(f.disk and f.disk.signature is None for f in formats) else None


def commit_times(index: dict | None) -> dict[str, str]:
    """version -> commit time (UTC, sortable), from the release index."""
    return {r["version"]: r.get("commit-time", "") for r in (index or {}).get("releases", [])}


def _aws_regions(metadata: dict, arch: Arch) -> dict[str, dict]:
    return metadata.get("architectures", {}).get(ostree_arch(arch), {}).get("images", {}).get("aws", {}).get(
        "regions", {})


def stream_metadata(task: AnnounceTask, previous: AtomicStream | None, times: dict[str, str],
                    downloads: Downloads) -> AtomicStream:
    """The stream document with this release's validated images, region by region, and its
    downloads, platform by platform, except where the region or platform already names a
    release with a newer commit: nothing moves backwards. What this release did not bring
    (regions it did not reach, downloads of a run without them) keeps what it had."""
    ours = _timestamp(task.commit_time)

    def ours_to_take(listed: SingleImage | PlatformArtifacts | None) -> bool:
        return listed is None or times.get(listed.release, "") <= ours

    architectures = dict(previous.architectures) if previous else {}
    for arch, regions in images_by_arch(task).items():
        entry = architectures.get(ostree_arch(arch), AtomicStreamArch())
        images = entry.images or Images()
        earlier = (images.aws.regions if images.aws else None) or {}
        listed = {**earlier, **{region: SingleImage(release=task.version, image=image_id)
                                for region, image_id in regions.items() if ours_to_take(earlier.get(region))}}
        artifacts = {**entry.artifacts, **{platform: PlatformArtifacts(release=task.version, formats=formats)
                                           for platform, formats in downloads.get(arch, {}).items()
                                           if ours_to_take(entry.artifacts.get(platform))}}
        note = unsigned_note(f for platform in artifacts.values() for f in platform.formats.values())
        architectures[ostree_arch(arch)] = entry.model_copy(update={
            "images": images.model_copy(update={"aws": ReplicatedImage(regions=listed)}), "artifacts": artifacts,
            "artifacts_signature": note})
    if previous and previous.stream == task.stream and _same(architectures, previous.architectures):
        return previous
    return AtomicStream(stream=task.stream, architectures=architectures,
                        metadata=StreamMetadata(last_modified=_timestamp(), generator="atomic-release"))


def _same(architectures: dict[str, AtomicStreamArch], others: dict[str, AtomicStreamArch]) -> bool:
    return {a: document(e) for a, e in architectures.items()} == {a: document(e) for a, e in others.items()}


def release_document(task: AnnounceTask, previous: AtomicRelease | None, downloads: Downloads,
                     signers: dict[Arch, str]) -> AtomicRelease:
    """The release's own metadata, in the shape of Fedora CoreOS's release.json, with each
    commit's signature and its downloads. A fill-in run adds its regions to those the release
    already had; a run without downloads keeps those the release had."""
    architectures = dict(previous.architectures) if previous else {}
    for arch, regions in images_by_arch(task).items():
        earlier = architectures.get(ostree_arch(arch))
        media = earlier.media if earlier else Media()
        aws = media.aws or PlatformImages()
        images = {**(aws.images or {}), **{region: CloudImage(image=image_id) for region, image_id in regions.items()}}
        media = media.model_copy(update={
            "aws": aws.model_copy(update={"images": images}),
            **{platform: PlatformBase(artifacts=formats) for platform, formats in downloads.get(arch, {}).items()}})
        commit = task.commits[arch]
        architectures[ostree_arch(arch)] = AtomicReleaseArch(
            commit=commit.checksum, media=media,
            commit_signature=CommitSignature.of(commit.signature) if commit.signature else None,
            artifacts_signature=unsigned_note(f for platform in (media.metal, media.qemu) if platform
                                              for f in platform.artifacts.values()),
            artifacts_signed_by=signers.get(arch) if arch in downloads else earlier and earlier.artifacts_signed_by)
    validated = {region.region for region in task.validated}
    missing = {region: why for region, why in (previous.missing_regions if previous else {}).items()
               if region not in validated}
    return AtomicRelease(release=task.version, stream=task.stream, architectures=architectures,
                         missing_regions={**missing, **task.missing})


def release_index(task: AnnounceTask, previous: AtomicReleaseIndex | None) -> AtomicReleaseIndex:
    """Oldest to newest by commit time, one entry per version, as Fedora CoreOS's releases.json.
    Every entry links its release's document under the public base URL (so one written under
    another base, or before the links were https, is linked anew)."""
    entry = AtomicIndexRelease(
        version=task.version, commit_time=_timestamp(task.commit_time),
        metadata=public_url(release_key(task.stream, task.version)),
        commits=[IndexReleaseCommit(architecture=ostree_arch(arch), checksum=commit.checksum)
                 for arch, commit in sorted(task.commits.items())])
    others = [r for r in (previous.releases if previous else []) if r.version != task.version]
    releases = [r.model_copy(update={"metadata": public_url(release_key(task.stream, r.version))})
                for r in sorted([*others, entry], key=lambda r: r.commit_time)]
    return AtomicReleaseIndex(stream=task.stream, releases=releases,
                              metadata=IndexMetadata(last_modified=_timestamp()))


def _put_latest(stream: Stream, region: str, arch: Arch, image_id: str, description: str) -> None:
    name = stream.ssm_parameter(arch, "latest")
    try:
        ssm.put_image_parameter(region, name, image_id, description)
    except ClientError as error:
        raise AnnounceFailed(f"{region}: {name}: {describe(error)}",
                             region=region, arch=arch, image_id=image_id) from None


def aws_images(metadata: dict) -> Iterator[tuple[str, str, str]]:
    """(ostree architecture, region, image id) of every image the stream metadata names."""
    for arch, entry in metadata.get("architectures", {}).items():
        for region, listed in entry.get("images", {}).get("aws", {}).get("regions", {}).items():
            if listed.get("image"):
                yield arch, region, listed["image"]


def named_images(metadata: dict) -> dict[str, set[str]]:
    """region -> the images the stream metadata names there, every architecture's."""
    named: dict[str, set[str]] = {}
    for _, region, image_id in aws_images(metadata):
        named.setdefault(region, set()).add(image_id)
    return named


def protect_named(task: AnnounceTask) -> dict[str, list[str]]:
    """Protect from deregistration this release's validated images and those the metadata names
    already (``latest`` names only images the metadata names); region -> the ids newly protected."""
    wanted = named_images(read_stream_metadata(task.stream))
    for regions in images_by_arch(task).values():
        for region, image_id in regions.items():
            wanted.setdefault(region, set()).add(image_id)
    protected = {region: protect_from_deregistration(region, sorted(ids)) for region, ids in sorted(wanted.items())}
    return {region: ids for region, ids in protected.items() if ids}


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


def message(task: AnnounceTask) -> dict:
    return {"release_id": task.release_id, "stream": task.stream, "version": task.version,
            "status": "partial" if task.missing else "complete", "images": images_by_arch(task),
            "missing_regions": task.missing, "stream_metadata": public_url(stream_metadata_key(task.stream)),
            "release_metadata": public_url(release_key(task.stream, task.version))}


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


def names_this_release(task: AnnounceTask, metadata: dict) -> bool:
    """Whether the stream metadata names one of this release's images: the world points at it."""
    return any(_aws_regions(metadata, arch).get(region, {}).get("image") == image_id
               for arch, regions in images_by_arch(task).items() for region, image_id in regions.items())


def _reason(error: Exception) -> str:
    return message_of(error) if isinstance(error, ClientError) else f"{type(error).__name__}: {error}"


def render_site(stream: str) -> None:
    """The site's pages, last: the release stands without them, and the next Announce renders
    them again from the documents."""
    try:
        publish_site(stream)
    except Exception as error:  # noqa: BLE001 - whatever kept the pages from being written, the release is out
        logger.warning("the site's pages were not written: the next Announce writes them",
                       extra={"stream": stream, "error": _reason(error)})


def with_regions_announced_in_vain(task: AnnounceTask) -> AnnounceTask:
    """A fill-in run of a release whose Announce failed after the metadata named it announces
    again every region the release validated: ``latest`` or the notifications are what failed."""
    record = records.get(task.release_id) if task.attempt else None
    if record is None or record.failed_stage != "announce":
        return task
    now = {outcome.region for outcome in task.regions}
    earlier = [outcome for region, outcome in sorted(record.region_states.items())
               if outcome.status == "validated" and region not in now]
    return task.model_copy(update={"regions": [*task.regions, *earlier]})


def announce(task: AnnounceTask) -> Announcement:
    """Deregistration protection first, then the index (it orders releases by commit time), the
    release's document, the stream metadata, ``latest`` where the metadata names this release,
    the notifications, and last the site's pages. Once the metadata names the release, a failure
    is AnnouncedThenFailed: the release is out, and the state machine records it so."""
    metadata_key = stream_metadata_key(task.stream)
    task = with_regions_announced_in_vain(task)
    if not task.validated:
        # A fill-in run that only retries Marketplace: no region is new, nothing to announce.
        return Announcement(metadata_url=public_url(metadata_key), message_id="", latest_moved=False)
    try:
        if protected := protect_named(task):
            logger.info("images protected from deregistration", extra={"protected": protected})
        published = artifacts.publish(task)
        downloads, signers = downloads_by_arch(published), signers_by_arch(published)
        update_model(release_index_key(task.stream), AtomicReleaseIndex,
                     lambda previous: release_index(task, previous))
        update_model(release_key(task.stream, task.version), AtomicRelease,
                     lambda previous: release_document(task, previous, downloads, signers))
        written = update_model(metadata_key, AtomicStream, lambda previous: stream_metadata(
            task, previous, commit_times(read_document(release_index_key(task.stream))), downloads))
    except ClientError as error:
        raise AnnounceFailed(f"{task.stream} {task.version}: {message_of(error)}") from None
    try:
        moved = move_latest(task, written)
        message_id, event_id = notify_once(task, message(task))
    except Exception as error:  # noqa: BLE001 - whatever failed, the metadata may name the release already
        failed = AnnouncedThenFailed if names_this_release(task, written) else AnnounceFailed
        raise failed(f"{task.stream} {task.version}: {_reason(error)}") from None
    render_site(task.stream)
    return Announcement(metadata_url=public_url(metadata_key), message_id=message_id, event_id=event_id,
                        latest_moved=bool(moved))
