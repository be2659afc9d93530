"""``atomic-release images list|download``: a stream's published images, read as a consumer reads
them, from its stream document over HTTP (as ``coreos-installer download`` reads Fedora CoreOS's).

Only the stream URL's origin is contacted: a document naming a file elsewhere is refused, and
redirects are not followed. A download is kept as ``<name>.part`` until its sha256 (and its
signature, given ``--trusted-key``) is verified, so that an interrupted one resumes where it
stopped; a file that fails a check is deleted."""

import contextlib
import hashlib
import json
import lzma
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests
import urllib3
from pydantic import ValidationError
from pysequoia import Sig, verify
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from atomic_release.cli.repo_show import read_trust
from atomic_release.cli.text import columns
from chalicelib.core.arch import ec2_arch, ostree_arch
from chalicelib.core.config import describe_validation_error
from chalicelib.core.trusted_keys import Trust, first_line, upper_fingerprint
from chalicelib.models.artifacts import PLATFORMS, SIGNING_KEY_NAME, ArtifactFormat
from chalicelib.models.documents import AtomicStream
from chalicelib.models.stream_metadata import Artifact, Stream, StreamArch

TIMEOUT_S = (10.0, 60.0)            # connect, and between two reads
STREAM_DOCUMENT_LIMIT = 16 << 20    # Fedora CoreOS's stable.json is about 40 KiB
SIGNATURE_LIMIT = 64 << 10
CHUNK = 1 << 20
PART_SUFFIX = ".part"
MAX_SIZE = 64 << 30                 # the largest file written unless --max-size says otherwise


class StreamUnreadable(ValueError):
    """The stream document cannot be read, or names nothing that may be downloaded (exit 2)."""


class DownloadFailed(Exception):
    """The file did not arrive, or arrived and failed a check (exit 1)."""


# -- the stream document ---------------------------------------------------------------------------

def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _get(session: requests.Session, url: str, headers: dict | None = None) -> requests.Response:
    """A streamed GET that follows no redirect: every byte comes from the origin asked."""
    response = session.get(url, headers=headers or {}, timeout=TIMEOUT_S, stream=True, allow_redirects=False)
    if response.is_redirect:
        response.close()
        raise StreamUnreadable(f"{url}: HTTP {response.status_code} redirects to "
                               f"{response.headers.get('Location')}, which is not followed")
    return response


def _body(response: requests.Response, limit: int) -> bytes:
    data = bytearray()
    for chunk in response.iter_content(CHUNK):
        data += chunk
        if len(data) > limit:
            response.close()
            raise StreamUnreadable(f"{response.url}: more than {limit} bytes")
    return bytes(data)


def read_stream(session: requests.Session, url: str) -> Stream:
    """The stream document at ``url``; StreamUnreadable says in one line what is wrong."""
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise StreamUnreadable(f"--stream-url {url!r}: not an http or https URL")
    try:
        response = _get(session, url)
        if response.status_code != 200:
            response.close()
            raise StreamUnreadable(f"{url}: HTTP {response.status_code}")
        data = _body(response, STREAM_DOCUMENT_LIMIT)
    except requests.RequestException as error:
        raise StreamUnreadable(f"{url}: {type(error).__name__}: {first_line(error)}") from None
    try:
        # Ours with the keys atomic-release adds (an unsigned stream says why); Fedora CoreOS's read too.
        return AtomicStream.model_validate_json(data)
    except ValidationError as error:
        raise StreamUnreadable(describe_validation_error(error, f"{url} is not a stream document")) from None


@dataclass(frozen=True)
class Download:
    """One downloadable file of an architecture, as the stream lists it."""

    platform: str
    format: str
    file: str            # disk, kernel, initramfs or rootfs
    release: str
    artifact: Artifact

    def as_json(self) -> dict:
        return {"platform": self.platform, "format": self.format, "file": self.file, "release": self.release,
                "location": self.artifact.location, "sha256": self.artifact.sha256,
                "uncompressed_sha256": self.artifact.uncompressed_sha256, "signature": self.artifact.signature}


def downloads(entry: StreamArch) -> list[Download]:
    found = []
    for platform, artifacts in sorted(entry.artifacts.items()):
        for fmt, files in sorted(artifacts.formats.items()):
            for file in ("disk", "kernel", "initramfs", "rootfs"):
                artifact = getattr(files, file)
                if artifact is not None:
                    found.append(Download(platform, fmt, file, artifacts.release, artifact))
    return found


def amis(entry: StreamArch, region: str | None) -> list[dict]:
    regions = (entry.images.aws.regions if entry.images and entry.images.aws else None) or {}
    return [{"region": name, "image": image.image, "release": image.release}
            for name, image in sorted(regions.items()) if region in (None, name)]


def document_arch(arch: str) -> str:
    """``--arch`` in either vocabulary, as the documents name it (aarch64)."""
    return ostree_arch(ec2_arch(arch))


def _architectures(stream: Stream, arch: str | None) -> dict[str, StreamArch]:
    if arch is None:
        return dict(sorted(stream.architectures.items()))
    name = document_arch(arch)
    if name not in stream.architectures:
        raise StreamUnreadable(f"stream {stream.stream} has no {name} images (it has: "
                               f"{', '.join(sorted(stream.architectures)) or 'none'})")
    return {name: stream.architectures[name]}


# -- list ------------------------------------------------------------------------------------------

def list_images(url: str, arch: str | None, region: str | None, output: str) -> int:
    with requests.Session() as session:
        stream = read_stream(session, url)
    chosen = _architectures(stream, arch)
    if output == "json":
        print(json.dumps({"stream": stream.stream, "last_modified": stream.metadata.last_modified, "url": url,
                          "architectures": {name: {"amis": amis(entry, region),
                                                   "artifacts": [d.as_json() for d in downloads(entry)]}
                                            for name, entry in chosen.items()}}, indent=2))
        return 0
    print(f"stream {stream.stream}, last modified {stream.metadata.last_modified}")
    for name, entry in chosen.items():
        print(f"\n{name}")
        images = amis(entry, region)
        print(columns(("REGION", "AMI", "RELEASE"), [(i["region"], i["image"], i["release"]) for i in images],
                      indent="  ") if images else f"  no AMI{f' in {region}' if region else ''}")
        files = downloads(entry)
        print(columns(("PLATFORM", "FORMAT", "FILE", "RELEASE", "SHA256", "SIGNATURE", "LOCATION"),
                      [(d.platform, d.format, d.file, d.release, d.artifact.sha256,
                        d.artifact.signature or "unsigned", d.artifact.location) for d in files], indent="  ")
              if files else "  no downloads")
    return 0


# -- download --------------------------------------------------------------------------------------

def _on_origin(stream_url: str, location: str, what: str) -> str:
    url = urljoin(stream_url, location)
    if _origin(url) != _origin(stream_url):
        raise StreamUnreadable(f"the stream's {what} {url} is not at {'://'.join(_origin(stream_url))}, "
                               "the only origin this command contacts")
    return url


def _file_name(url: str, fmt: ArtifactFormat) -> str:
    """The last segment of ``url``'s path, if it is a plain name ending in ``.<fmt>``: the name
    written, and without ``.xz`` the decompressed one, both inside the directory asked."""
    name = unquote(urlsplit(url).path.rpartition("/")[2])
    stem = name.removesuffix(f".{fmt}")
    if (stem == name or not stem or stem.startswith(".") or ".." in name
            or any(c in name for c in "/\\") or not name.isprintable()):
        raise StreamUnreadable(f"the stream's location {url} names the file {name!r}: not a plain file name "
                               f"ending in .{fmt}, so it is not written")
    return name


def signing_key_url(stream_url: str, stream: str) -> str:
    """Where a stream publishes its artifact signing key: beside its document, ``<stream>/``."""
    return urljoin(stream_url, f"{quote(stream)}/{SIGNING_KEY_NAME}")


def _artifact(stream: Stream, arch: str, fmt: ArtifactFormat) -> Artifact:
    name, entry = next(iter(_architectures(stream, arch).items()))
    platform = PLATFORMS[fmt]
    found = entry.artifacts.get(platform)
    disk = found.formats[fmt].disk if found and fmt in found.formats else None
    if disk is None:
        offered = [f"{d.platform} {d.format}" for d in downloads(entry) if d.file == "disk"]
        raise StreamUnreadable(f"stream {stream.stream} has no {platform} {fmt} for {name} "
                               f"(it has: {', '.join(offered) or 'no downloads'})")
    return disk


def _progress_bar(title: str, total: int | None, done: int = 0) -> Progress | None:
    """A bar of bytes on stderr under its title, where stderr is a terminal; None elsewhere."""
    if not sys.stderr.isatty():
        return None
    console = Console(stderr=True)
    console.print(title, markup=False, highlight=False)
    bar = Progress(BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(), console=console)
    bar.add_task(title, total=total, completed=done)
    return bar


def _content_range(response: requests.Response) -> tuple[int | None, int | None]:
    """(first byte, total size) of ``Content-Range: bytes first-last/total`` or ``bytes */total``."""
    value = response.headers.get("Content-Range", "")
    unit, _, spec = value.partition(" ")
    span, _, total = spec.partition("/")
    first = span.partition("-")[0]
    return (int(first) if unit == "bytes" and first.isdigit() else None,
            int(total) if unit == "bytes" and total.isdigit() else None)


def _sha256_of(path: Path) -> "hashlib._Hash":
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest


def _open_rest(session: requests.Session, url: str, part: Path) -> tuple[requests.Response | None, int]:
    """The response to read the rest of the file from, and the bytes of ``part`` it continues;
    (None, size) when ``part`` is already the whole file. A server that ignores the Range (200),
    or says the part is larger than the file (416), has the download start over."""
    offset = part.stat().st_size if part.exists() else 0
    # as stored: a range of a compressed transfer would not be a range of the file
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
    response = _get(session, url, headers)
    if not offset and response.status_code == 200:
        return response, 0
    if offset and response.status_code == 206 and _content_range(response)[0] == offset:
        return response, offset
    if offset and response.status_code == 200:
        print(f"{part.name}: the server ignores Range requests (it answered the request for the rest with the "
              "whole file): starting over; resuming needs a server that honours Range", file=sys.stderr)
        return response, 0
    response.close()
    if offset and response.status_code == 416 and _content_range(response)[1] == offset:
        return None, offset
    if offset and response.status_code in (206, 416):   # another range than asked, or the part is too long
        print(f"{part.name}: the server does not continue it: starting over", file=sys.stderr)
        part.unlink()
        return _open_rest(session, url, part)
    raise DownloadFailed(f"{url}: HTTP {response.status_code}")


def _announced_size(response: requests.Response, offset: int) -> int | None:
    """The whole file's size as the server says it: the total of a 206's Content-Range (or where
    its range ends), a 200's Content-Length; None when it says neither."""
    length = response.headers.get("Content-Length", "")
    if response.status_code == 206:
        total = _content_range(response)[1]
        if total is not None:
            return total
    return offset + int(length) if length.isdigit() else None


class TooLarge(Exception):
    """More bytes than allowed arrived, or would: why."""


def _copy(source, out: BinaryIO, digest: "hashlib._Hash", limit: int, beyond: str,
          advance: Callable[[int], None]) -> int:
    """Bytes from ``source`` (its ``read1`` hands over what has arrived, a fixed-size read would
    lose the bytes of a response cut short) into ``out`` and ``digest``; TooLarge, saying
    ``beyond``, before more than ``limit`` are written."""
    copied = 0
    while chunk := source.read1(CHUNK):
        if copied + len(chunk) > limit:
            raise TooLarge(beyond)
        out.write(chunk)
        digest.update(chunk)
        copied += len(chunk)
        advance(copied)
    return copied


def _fetch(session: requests.Session, url: str, part: Path, max_size: int) -> str:
    """The file at ``url`` completed into ``part``; its sha256. DownloadFailed (``part`` kept)
    when the transfer breaks off; (``part`` deleted) when the file is, or turns out, larger than
    the server announced or, announcing nothing, than ``max_size``."""
    name = part.name.removesuffix(PART_SUFFIX)
    began = time.monotonic()
    try:
        response, offset = _open_rest(session, url, part)
    except requests.RequestException as error:
        raise DownloadFailed(f"{url}: {type(error).__name__}: {first_line(error)}") from None
    total = offset if response is None else _announced_size(response, offset)
    if total is not None and total > max_size:
        if response is not None:
            response.close()
        part.unlink(missing_ok=True)
        raise DownloadFailed(f"{name}: the server announces {total} bytes, more than --max-size {max_size}: "
                             "not downloaded")
    digest = _sha256_of(part) if offset else hashlib.sha256()
    if response is None:
        print(f"{name}: already complete in {part.name}", file=sys.stderr)
        return digest.hexdigest()
    beyond = (f"the server sent more than the {total} bytes it announced" if total is not None else
              f"more than --max-size {max_size} bytes arrived, and the server announced no size")
    bar = _progress_bar(f"{name}{f', resuming at byte {offset}' if offset else ''}", total, offset)
    received = 0

    def advance(copied: int) -> None:
        nonlocal received
        received = copied
        if bar is not None:
            bar.update(bar.task_ids[0], completed=offset + copied)

    try:
        with response, part.open("ab" if offset else "wb") as out, bar or contextlib.nullcontext():
            _copy(response.raw, out, digest, (total if total is not None else max_size) - offset, beyond, advance)
    except TooLarge as error:
        part.unlink()
        raise DownloadFailed(f"{name}: {error}; the partial download was deleted") from None
    except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
        raise DownloadFailed(f"{name}: the download broke off after {offset + received} bytes"
                             f"{f' of {total}' if total else ''} ({type(error).__name__}); {part.name} is kept: "
                             "run the same command again to resume") from None
    if bar is None:
        resumed = f", resumed at byte {offset}" if offset else ""
        print(f"{name}: {received} bytes received in {time.monotonic() - began:.1f} s{resumed}", file=sys.stderr)
    return digest.hexdigest()


class BadSignature(Exception):
    """The detached signature does not vouch for the file: why."""


def _signer(session: requests.Session, url: str, path: Path, trust: Trust) -> str:
    """The trusted key whose detached signature at ``url`` vouches for the file at ``path``;
    BadSignature says why none does. The file is read by Sequoia as a file, never loaded whole."""
    try:
        response = _get(session, url)
        if response.status_code != 200:
            response.close()
            raise BadSignature(f"the signature {url} answered HTTP {response.status_code}")
        raw = _body(response, SIGNATURE_LIMIT)
    except requests.RequestException as error:
        raise DownloadFailed(f"{url}: {type(error).__name__}: {first_line(error)}; run again to resume") from None
    try:
        signature = Sig.from_bytes(raw)
        issuer = upper_fingerprint(signature.issuer_fingerprint or signature.issuer_key_id)
    except Exception as error:  # noqa: BLE001 - Sequoia's errors are plain exceptions
        raise BadSignature(f"the signature does not parse ({first_line(error)})") from None
    held = trust.holding(issuer)
    if held is None:
        raise BadSignature(f"it is signed by {issuer or 'an unnamed key'}, which is not a --trusted-key")
    key, facts = held
    if key.cert.is_revoked or facts.revoked or key.keys[key.fingerprint].revoked:
        raise BadSignature(f"it is signed by trusted key {key.fingerprint}, which is revoked")
    try:
        valid = bool(verify(file=str(path), store=lambda _ids: [key.cert], signature=signature).valid_sigs)
    except Exception:  # noqa: BLE001 - Sequoia reports a bad signature as a plain exception
        valid = False
    if not valid:
        raise BadSignature(f"the signature by trusted key {key.fingerprint} does not match the file")
    return key.fingerprint


def _decompressed(source: Path, expected: str | None, max_size: int) -> Path:
    """``source`` (an xz file) decompressed beside it, a buffer at a time, its sum checked;
    the compressed file is removed once the decompressed one is in place. Output beyond
    ``max_size`` bytes is not written: the partial output is deleted, the verified source kept."""
    target = source.with_suffix("")
    part = target.with_name(target.name + PART_SUFFIX)
    digest = hashlib.sha256()
    began = time.monotonic()
    bar = _progress_bar(f"decompressing {source.name}", source.stat().st_size)

    def advance(_copied: int) -> None:
        if bar is not None:
            bar.update(bar.task_ids[0], completed=raw.tell())

    try:
        with (source.open("rb") as raw, lzma.open(raw) as compressed, part.open("wb") as out,
              bar or contextlib.nullcontext()):
            _copy(compressed, out, digest, max_size, f"it decompresses to more than --max-size {max_size} bytes",
                  advance)
    except TooLarge as error:
        part.unlink()
        raise DownloadFailed(f"{source.name}: {error}; the partial {part.name} was deleted, {source.name} "
                             "(verified) is kept") from None
    except (lzma.LZMAError, EOFError) as error:
        part.unlink(missing_ok=True)
        source.unlink()
        raise DownloadFailed(f"{source.name} does not decompress ({error}); it was deleted") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if bar is None:
        print(f"{target.name}: {part.stat().st_size} bytes decompressed in {time.monotonic() - began:.1f} s",
              file=sys.stderr)
    if expected is None:
        print(f"{target.name}: the stream gives no uncompressed-sha256: the decompressed file is not verified",
              file=sys.stderr)
    elif digest.hexdigest() != expected:
        part.unlink()
        source.unlink()
        raise DownloadFailed(f"{target.name}: uncompressed sha256 mismatch: the stream says {expected}, the "
                             f"decompressed file has {digest.hexdigest()}; both files were deleted")
    part.replace(target)
    source.unlink()
    return target


def download(url: str, arch: str, fmt: ArtifactFormat, directory: str, decompress: bool,
             trusted_keys: list[str], max_size: int = MAX_SIZE) -> int:
    trust = read_trust(trusted_keys)
    with requests.Session() as session:
        stream = read_stream(session, url)
        artifact = _artifact(stream, arch, fmt)
        location = _on_origin(url, artifact.location, "location")
        signature = _on_origin(url, artifact.signature, "signature") if artifact.signature else None
        name = _file_name(location, fmt)
        if trust.keys and signature is None:
            raise DownloadFailed(f"{name} is unsigned, and --trusted-key asks for a signature: not downloaded")
        target = Path(directory) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(name + PART_SUFFIX)
        try:
            sha256 = _fetch(session, location, part, max_size)
        except KeyboardInterrupt:
            print(f"\natomic-release: interrupted; {part} is kept: run the same command again to resume",
                  file=sys.stderr)
            return 130
        if sha256 != artifact.sha256:
            part.unlink()
            raise DownloadFailed(f"{name}: sha256 mismatch: the stream says {artifact.sha256}, the file has "
                                 f"{sha256}; it was deleted")
        if signature and trust.keys:
            try:
                signer = _signer(session, signature, part, trust)
            except BadSignature as bad:
                part.unlink()
                raise DownloadFailed(f"{name}: bad signature: {bad}; it was deleted") from None
            print(f"{name}: signature by {signer} verified", file=sys.stderr)
        elif signature:
            print(f"{name}: signature {signature} not verified: fetch the stream's key from "
                  f"{signing_key_url(url, stream.stream)}, check its fingerprint out of band, and pass "
                  "--trusted-key FILE", file=sys.stderr)
    os.replace(part, target)
    print(_decompressed(target, artifact.uncompressed_sha256, max_size) if decompress else target)
    return 0


def run(args) -> int:
    try:
        if args.images_command == "list":
            return list_images(args.stream_url, args.arch, args.region, args.output)
        return download(args.stream_url, args.arch, args.format, args.directory, args.decompress, args.trusted_keys,
                        args.max_size or MAX_SIZE)
    except DownloadFailed as failure:
        print(f"atomic-release: {failure}", file=sys.stderr)
        return 1
