"""Small facts the triggers remember between runs, in one DynamoDB table keyed by ``pk``:
what each stream's repository looked like at the last poll, and webhook deliveries seen."""

import json
import os
import time

from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.models.poll import PollState


def table_name() -> str:
    return os.environ.get("STATE_TABLE", "atomic-release-state")


def _conditional_failed(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


def get_poll_state(stream: str) -> PollState:
    """The stream's poll state as the last poll left it; an empty one of generation 0 before the first."""
    item = client("dynamodb").get_item(TableName=table_name(), Key={"pk": {"S": f"stream#{stream}"}},
                                       ConsistentRead=True).get("Item")
    if not item:
        return PollState()
    return PollState.model_validate({**json.loads(item["document"]["S"]), "generation": int(item["generation"]["N"])})


def advance_poll_state(stream: str, generation: int, document: PollState) -> bool:
    """Write the new state if nobody else has since ``generation`` was read: two overlapping
    polls cannot both act on the same change."""
    condition = "attribute_not_exists(pk)" if generation == 0 else "generation = :seen"
    values = {":seen": {"N": str(generation)}} if generation else {}
    try:
        client("dynamodb").put_item(
            TableName=table_name(), ConditionExpression=condition,
            Item={"pk": {"S": f"stream#{stream}"}, "generation": {"N": str(generation + 1)},
                  "document": {"S": json.dumps(document.model_dump(mode="json"), sort_keys=True)}},
            **({"ExpressionAttributeValues": values} if values else {}))
        return True
    except ClientError as error:
        if _conditional_failed(error):
            return False
        raise


def remember_delivery(delivery_id: str, keep_seconds: int) -> bool:
    """True the first time a delivery id is seen; False for a replay."""
    try:
        client("dynamodb").put_item(
            TableName=table_name(), ConditionExpression="attribute_not_exists(pk)",
            Item={"pk": {"S": f"delivery#{delivery_id}"}, "expires_at": {"N": str(int(time.time()) + keep_seconds)}})
        return True
    except ClientError as error:
        if _conditional_failed(error):
            return False
        raise


def forget_delivery(delivery_id: str) -> None:
    client("dynamodb").delete_item(TableName=table_name(), Key={"pk": {"S": f"delivery#{delivery_id}"}})
