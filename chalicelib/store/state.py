"""Small facts remembered between runs, in one DynamoDB table keyed by ``pk``: what each stream's
repository looked like at the last poll (the triggers), and the prices the plan last fetched."""

import json
from datetime import datetime
from decimal import Decimal

from chalicelib.aws import dynamodb
from chalicelib.core.settings import settings
from chalicelib.models.poll import PollState
from chalicelib.plan.prices import Fetched


def table_name() -> str:
    return settings().state_table


def get_poll_state(stream: str) -> PollState:
    """The stream's poll state as the last poll left it; an empty one of generation 0 before the first."""
    item = dynamodb.get_item(table_name(), {"pk": {"S": f"stream#{stream}"}})
    if not item:
        return PollState()
    return PollState.model_validate({**json.loads(item["document"]["S"]), "generation": int(item["generation"]["N"])})


def advance_poll_state(stream: str, generation: int, document: PollState) -> bool:
    """Write the new state if nobody else has since ``generation`` was read: two overlapping
    polls cannot both act on the same change."""
    condition = "attribute_not_exists(pk)" if generation == 0 else "generation = :seen"
    values = {":seen": {"N": str(generation)}} if generation else {}
    item = {"pk": {"S": f"stream#{stream}"}, "generation": {"N": str(generation + 1)},
            "document": {"S": json.dumps(document.model_dump(mode="json"), sort_keys=True)}}
    return dynamodb.put_item(table_name(), item, ConditionExpression=condition,
                             **({"ExpressionAttributeValues": values} if values else {}))



class StateTablePriceCache:
    """The plan's fetched prices, one item per region and set of prices (``pk`` ``prices#...``),
    shared by every function: the Price List API is asked once a week, not once per cold start."""

    def get(self, key: str) -> Fetched | None:
        item = dynamodb.get_item(table_name(), {"pk": {"S": key}})
        if not item:
            return None
        return Fetched(datetime.fromisoformat(item["fetched_at"]["S"]),
                       {name: Decimal(usd) for name, usd in json.loads(item["document"]["S"]).items()})

    def put(self, key: str, fetched: Fetched) -> None:
        document = json.dumps({name: str(usd) for name, usd in fetched.prices.items()}, sort_keys=True)
        dynamodb.put_item(table_name(), {"pk": {"S": key}, "fetched_at": {"S": fetched.fetched_at.isoformat()},
                                         "document": {"S": document}})
