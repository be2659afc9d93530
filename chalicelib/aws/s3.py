"""S3 adapter: objects read with their ETag and written under a condition."""

from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.aws.errors import code_of

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


def object_size(bucket: str, key: str) -> int | None:
    """The object's size in bytes; None when there is no such object."""
    try:
        return client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"]
    except ClientError as error:
        if code_of(error) in NOT_FOUND:
            return None
        raise


def put_object(bucket: str, key: str, body: bytes, **settings) -> None:
    """Write the object; ``settings`` are PutObject's (ContentType, IfMatch, IfNoneMatch, ...)."""
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, **settings)


def lost_a_write_race(error: ClientError) -> bool:
    """A conditional write refused because someone else wrote first."""
    return code_of(error) in WRITE_CONFLICTS
