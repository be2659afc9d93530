"""The site's pages, read from the published documents and written beside them."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pydantic import ValidationError

from chalicelib.aws import s3
from chalicelib.core.config import load_streams
from chalicelib.core.observability import logger
from chalicelib.models.documents import (
    AtomicIndexRelease,
    AtomicRelease,
    AtomicReleaseIndex,
    AtomicStream,
    CommitSignature,
    Document,
)
from chalicelib.site import render

INDEX_KEY = "streams/index.html"
STYLESHEET_KEY = f"streams/{render.STYLESHEET}"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8"}


def stream_page_key(stream: str) -> str:
    return f"streams/{stream}/index.html"


@dataclass(frozen=True)
class Published:
    """One stream as published, each document read through the model Announce writes it with
    (chalicelib/models/documents.py): its stream document, its release index and its current
    release; where consumers read the stream document; and the size of each download where it
    is known (by location)."""

    stream: AtomicStream
    index: AtomicReleaseIndex | None = None
    release: AtomicRelease | None = None
    document_url: str | None = None
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

    @property
    def missing_regions(self) -> dict[str, str]:
        """Region -> why, of the current release."""
        return self.release.missing_regions if self.release else {}

    def indexed(self, version: str) -> AtomicIndexRelease | None:
        return next((r for r in self.index.releases if r.version == version), None) if self.index else None

    def commit(self, version: str, arch: str) -> str | None:
        if self.release and self.release.release == version and arch in self.release.architectures:
            return self.release.architectures[arch].commit
        entry = self.indexed(version)
        return next((c.checksum for c in (entry.commits or []) if c.architecture == arch), None) if entry else None

    def commit_time(self, version: str) -> str | None:
        entry = self.indexed(version)
        return entry.commit_time if entry else None

    def commit_signature(self, arch: str) -> CommitSignature | None:
        """What detection found of ``arch``'s commit signatures in the current release."""
        entry = self.release.architectures.get(arch) if self.release else None
        return entry.commit_signature if entry else None


def read_published(name: str) -> Published | None:
    """The stream as its documents in the metadata bucket say; None before its first release, or
    where a document is not in its model's shape (logged: the release stands, the site keeps the
    stream's last page)."""
    try:
        return _read_published(name)
    except ValidationError as error:
        logger.warning("site: a published document of the stream does not read as the models say; page not rendered",
                       extra={"stream": name, "error": str(error)})
        return None


def _read(key: str, model: type[Document]) -> Document | None:
    from chalicelib.stages import announce

    raw = announce.read_document(key)
    return None if raw is None else model.model_validate(raw)


def _read_published(name: str) -> Published | None:
    # Announce calls this module after writing the documents: imported here, not at the top.
    from chalicelib.stages import announce

    stream = _read(announce.stream_metadata_key(name), AtomicStream)
    if stream is None:
        return None
    published = Published(stream=stream, index=_read(announce.release_index_key(name), AtomicReleaseIndex),
                          document_url=announce.public_url(announce.stream_metadata_key(name)))
    version = published.current_version
    release = _read(announce.release_key(name, version), AtomicRelease) if version else None
    if release is None:
        return published
    return replace(published, release=release, sizes=_sizes(stream, announce.bucket()))


def _sizes(stream: AtomicStream, bucket: str) -> dict[str, int]:
    sizes = {}
    for arch in stream.architectures.values():
        for artifacts in arch.artifacts.values():
            for image in artifacts.formats.values():
                below = render.within_stream(image.disk.location, stream.stream) if image.disk else None
                found = s3.head_object(bucket, f"streams/{stream.stream}/{below}") if below else None
                size = found["ContentLength"] if found else None
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
