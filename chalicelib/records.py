"""The release record in DynamoDB: one item per release, keyed by its execution name."""

import os
from datetime import datetime, timezone

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.aws import client
from chalicelib.errors import ReleaseExists
from chalicelib.models import ReleaseInput, ReleaseRecord


def table_name() -> str:
    return os.environ.get("RELEASES_TABLE", "atomic-release-releases")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _to_item(data: dict) -> dict:
    return {k: _SERIALIZER.serialize(v) for k, v in data.items() if v is not None}


def _from_item(item: dict) -> dict:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


def get(release_id: str) -> ReleaseRecord | None:
    item = client("dynamodb").get_item(TableName=table_name(), Key={"release_id": {"S": release_id}},
                                       ConsistentRead=True).get("Item")
    return ReleaseRecord.model_validate(_from_item(item)) if item else None


def create(release: ReleaseInput, execution_arn: str, regions: list[str]) -> ReleaseRecord:
    """Conditional put: the first execution of a release owns its record; a retry of that
    execution finds its own record and goes on; any other execution is refused."""
    now = _now()
    record = ReleaseRecord(
        release_id=release.release_id, stream=release.stream, version=release.version,
        trigger=release.trigger, status="RUNNING", execution_arn=execution_arn,
        commits={a: c.model_dump(mode="json") for a, c in release.commits.items()},
        regions=regions, created_at=now, updated_at=now, missing_arches=list(release.missing_arches),
    )
    try:
        client("dynamodb").put_item(
            TableName=table_name(), Item=_to_item(record.model_dump()),
            ConditionExpression="attribute_not_exists(release_id)",
        )
        return record
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    existing = get(release.release_id)
    if existing and existing.execution_arn == execution_arn:
        return existing
    raise ReleaseExists(f"release {release.release_id} is already recorded "
                        f"({existing.status if existing else 'unknown'}) by another execution")


def _update(release_id: str, **fields) -> None:
    fields["updated_at"] = _now()
    names = {f"#{k}": k for k in fields}
    values = _to_item({f":{k}": v for k, v in fields.items()})
    client("dynamodb").update_item(
        TableName=table_name(), Key={"release_id": {"S": release_id}},
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
        ExpressionAttributeNames=names, ExpressionAttributeValues=values,
        ConditionExpression="attribute_exists(release_id)",
    )


def mark_succeeded(release_id: str, images: dict[str, dict[str, str]], metadata_url: str) -> None:
    _update(release_id, status="SUCCEEDED", images=images, metadata_url=metadata_url)


def mark_failed(release_id: str, stage: str, failure: str) -> None:
    _update(release_id, status="FAILED", failed_stage=stage, failure=failure)


def mark_ended(release_id: str, status: str, failure: str) -> None:
    """An execution that ended without its Catch paths (ABORTED, TIMED_OUT)."""
    _update(release_id, status=status, failure=failure)
