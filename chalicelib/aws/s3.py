"""S3 adapter: objects read with their ETag and written under a condition; files copied,
streamed, listed and removed by prefix (with their incomplete multipart uploads)."""

from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.aws.errors import code_of, ignoring

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import (
        HeadObjectOutputTypeDef,
        MultipartUploadTypeDef,
        ObjectIdentifierTypeDef,
        ObjectTypeDef,
    )

NOT_FOUND = {"NoSuchKey", "404"}
WRITE_CONFLICTS = {"PreconditionFailed", "ConditionalRequestConflict"}


def read_object(bucket: str, key: str) -> tuple[bytes | None, str | None]:
    """The object's body and ETag; (None, None) when there is no such object."""
    try:
        found = client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if code_of(error) in NOT_FOUND:
            return None, None
        raise
    return found["Body"].read(), found["ETag"]


def put_object(bucket: str, key: str, body: bytes, **settings) -> None:
    """Write the object; ``settings`` are PutObject's (ContentType, IfMatch, IfNoneMatch, ...)."""
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, **settings)


def lost_a_write_race(error: ClientError) -> bool:
    """A conditional write refused because someone else wrote first."""
    return code_of(error) in WRITE_CONFLICTS


# -- files: the builders' uploads and the published downloads -------------------------------------

# The managed copy switches to a multipart copy (UploadPartCopy) above this size: one CopyObject
# takes at most 5 GiB, and parts copied in parallel finish a multi-GB image sooner.
COPY_PART_BYTES = 256 * 1024 * 1024
_COPY = TransferConfig(multipart_threshold=COPY_PART_BYTES, multipart_chunksize=COPY_PART_BYTES, max_concurrency=8)
_DELETE_BATCH = 1000  # DeleteObjects' limit


def head_object(bucket: str, key: str) -> "HeadObjectOutputTypeDef | None":
    """The object's size, type and metadata; None when there is no such object."""
    try:
        return client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if code_of(error) in NOT_FOUND:
            return None
        raise


def copy_object(bucket: str, source_key: str, key: str, **settings) -> None:
    """A copy inside the bucket, multipart for large objects; ``settings`` are the copy's
    (ContentType, CacheControl, Metadata, MetadataDirective, CopySourceIfMatch). A failed multipart copy is aborted
    by the transfer manager; what a killed Lambda leaves, the bucket's lifecycle rule aborts."""
    client("s3").copy({"Bucket": bucket, "Key": source_key}, bucket, key, ExtraArgs=settings, Config=_COPY)


def object_chunks(bucket: str, key: str, chunk_size: int = 8 * 1024 * 1024, **condition) -> Iterator[bytes]:
    """The object's bytes, a chunk at a time: a multi-GB file never sits in memory. ``condition``:
    GetObject's (IfMatch: only the object with that ETag)."""
    body = client("s3").get_object(Bucket=bucket, Key=key, **condition)["Body"]
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


def objects_under(bucket: str, prefix: str) -> list["ObjectTypeDef"]:
    """Every object whose key starts with ``prefix`` (Key, Size, LastModified, ...)."""
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [found for page in pages for found in page.get("Contents", [])]


def uploads_under(bucket: str, prefix: str) -> list["MultipartUploadTypeDef"]:
    """The incomplete multipart uploads to keys under ``prefix`` (Key, UploadId, Initiated)."""
    pages = client("s3").get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    return [upload for page in pages for upload in page.get("Uploads", [])]


def delete_objects(bucket: str, keys: list[str]) -> None:
    """Delete the objects (a key already gone is no error); raises naming every key S3 refused.
    In a versioned bucket this only hides them: their bytes stay as noncurrent versions."""
    _delete(bucket, [{"Key": key} for key in keys])


def versions_under(bucket: str, prefix: str) -> list[tuple[str, str]]:
    """(key, version id) of every version and delete marker under ``prefix``."""
    pages = client("s3").get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    return [(found["Key"], found["VersionId"]) for page in pages
            for found in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]


def delete_versions(bucket: str, versions: list[tuple[str, str]]) -> None:
    """Delete these versions for good (key, version id): nothing of them stays to be billed."""
    _delete(bucket, [{"Key": key, "VersionId": version} for key, version in versions])


def _delete(bucket: str, identifiers: list["ObjectIdentifierTypeDef"]) -> None:
    for start in range(0, len(identifiers), _DELETE_BATCH):
        answer = client("s3").delete_objects(Bucket=bucket, Delete={
            "Objects": identifiers[start:start + _DELETE_BATCH], "Quiet": True})
        refused = [f"{error.get('Key')}: {error.get('Code')}: {error.get('Message')}"
                   for error in answer.get("Errors", [])]
        if refused:
            raise ClientError({"Error": {"Code": "DeleteObjectsRefused", "Message": "; ".join(refused)}},
                              "DeleteObjects")


def abort_upload(bucket: str, key: str, upload_id: str) -> None:
    with ignoring("NoSuchUpload"):  # completed or aborted since it was listed
        client("s3").abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


class RemovedFiles(NamedTuple):
    objects: list[str]  # keys
    uploads: list[str]  # "key (upload id)" of the multipart uploads aborted


def remove_prefix(bucket: str, prefix: str) -> RemovedFiles:
    """Abort every incomplete multipart upload under ``prefix``, then delete every object: the
    uploads first, so a part that lands meanwhile is dropped with its upload."""
    uploads = uploads_under(bucket, prefix)
    for upload in uploads:
        abort_upload(bucket, upload["Key"], upload["UploadId"])
    keys = [found["Key"] for found in objects_under(bucket, prefix)]
    delete_objects(bucket, keys)
    return RemovedFiles(objects=keys, uploads=[f"{u['Key']} ({u['UploadId']})" for u in uploads])
