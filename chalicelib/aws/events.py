"""EventBridge adapter: one event onto a bus."""

from chalicelib.aws.clients import client


def put_event(bus: str, source: str, detail_type: str, detail: str) -> tuple[dict, int]:
    """The answer's one entry (EventId, or ErrorCode and ErrorMessage) and FailedEntryCount."""
    sent = client("events").put_events(Entries=[{
        "Source": source, "DetailType": detail_type, "Detail": detail, "EventBusName": bus, "Resources": []}])
    return sent["Entries"][0], sent.get("FailedEntryCount", 0)
