"""DynamoDB adapter: items of the store's tables, in DynamoDB's attribute-value form; a write
whose condition fails says so instead of raising; and Powertools Idempotency's store."""

from collections.abc import Iterator

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.aws.errors import code_of

CONDITION_FAILED = "ConditionalCheckFailedException"


def get_item(table: str, key: dict) -> dict | None:
    """The item (strongly consistent), or None."""
    return client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def put_item(table: str, item: dict, **condition) -> bool:
    """Write the item; False when ``condition`` (ConditionExpression, ...) does not hold."""
    try:
        client("dynamodb").put_item(TableName=table, Item=item, **condition)
    except ClientError as error:
        if not condition_failed(error):
            raise
        return False
    return True


def update_item(table: str, key: dict, **update) -> None:
    """Update the item; a failed ConditionExpression is raised, as any refusal."""
    client("dynamodb").update_item(TableName=table, Key=key, **update)


def update_item_if(table: str, key: dict, **update) -> bool:
    """Update the item; False when the update's ConditionExpression does not hold."""
    try:
        update_item(table, key, **update)
    except ClientError as error:
        if not condition_failed(error):
            raise
        return False
    return True


def condition_failed(error: ClientError) -> bool:
    return code_of(error) == CONDITION_FAILED


def scan(table: str, **query) -> list[dict]:
    """Every item of the table (strongly consistent), filtered by ``query`` (FilterExpression, ...)."""
    pages = client("dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True, **query)
    return [item for page in pages for item in page["Items"]]


def idempotency_store(table: str) -> DynamoDBPersistenceLayer:
    """Powertools Idempotency's records in ``table``, keyed by ``id``, expiring at ``expires_at``
    (the table's TTL attribute)."""
    return DynamoDBPersistenceLayer(table_name=table, key_attr="id", expiry_attr="expires_at",
                                    boto3_client=client("dynamodb"))


def query_pages(table: str, **query) -> Iterator[list[dict]]:
    """The items ``query`` (IndexName, KeyConditionExpression, ...) finds, a page at a time, read
    only as far as the caller goes on asking."""
    pages = client("dynamodb").get_paginator("query").paginate(TableName=table, **query)
    for page in pages:
        yield page["Items"]
