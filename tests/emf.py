"""What Powertools printed as CloudWatch embedded metric format (EMF): each line a JSON object
whose ``_aws`` says which of its keys are metrics and under which dimension sets."""

import json


def emitted(output: str) -> list[dict]:
    """The EMF records among the printed lines (log lines are JSON too, without ``_aws``)."""
    records = []
    for line in output.splitlines():
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict) and "_aws" in found:
            records.append(found)
    return records


def counts(output: str, metric: str) -> list[tuple[dict[str, str], float]]:
    """Each record of ``metric``: the dimensions of its widest dimension set, and its value (the
    sum of the values Powertools lists)."""
    found = []
    for record in emitted(output):
        for directive in record["_aws"]["CloudWatchMetrics"]:
            if any(m["Name"] == metric for m in directive["Metrics"]):
                widest = max(directive["Dimensions"], key=len)
                value = record[metric]
                found.append(({name: record[name] for name in widest}, sum(value) if isinstance(value, list) else value))
    return found


def dimension_sets(output: str, metric: str) -> list[list[list[str]]]:
    """The dimension sets each record of ``metric`` was written under."""
    return [directive["Dimensions"] for record in emitted(output) for directive in record["_aws"]["CloudWatchMetrics"]
            if any(m["Name"] == metric for m in directive["Metrics"])]
