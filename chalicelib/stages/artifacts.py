"""Announce's first step: the builders' uploads become downloadable. Each staged file is copied
to its public key under the stream's builds prefix (with a detached OpenPGP signature beside it
where the stream signs its artifacts), then the staging prefix is emptied.

Nothing is published unless everything can be: every file is checked (its size, and its sha256
as it streams through this function, so no document lists a sum its file does not have) and
every signature made before the first copy.
A published file is never replaced: a retried Announce or a fill-in run finds it by the sha256
kept in its metadata and skips it."""

import hashlib
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from pysequoia import PySigner, SignatureMode, Tsk, sign_file

from chalicelib.aws import s3, secretsmanager
from chalicelib.aws.errors import code_of, describe
from chalicelib.core.arch import Arch
from chalicelib.core.config import load_streams
from chalicelib.core.errors import AnnounceFailed
from chalicelib.core.observability import logger
from chalicelib.core.settings import settings
from chalicelib.models.announce import AnnounceTask
from chalicelib.models.artifacts import (
    SIGNATURE_SUFFIX,
    DiskArtifact,
    public_key,
    signing_key_key,
    staging_prefix,
)

CONTENT_TYPE = "application/x-xz"  # both formats are xz streams
SIGNATURE_CONTENT_TYPE = "application/pgp-signature"
KEY_CONTENT_TYPE = "application/pgp-keys"
KEY_CACHE_CONTROL = "public, max-age=300"  # a stream's key may be replaced
# A published file's bytes never change under its name, but retention (or a failed release) can
# retire it: edges keep it a day, not a year after it is gone.
DOWNLOAD_CACHE_CONTROL = "public, max-age=86400"
SHA256_METADATA = "sha256"  # S3 keeps user metadata keys in lower case
UNCOMPRESSED_SHA256_METADATA = "uncompressed-sha256"
CHANGED = {"PreconditionFailed", "412"}  # an If-Match that no longer holds
STAGING = "staging/"  # every release's staging prefix is under it


SIGNED_BY_METADATA = "signed-by"  # on a signature: the fingerprint of the key that made it


@dataclass(frozen=True)
class Staged:
    arch: Arch
    artifact: DiskArtifact
    public: str  # its key under the public prefix

    @property
    def signature(self) -> str:
        return self.public + SIGNATURE_SUFFIX


@dataclass(frozen=True)
class Published:
    """A file as it is public: what the documents list for it, whichever run copied it."""

    arch: Arch
    artifact: DiskArtifact
    public: str
    signed: bool  # a signature is beside it
    signed_by: str | None = None  # that signature's key (its fingerprint), where it was recorded


@dataclass(frozen=True)
class Signing:
    signer: PySigner
    fingerprint: str  # upper case, as gpg shows it
    certificate: str  # its public key, armored


def bucket() -> str:
    return settings().metadata_bucket


def staged_files(task: AnnounceTask) -> list[Staged]:
    """Each reported file with its public key. A key outside its architecture's staging prefix
    is refused (Announce deletes what it publishes), and so is a format reported twice."""
    osname = load_streams().stream(task.stream).osname
    files = []
    for image in task.images or []:
        for artifact in image.artifacts or []:
            if not artifact.key.startswith(staging_prefix(task.release_id, image.arch)):
                raise AnnounceFailed(f"{image.arch}: {artifact.key} is not under "
                                     f"{staging_prefix(task.release_id, image.arch)}, where its builder uploads")
            files.append(Staged(image.arch, artifact, public_key(task.stream, osname, task.version, image.arch, artifact.format)))
    twice = sorted(key for key, count in Counter(file.public for file in files).items() if count > 1)
    if twice:
        raise AnnounceFailed(f"reported more than once: {', '.join(twice)}")
    return files


def publish(task: AnnounceTask) -> list[Published]:
    """Copy the release's staged files to the public prefix, signed where the stream has a key,
    and return every reported file as it is public (signed or not as it was published, by this
    run or an earlier one: a key added since signs no file already public). Then empty the
    release's staging prefix: what a builder uploaded and did not report (a file of a retried
    upload, an upload left in parts) goes too."""
    files = staged_files(task)
    if not files:
        return []
    try:
        already = {file.public: found for file in files if (found := _published(file)) is not None}
        pending = [file for file in files if file.public not in already]
        etags = {file.public: _check_staged(file) for file in pending}
        secret = load_streams().stream(task.stream).artifact_signing_key_secret
        signing = signer(secret) if secret and pending else None
        if signing:
            publish_certificate(task.stream, signing)
        signatures = {file.public: _checked(file, etags[file.public], signing.signer if signing else None)
                      for file in pending}
        for file in pending:
            _copy(file, etags[file.public], signatures.get(file.public), signing)
        emptied = remove_staged(task.release_id)
    except (ClientError, BotoCoreError) as error:
        raise AnnounceFailed(f"{task.stream} {task.version}: publishing the images: {describe(error)}") from None
    logger.info("images published", extra={"published": [f.public for f in pending],
                                            "already_public": sorted(already),
                                            "signed": signing is not None, "unstaged": emptied})
    return [already.get(file.public) or Published(file.arch, file.artifact, file.public, signing is not None,
                                                   signing.fingerprint if signing else None) for file in files]


def _published(file: Staged) -> Published | None:
    """The file as it is public already (with the signature beside it, if any); None when it is
    not. A different file there is refused."""
    found = s3.head_object(bucket(), file.public)
    if found is None:
        return None
    sha256 = found.get("Metadata", {}).get(SHA256_METADATA)
    if sha256 != file.artifact.sha256:
        raise AnnounceFailed(f"s3://{bucket()}/{file.public} is published already with sha256 {sha256}, not "
                             f"{file.artifact.sha256}: a published file is never replaced")
    signature = s3.head_object(bucket(), file.signature)
    signed_by = signature.get("Metadata", {}).get(SIGNED_BY_METADATA) if signature else None
    return Published(file.arch, file.artifact, file.public, signature is not None, signed_by)


def _check_staged(file: Staged) -> str:
    """The staged file's ETag, once its size is the builder's: what is hashed, signed and copied
    must be that very object."""
    found = s3.head_object(bucket(), file.artifact.key)
    if found is None:
        raise AnnounceFailed(f"s3://{bucket()}/{file.artifact.key}: the builder's upload is missing")
    if found["ContentLength"] != file.artifact.size:
        raise AnnounceFailed(f"s3://{bucket()}/{file.artifact.key} holds {found['ContentLength']} bytes, the "
                             f"builder reported {file.artifact.size}")
    return found["ETag"]


def signer(secret_id: str) -> Signing:
    """The signing key kept in the secret, armored; one that cannot sign (expired, with no signing
    subkey, protected by a passphrase, not a secret key at all) is refused naming the secret."""
    try:
        armored = secretsmanager.secret_string(secret_id)
    except (ClientError, BotoCoreError) as error:
        raise AnnounceFailed(f"the artifact signing key {secret_id} cannot be read: {describe(error)}") from None
    try:
        key = Tsk.from_bytes(armored.encode())
        certificate = key.extract_certificate()
        return Signing(key.signer(), certificate.fingerprint.upper(), str(certificate))
    except (RuntimeError, ValueError) as error:  # pysequoia's errors carry a Rust backtrace after the first line
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise AnnounceFailed(f"the artifact signing key {secret_id} cannot sign: {reason}") from None


def publish_certificate(stream: str, signing: Signing) -> None:
    """The signing key's certificate where consumers import it from, before any file it signs
    is public; written only when it is not that key's already."""
    key = signing_key_key(stream)
    if s3.read_object(bucket(), key)[0] != signing.certificate.encode():
        s3.put_object(bucket(), key, signing.certificate.encode(), ContentType=KEY_CONTENT_TYPE,
                      CacheControl=KEY_CACHE_CONTROL)


def _checked(file: Staged, etag: str, signing: PySigner | None) -> bytes | None:
    """Stream the staged file to a temporary file (the function's ephemeral storage), checking its
    sha256 as it comes; with a signer, the binary detached signature (as Fedora's ``.sig``) of
    what was checked."""
    with tempfile.TemporaryDirectory(prefix="artifact-") as scratch:
        copy, signature = Path(scratch) / "file", Path(scratch) / "file.sig"
        digest = hashlib.sha256()
        with copy.open("wb") as out:
            for chunk in _staged_chunks(file, etag):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != file.artifact.sha256:
            raise AnnounceFailed(f"s3://{bucket()}/{file.artifact.key} has sha256 {digest.hexdigest()}, the builder "
                                 f"reported {file.artifact.sha256}: nothing is published")
        if signing is None:
            return None
        sign_file(signing, str(copy), str(signature), mode=SignatureMode.DETACHED, armor=False)
        return signature.read_bytes()


def _staged_chunks(file: Staged, etag: str) -> Iterator[bytes]:
    try:
        yield from s3.object_chunks(bucket(), file.artifact.key, IfMatch=etag)
    except ClientError as error:
        if code_of(error) in CHANGED:
            raise _changed(file) from None
        raise


def _changed(file: Staged) -> AnnounceFailed:
    return AnnounceFailed(f"s3://{bucket()}/{file.artifact.key} changed after it was checked: it is not published")


def _copy(file: Staged, etag: str, signature: bytes | None, signing: Signing | None) -> None:
    """The signature first: the file is what marks the artifact published. Only the object
    that was checked is copied (its ETag): bytes swapped in since publish nothing, and take
    their signature back."""
    if signature is not None and signing is not None:
        s3.put_object(bucket(), file.signature, signature, ContentType=SIGNATURE_CONTENT_TYPE, CacheControl=DOWNLOAD_CACHE_CONTROL,
                      Metadata={SIGNED_BY_METADATA: signing.fingerprint})
    try:
        s3.copy_object(bucket(), file.artifact.key, file.public, ContentType=CONTENT_TYPE, CacheControl=DOWNLOAD_CACHE_CONTROL,
                       MetadataDirective="REPLACE", CopySourceIfMatch=etag,
                       Metadata={SHA256_METADATA: file.artifact.sha256,
                                 UNCOMPRESSED_SHA256_METADATA: file.artifact.uncompressed_sha256})
    except ClientError as error:
        if code_of(error) not in CHANGED:
            raise
        if signature is not None:
            s3.delete_objects(bucket(), [file.signature])
        raise _changed(file) from None


# -- what a release that did not publish leaves --------------------------------------------------

def remove_staged(release_id: str, arch: Arch | None = None) -> dict[str, list[str]]:
    """The files the builders uploaded for the release (or one of its architectures), and the
    multipart uploads they left incomplete: kind ("files", "uploads") -> what went."""
    removed = s3.remove_prefix(bucket(), staging_prefix(release_id, arch))
    return {"files": removed.objects, "uploads": removed.uploads}


def staged_release_id(key: str) -> str:
    """The release a key under the staging prefix belongs to: ``staging/<release id>/...``."""
    return key.removeprefix(STAGING).split("/", 1)[0]
