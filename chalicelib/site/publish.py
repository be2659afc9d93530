"""The site's pages, read from the published documents and written beside them."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from chalicelib.aws import s3
from chalicelib.core.config import load_streams
from chalicelib.core.observability import logger
from chalicelib.models.stream_metadata import Release, ReleaseIndex, Stream
from chalicelib.site import render

INDEX_KEY = "streams/index.html"
STYLESHEET_KEY = f"streams/{render.STYLESHEET}"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8"}


def stream_page_key(stream: str) -> str:
    return f"streams/{stream}/index.html"


@dataclass(frozen=True)
class Published:
    """One stream as published: its document, its release index and its current release, with
    what this project writes beside Fedora CoreOS's fields (each version's commit time in the
    index; each commit's signature and the regions missing in the release), and the size of
    each download where it is known (by location)."""

    stream: Stream
    index: ReleaseIndex | None = None
    commit_times: Mapping[str, str] = field(default_factory=dict)
    release: Release | None = None
    signatures: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # ostree arch -> commit-signature
    missing_regions: Mapping[str, str] = field(default_factory=dict)  # region -> why
    sizes: Mapping[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.stream.stream

    @property
    def current_version(self) -> str | None:
        """The newest release the stream document names, in the index's order (oldest first)."""
        named = {image.release for arch in self.stream.architectures.values()
                 if arch.images and arch.images.aws for image in (arch.images.aws.regions or {}).values()}
        named |= {artifacts.release for arch in self.stream.architectures.values()
                  for artifacts in arch.artifacts.values()}
        order = [r.version for r in self.index.releases] if self.index else []
        ranked = sorted(named, key=lambda version: (order.index(version) if version in order else -1, version))
        return ranked[-1] if ranked else None

    def commit(self, version: str, arch: str) -> str | None:
        if self.release and self.release.release == version and arch in self.release.architectures:
            return self.release.architectures[arch].commit
        entry = next((r for r in self.index.releases if r.version == version), None) if self.index else None
        return next((c.checksum for c in (entry.commits or []) if c.architecture == arch), None) if entry else None


def split_index(raw: dict) -> tuple[ReleaseIndex, dict[str, str]]:
    """The index and, apart, the commit time Announce writes beside each release."""
    times = {r["version"]: r["commit-time"] for r in raw.get("releases", []) if r.get("commit-time")}
    releases = [{k: v for k, v in r.items() if k != "commit-time"} for r in raw.get("releases", [])]
    return ReleaseIndex.model_validate({**raw, "releases": releases}), times


def split_release(raw: dict) -> tuple[Release, dict[str, dict], dict[str, str]]:
    """The release and, apart, each architecture's commit signature and the missing regions."""
    signatures = {arch: entry["commit-signature"] for arch, entry in raw.get("architectures", {}).items()
                  if entry.get("commit-signature")}
    architectures = {arch: {k: v for k, v in entry.items() if k != "commit-signature"}
                     for arch, entry in raw.get("architectures", {}).items()}
    release = {k: v for k, v in raw.items() if k != "missing-regions"}
    return (Release.model_validate({**release, "architectures": architectures}), signatures,
            dict(raw.get("missing-regions") or {}))


def read_published(name: str) -> Published | None:
    """The stream as its documents in the metadata bucket say; None before its first release, or
    where a document is not in the shape the models read (logged: the release stands, the site
    keeps the stream's last page)."""
    try:
        return _read_published(name)
    except ValidationError as error:
        logger.warning("site: a published document of the stream does not read as the models say; page not rendered",
                       extra={"stream": name, "error": str(error)})
        return None


def _read_published(name: str) -> Published | None:
    # Announce calls this module after writing the documents: imported here, not at the top.
    from chalicelib.stages import announce

    raw_stream = announce.read_document(announce.stream_metadata_key(name))
    if raw_stream is None:
        return None
    raw_index = announce.read_document(announce.release_index_key(name))
    index, times = split_index(raw_index) if raw_index else (None, {})
    published = Published(stream=Stream.model_validate(raw_stream), index=index, commit_times=times)
    version = published.current_version
    raw_release = announce.read_document(announce.release_key(name, version)) if version else None
    if raw_release is None:
        return published
    release, signatures, missing = split_release(raw_release)
    return Published(stream=published.stream, index=index, commit_times=times, release=release,
                     signatures=signatures, missing_regions=missing, sizes=_sizes(published.stream, announce.bucket()))


def _sizes(stream: Stream, bucket: str) -> dict[str, int]:
    sizes = {}
    for arch in stream.architectures.values():
        for artifacts in arch.artifacts.values():
            for image in artifacts.formats.values():
                below = render.within_stream(image.disk.location, stream.stream) if image.disk else None
                size = s3.object_size(bucket, f"streams/{stream.stream}/{below}") if below else None
                if image.disk and size is not None:
                    sizes[image.disk.location] = size
    return sizes


def site_pages(streams: list[Published]) -> dict[str, str]:
    """Every page of the site (and its stylesheet) by its key in the bucket."""
    pages = {INDEX_KEY: render.index_page(streams), STYLESHEET_KEY: render.stylesheet()}
    pages.update({stream_page_key(p.name): render.stream_page(p) for p in streams})
    return pages


def publish_site(stream: str) -> list[str]:
    """Rewrite the site's index, its stylesheet and ``stream``'s page from the published
    documents of every configured stream; the keys written."""
    from chalicelib.stages import announce

    pages = site_pages([p for name in load_streams().streams if (p := read_published(name))])
    keys = [key for key in (INDEX_KEY, STYLESHEET_KEY, stream_page_key(stream)) if key in pages]
    for key in keys:
        s3.put_object(announce.bucket(), key, pages[key].encode(), ContentType=CONTENT_TYPES[key[key.rfind("."):]],
                      CacheControl=announce.CACHE_CONTROL)
    return keys
