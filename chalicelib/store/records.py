"""The release record in DynamoDB: one item per release, keyed by its execution name."""

import heapq
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.aws import dynamodb
from chalicelib.core.errors import ReleaseExists, ReleaseNotPartial
from chalicelib.core.settings import settings
from chalicelib.models.abort import AbortRequest, Cleanup
from chalicelib.models.build import BuiltImage
from chalicelib.models.marketplace import ProductChange
from chalicelib.models.record import ReleaseRecord, ReleaseStatus
from chalicelib.models.regions import RegionOutcome
from chalicelib.models.release import ReleaseInput


def table_name() -> str:
    return settings().releases_table


def now() -> str:
    """The time as the records keep it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _to_item(data: dict) -> dict:
    return {k: _SERIALIZER.serialize(v) for k, v in data.items() if v is not None}


def _from_item(item: dict) -> dict:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


def _key(release_id: str) -> dict:
    return {"release_id": {"S": release_id}}


def get(release_id: str) -> ReleaseRecord | None:
    item = dynamodb.get_item(table_name(), _key(release_id))
    return ReleaseRecord.model_validate(_from_item(item)) if item else None


def new_record(release: ReleaseInput, execution_arn: str, regions: list[str], marketplace_arches: Sequence[str] = (),
               created_at: str | None = None, signatures_required: bool | None = None) -> ReleaseRecord:
    """The record of a run that starts the release: RUNNING, nothing made yet; its commits with
    what detection found of their signatures."""
    written_at = now()
    return ReleaseRecord(
        release_id=release.release_id, stream=release.stream, version=release.version,
        trigger=release.trigger, status=ReleaseStatus.RUNNING, execution_arn=execution_arn, commits=release.commits,
        regions=regions, created_at=created_at or written_at, updated_at=written_at, missing_arches=list(release.missing_arches),
        marketplace_arches=list(marketplace_arches), rerun=release.rerun, signatures_required=signatures_required,
    )


def _put_or_find_own(record: ReleaseRecord, condition: str, names: dict | None = None,
                     values: dict | None = None) -> ReleaseRecord:
    """Conditional put; when the condition fails, the record is this execution's own (a retry
    of the task) or the put is refused."""
    request: dict[str, Any] = {"ConditionExpression": condition}
    if names:
        request.update(ExpressionAttributeNames=names, ExpressionAttributeValues=_to_item(values or {}))
    if dynamodb.put_item(table_name(), _to_item(record.model_dump(mode="json")), **request):
        return record
    existing = get(record.release_id)
    if existing and existing.execution_arn == record.execution_arn:
        return existing
    raise ReleaseExists(f"release {record.release_id} is already recorded "
                        f"({existing.status if existing else 'unknown'}) by another execution",
                        release_id=record.release_id)


def create(release: ReleaseInput, execution_arn: str, regions: list[str],
           marketplace_arches: Sequence[str] = (), signatures_required: bool | None = None) -> ReleaseRecord:
    """Conditional put: the first execution of a release owns its record; a retry of that
    execution finds its own record and goes on; any other execution is refused."""
    return _put_or_find_own(new_record(release, execution_arn, regions, marketplace_arches,
                                       signatures_required=signatures_required),
                            "attribute_not_exists(release_id)")


def claim_rerun(release: ReleaseInput, execution_arn: str, regions: list[str],
                marketplace_arches: Sequence[str] = (), signatures_required: bool | None = None) -> ReleaseRecord:
    """A rerun starts a release that ended unreleased again from a fresh record: only a rerun
    newer than the last one that claimed it, only while the release is in such a state."""
    earlier = get(release.release_id)
    record = new_record(release, execution_arn, regions, marketplace_arches,
                        created_at=earlier.created_at if earlier else None, signatures_required=signatures_required)
    statuses = {f":ended{i}": status for i, status in enumerate(ReleaseStatus.ENDED_UNRELEASED)}
    return _put_or_find_own(record, f"#status IN ({', '.join(statuses)}) AND "
                                    "(attribute_not_exists(#rerun) OR #rerun < :rerun)",
                            {"#status": "status", "#rerun": "rerun"}, {**statuses, ":rerun": release.rerun})


def _update_if(release_id: str, **update) -> bool:
    """``_update``; False when its condition (the owner, the status it was) does not hold."""
    try:
        _update(release_id, **update)
    except ClientError as error:
        if not dynamodb.condition_failed(error):
            raise
        return False
    return True


def _update(release_id: str, owner: str | None = None, status_was: str | None = None, **fields) -> None:
    """Set the fields given; a field given as None is removed. With ``owner``, only while that
    execution owns the record; with ``status_was``, only while the release is in that status."""
    fields["updated_at"] = now()
    kept = {k: v for k, v in fields.items() if v is not None}
    removed = [k for k, v in fields.items() if v is None]
    expression = "SET " + ", ".join(f"#{k} = :{k}" for k in kept)
    if removed:
        expression += " REMOVE " + ", ".join(f"#{k}" for k in removed)
    names, values = {f"#{k}": k for k in fields}, {f":{k}": v for k, v in kept.items()}
    condition = "attribute_exists(release_id)"
    if owner:
        condition += " AND #owner = :owner"
        names["#owner"], values[":owner"] = "execution_arn", owner
    if status_was:
        condition += " AND #was = :was"
        names["#was"], values[":was"] = "status", status_was
    dynamodb.update_item(table_name(), _key(release_id), UpdateExpression=expression, ExpressionAttributeNames=names,
                         ExpressionAttributeValues=_to_item(values), ConditionExpression=condition)


def claim_fill_in(release: ReleaseInput, execution_arn: str) -> ReleaseRecord:
    """A fill-in run takes over a release that is out but misses something: only an attempt
    newer than the last one that claimed it, only while the release is in such a state (a retry
    of this same execution finds its claim)."""
    statuses = {f":fillable{i}": status for i, status in enumerate(ReleaseStatus.FILLABLE)}
    dynamodb.update_item_if(
        table_name(), _key(release.release_id),
        UpdateExpression="SET #before = #status, #status = :running, #arn = :arn, #attempt = :attempt, "
                         "#updated = :now, #marketplace = if_not_exists(#marketplace, :nothing)",
        ConditionExpression=f"#status IN ({', '.join(statuses)}) AND #attempt < :attempt",
        ExpressionAttributeNames={"#status": "status", "#arn": "execution_arn", "#attempt": "attempt",
                                  "#updated": "updated_at", "#before": "status_before_fill_in",
                                  "#marketplace": "marketplace"},
        ExpressionAttributeValues=_to_item({":running": ReleaseStatus.RUNNING, ":arn": execution_arn, **statuses,
                                            ":nothing": {},
                                            ":attempt": release.attempt,
                                            ":now": now()}),
    )
    record = get(release.release_id)
    if record is None or record.execution_arn != execution_arn:
        state = f"{record.status}, attempt {record.attempt}" if record else "not recorded"
        raise ReleaseNotPartial(f"release {release.release_id} cannot take fill-in attempt {release.attempt}: {state}",
                                release_id=release.release_id)
    return record


def mark_finished(release_id: str, status: ReleaseStatus, images: dict[str, dict[str, str]], metadata_url: str,
                  built_images: list[BuiltImage], region_states: dict[str, RegionOutcome],
                  marketplace: dict[str, ProductChange] | None = None, failed: tuple[str, str] | None = None) -> None:
    """What the release published; ``failed``: the stage after Announce that failed, and why."""
    failed_stage, failure = failed or (None, None)
    _update(release_id, status=status, images=images, metadata_url=metadata_url,
            built_images=[image.model_dump(mode="json") for image in built_images],
            region_states={region: outcome.model_dump(mode="json", exclude_none=True)
                           for region, outcome in region_states.items()},
            marketplace={arch: change.model_dump(mode="json", exclude_none=True)
                         for arch, change in (marketplace or {}).items()},
            failed_stage=failed_stage, failure=failure, status_before_fill_in=None)


def mark_notified(release_id: str, attempt: int, message_id: str, event_id: str) -> None:
    """Remember that this run's announcement went out, so a retried Announce does not send it twice."""
    dynamodb.update_item_if(
        table_name(), _key(release_id),
        UpdateExpression="SET #notified.#attempt = :sent", ConditionExpression="attribute_exists(#notified)",
        ExpressionAttributeNames={"#notified": "notified", "#attempt": str(attempt)},
        ExpressionAttributeValues=_to_item({":sent": {"message_id": message_id, "event_id": event_id}}))


def mark_marketplace(release_id: str, changes: dict[str, dict]) -> None:
    """Record where each product's change set stands (arch -> ProductChange as JSON) as the
    release follows it: what retention must not remove, and what a maintainer sees meanwhile."""
    names = {"#marketplace": "marketplace", **{f"#{arch}": arch for arch in changes}}
    values = {f":{arch}": change for arch, change in changes.items()}
    dynamodb.update_item(
        table_name(), _key(release_id),
        UpdateExpression="SET " + ", ".join(f"#marketplace.#{arch} = :{arch}" for arch in changes),
        ConditionExpression="attribute_exists(#marketplace)", ExpressionAttributeNames=names,
        ExpressionAttributeValues=_to_item(values))


def mark_failed(release_id: str, stage: str, failure: str) -> None:
    _update(release_id, status=ReleaseStatus.FAILED, failed_stage=stage, failure=failure)


def mark_fill_in_failed(release_id: str, execution_arn: str, stage: str, failure: str) -> bool:
    """A failed fill-in run leaves the release as it was (partial, or Marketplace failed), now
    with this failure. Only the run that claimed the record may say so; False when another
    execution owns it."""
    record = get(release_id)
    before = record.status_before_fill_in if record else None
    return _update_if(release_id, owner=execution_arn, status=before or ReleaseStatus.PARTIAL, failed_stage=stage,
                      failure=failure)


def mark_ended(release_id: str, status: ReleaseStatus, failure: str, owner: str | None = None,
               failed_stage: str | None = None) -> None:
    """An execution that ended without its Catch paths (ABORTED, TIMED_OUT), or after the release
    was out; with ``owner``, only while that execution owns the record."""
    _update(release_id, owner=owner, status=status, failure=failure,
            **({"failed_stage": failed_stage} if failed_stage else {}))


def mark_abort_requested(release_id: str, abort: AbortRequest) -> bool:
    """Keep why and where a maintainer stopped the run that owns the record, while it runs; the
    first abort of a run is the one kept. False when the run does not own the record, has
    settled, or was aborted already."""
    running = {f":unsettled{i}": status for i, status in enumerate(ReleaseStatus.UNSETTLED)}
    return _keep_once_per_run(release_id, "abort", abort, f"#status IN ({', '.join(running)})",
                              {"#status": "status"}, running)


def forget_abort(release_id: str, execution_arn: str) -> bool:
    """The run could not be stopped (it had ended): it was not aborted. False when a retry's run
    claimed the record in between: its record has no abort of this run to take back."""
    return _update_if(release_id, owner=execution_arn, abort=None)


def mark_cleanup(release_id: str, cleanup: Cleanup) -> bool:
    """Keep what the end of a run cleaned up (or why nothing), while that run owns the record;
    a second delivery of the same end keeps the first's."""
    return _keep_once_per_run(release_id, "cleanup", cleanup)


def _keep_once_per_run(release_id: str, field: str, kept: AbortRequest | Cleanup, also: str = "",
                       also_names: dict | None = None, also_values: dict | None = None) -> bool:
    """Set ``field`` to ``kept`` (which names its run) while that run owns the record and the field
    holds nothing of that run yet (and ``also`` holds); False otherwise."""
    return dynamodb.update_item_if(
        table_name(), _key(release_id), UpdateExpression="SET #field = :kept, #updated = :now",
        ConditionExpression=" AND ".join(filter(None, [
            "#owner = :run", also, "(attribute_not_exists(#field) OR #field.#run <> :run)"])),
        ExpressionAttributeNames={"#field": field, "#updated": "updated_at", "#owner": "execution_arn",
                                  "#run": "execution_arn", **(also_names or {})},
        ExpressionAttributeValues=_to_item({":kept": kept.model_dump(mode="json"), ":now": now(),
                                            ":run": kept.execution_arn, **(also_values or {})}))


# The table's indexes (infra/release.yaml): every record has stream, status and created_at from
# its first write, so a record written before the indexes existed is in both (DynamoDB fills a
# new index from the items already there).
BY_STREAM, BY_STATUS = "by-stream-created", "by-status-created"
Position = tuple[str, str]  # (created_at, release_id): where a listing stands, newest first


def position(record: ReleaseRecord) -> Position:
    return record.created_at, record.release_id


def listing(stream: str | None, status: str | None, before: Position | None, page_size: int) -> Iterator[ReleaseRecord]:
    """Releases newest first (created_at, then release_id), only those strictly before ``before``,
    of the stream and in the status when given: read through an index ``page_size`` items at a
    time, only as far as the caller reads. Without a stream, the status index is read once per
    status wanted and the reads merged."""
    if stream:
        return _newest_first(BY_STREAM, "stream", stream, before, page_size, {"status": status} if status else {})
    statuses = [status] if status else list(ReleaseStatus)
    return heapq.merge(*(_newest_first(BY_STATUS, "status", s, before, page_size) for s in statuses),
                       key=position, reverse=True)


def _newest_first(index: str, key: str, value: str, before: Position | None, page_size: int,
                  where: dict[str, str] | None = None) -> Iterator[ReleaseRecord]:
    names, values = {"#key": key}, {":key": value}
    condition = "#key = :key"
    if before:
        condition += " AND #created <= :created"
        names["#created"], values[":created"] = "created_at", before[0]
    request: dict[str, Any] = {"IndexName": index, "ScanIndexForward": False, "Limit": page_size}
    if where:
        request["FilterExpression"] = " AND ".join(f"#where{i} = :where{i}" for i in range(len(where)))
        for i, (name, wanted) in enumerate(where.items()):
            names[f"#where{i}"], values[f":where{i}"] = name, wanted
    tied: list[ReleaseRecord] = []   # the index orders by created_at only: ties in release_id order here
    for items in dynamodb.query_pages(table_name(), KeyConditionExpression=condition, ExpressionAttributeNames=names,
                                      ExpressionAttributeValues=_to_item(values), **request):
        for item in items:
            record = ReleaseRecord.model_validate(_from_item(item))
            if tied and tied[0].created_at != record.created_at:
                yield from _before(tied, before)
                tied = []
            tied.append(record)
    yield from _before(tied, before)


def _before(tied: list[ReleaseRecord], before: Position | None) -> Iterator[ReleaseRecord]:
    for record in sorted(tied, key=position, reverse=True):
        if before is None or position(record) < before:
            yield record


def releases_of(stream: str) -> list[ReleaseRecord]:
    """Every recorded release of a stream, in no particular order."""
    items = dynamodb.scan(table_name(), FilterExpression="#stream = :stream",
                          ExpressionAttributeNames={"#stream": "stream"},
                          ExpressionAttributeValues=_to_item({":stream": stream}))
    return [ReleaseRecord.model_validate(_from_item(item)) for item in items]


def mark_retired(release_id: str, removed: dict[str, list[str]], status_was: ReleaseStatus) -> None:
    """Retention removed every image of the release; ``removed``: kind -> ``region:id`` of what went.
    Only while the release is as retention found it (a rerun may have claimed it since)."""
    _update(release_id, status_was=status_was, status=ReleaseStatus.RETIRED, retired=removed)
