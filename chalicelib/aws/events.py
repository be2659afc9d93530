"""EventBridge adapter: one event onto a bus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.aws.clients import client

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsResultEntryTypeDef


def put_event(bus: str, source: str, detail_type: str, detail: str) -> tuple[PutEventsResultEntryTypeDef, int]:
    """The answer's one entry (EventId, or ErrorCode and ErrorMessage) and FailedEntryCount."""
    sent = client("events").put_events(Entries=[{
        "Source": source, "DetailType": detail_type, "Detail": detail, "EventBusName": bus, "Resources": []}])
    return sent["Entries"][0], sent.get("FailedEntryCount", 0)
