"""Read an ostree repository over HTTP the way ostree clients do: the summary for every ref,
``refs/heads/<ref>`` where there is no summary, and commit objects, each checked against its
checksum before it is trusted."""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

# The reader's errors are refusals of the pipeline (errors.py); they are imported from here too.
from chalicelib.core.errors import (  # noqa: F401
    CorruptObject,
    OstreeError,
    RepositoryUnreachable,
    UnknownRef,
    UnsupportedFormat,
)
from chalicelib.core.trusted_keys import Trust
from chalicelib.models.base import SHA256_PATTERN
from chalicelib.models.signature import SignatureCheck
from chalicelib.ostree.gvariant import GVariantError, decode
from chalicelib.ostree.signatures import check

SUMMARY_TYPE = "(a(s(taya{sv}))a{sv})"
COMMIT_TYPE = "(a{sv}aya(say)sstayay)"
_CHECKSUM = re.compile(SHA256_PATTERN)
DEFAULT_TIMEOUT = (3.05, 10.0)
# How a web server or an S3 bucket (403 where listing is not allowed) says a file is not there.
_ABSENT = (403, 404, 410)


def _big_endian(value: int) -> int:
    """ostree stores commit timestamps big-endian inside little-endian GVariant (as ``t``;
    a summary written with ``x`` may make it negative)."""
    return int.from_bytes((value & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "little"), "big")


def _when(seconds: int | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class RefState:
    name: str
    checksum: str
    version: str | None = None
    timestamp: datetime | None = None
    signature: SignatureCheck | None = None   # None: not checked


@dataclass(frozen=True)
class Commit:
    checksum: str
    version: str | None
    parent: str | None
    subject: str
    body: str
    timestamp: datetime | None
    bootable: bool
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Summary:
    """The refs of a repository, with the validators that make the next read conditional."""

    refs: dict[str, RefState] | None     # None: not modified since the validators were taken
    etag: str | None = None
    last_modified: str | None = None
    signature: SignatureCheck | None = None   # None: the repository publishes no summary.sig

    @property
    def not_modified(self) -> bool:
        return self.refs is None

    def select(self, names: list[str], url: str) -> dict[str, RefState]:
        refs = self.refs or {}
        missing = [n for n in names if n not in refs]
        if missing:
            raise UnknownRef(f"{url}summary: no ref {', '.join(map(repr, missing))} in the repository")
        return {n: refs[n] for n in names}


def parse_summary(data: bytes, url: str) -> dict[str, RefState]:
    try:
        refs, _metadata = decode(SUMMARY_TYPE, data)
    except GVariantError as error:
        raise CorruptObject(f"{url}: summary does not parse: {error}") from None
    states = {}
    for name, (_size, checksum, metadata) in refs:
        if len(checksum) != 32:
            raise CorruptObject(f"{url}: ref {name} has a checksum of {len(checksum)} bytes")
        stamp = metadata.get("ostree.commit.timestamp")
        version = metadata.get("ostree.commit.version")
        states[name] = RefState(name=name, checksum=checksum.hex(),
                                version=version if isinstance(version, str) else None,
                                timestamp=_when(_big_endian(stamp)) if isinstance(stamp, int) else None)
    return states


def parse_commit(checksum: str, data: bytes, url: str) -> Commit:
    if hashlib.sha256(data).hexdigest() != checksum:
        raise CorruptObject(f"{url}: content does not match its checksum {checksum}")
    try:
        metadata, parent, _related, subject, body, stamp, _tree, _tree_meta = decode(COMMIT_TYPE, data)
    except GVariantError as error:
        raise CorruptObject(f"{url}: commit does not parse: {error}") from None
    version = metadata.get("version")
    return Commit(checksum=checksum, version=version if isinstance(version, str) else None,
                  parent=parent.hex() or None, subject=subject, body=body, timestamp=_when(_big_endian(stamp)),
                  bootable=metadata.get("ostree.bootable") is True,
                  metadata={k: (v.hex() if isinstance(v, bytes) else v) for k, v in metadata.items()})


class Repository:
    """An ostree repository at ``url``, read with bounded timeouts and retries."""

    def __init__(self, url: str, timeout: tuple[float, float] = DEFAULT_TIMEOUT, retries: int = 2,
                 session: requests.Session | None = None, trust: Trust | None = None):
        """``trust``: the keys whose signatures count when ``summary.sig`` and commits' detached
        metadata are checked."""
        self.url = url.rstrip("/") + "/"
        self.trust = trust or Trust()
        self._commit_bytes: dict[str, bytes] = {}   # each commit object is fetched once per reader
        self.timeout = timeout
        self.session = session or requests.Session()
        adapter = HTTPAdapter(max_retries=Retry(total=retries, connect=retries, read=retries, backoff_factor=0.2,
                                                status_forcelist=(500, 502, 503, 504), allowed_methods=["GET"],
                                                raise_on_status=False))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _get(self, path: str, headers: dict | None = None) -> requests.Response:
        url = self.url + path
        try:
            response = self.session.get(url, headers=headers or {}, timeout=self.timeout)
        except requests.RequestException as error:
            raise RepositoryUnreachable(f"{url}: {type(error).__name__}: {error}") from None
        if response.status_code >= 500:
            raise RepositoryUnreachable(f"{url}: HTTP {response.status_code}")
        return response

    def summary(self, etag: str | None = None, last_modified: str | None = None) -> Summary | None:
        """Every ref, or ``Summary(refs=None)`` when unchanged since the validators; None when
        the repository publishes no summary."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        response = self._get("summary", headers)
        if response.status_code == 304:
            return Summary(refs=None, etag=etag, last_modified=last_modified)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise UnsupportedFormat(f"{response.url}: HTTP {response.status_code}")
        signature = self._detached("summary.sig")
        return Summary(refs=parse_summary(response.content, response.url), etag=response.headers.get("ETag"),
                       last_modified=response.headers.get("Last-Modified"),
                       signature=None if signature is None else check(response.content, signature, self.trust,
                                                                      what="summary"))

    def _detached(self, path: str) -> bytes | None:
        """Detached metadata (``summary.sig``, a ``.commitmeta``), or None where there is none."""
        response = self._get(path)
        if response.status_code in _ABSENT:
            return None
        if response.status_code != 200:
            raise UnsupportedFormat(f"{response.url}: HTTP {response.status_code}")
        return response.content

    def resolve(self, ref: str) -> str:
        """A ref's checksum from ``refs/heads/<ref>``."""
        response = self._get(f"refs/heads/{ref}")
        if response.status_code == 404:
            raise UnknownRef(f"{response.url}: no ref {ref!r} in the repository")
        text = response.text.strip()
        if response.status_code != 200 or not _CHECKSUM.match(text):
            raise UnsupportedFormat(f"{response.url}: not a ref file (HTTP {response.status_code})")
        return text

    def commit(self, checksum: str) -> Commit:
        if not _CHECKSUM.match(checksum):
            raise CorruptObject(f"{self.url}: {checksum!r} is not a commit checksum")
        response = self._get(f"objects/{checksum[:2]}/{checksum[2:]}.commit")
        if response.status_code == 404:
            raise UnknownRef(f"{response.url}: no commit {checksum}")
        if response.status_code != 200:
            raise UnsupportedFormat(f"{response.url}: HTTP {response.status_code}")
        commit = parse_commit(checksum, response.content, response.url)
        self._commit_bytes[checksum] = response.content
        return commit

    def signature(self, checksum: str) -> SignatureCheck:
        """The commit's signatures, judged against the reader's trusted keys: its object (read
        once per reader) and its ``.commitmeta``."""
        if checksum not in self._commit_bytes:
            self.commit(checksum)
        metadata = self._detached(f"objects/{checksum[:2]}/{checksum[2:]}.commitmeta")
        return check(self._commit_bytes[checksum], metadata, self.trust)

    def refs(self, names: list[str]) -> dict[str, RefState]:
        """The named refs, from the summary where there is one, else ref by ref (reading each
        commit object for its version)."""
        return self.refs_in(self.summary(), names)

    def refs_in(self, summary: Summary | None, names: list[str]) -> dict[str, RefState]:
        """The named refs, from ``summary`` (read already), or ref by ref where the repository
        publishes none."""
        if summary is not None:
            return summary.select(names, self.url)
        states = {}
        for name in names:
            commit = self.commit(self.resolve(name))
            states[name] = RefState(name=name, checksum=commit.checksum, version=commit.version,
                                    timestamp=commit.timestamp)
        return states
