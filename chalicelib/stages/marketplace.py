"""AWS Marketplace: each release becomes a new version of the stream's AMI products, one
``AddDeliveryOptions`` change set per product through the Marketplace Catalog API.

One task moves every product on: it sends what is not sent yet and reads what is in flight; the
state machine calls it again minutes apart until every change set has settled or the release
gives up following them. Sending is idempotent twice over: the release's change sets for the
product are looked up first (by their deterministic names), and the same name always carries
the same ClientRequestToken, so neither a retried task nor a later run creates a second version.

A product never gets an older version after a newer one: Marketplace offers the version added
last as the newest. Before a change set is started, the product's versions are read
(DescribeEntity) and ordered as the stream orders its releases, by the commit times of its
release index; when one is newer than the release, the product's change is REFUSED with that
reason, a settled end of the product's change that fails nothing (the release stays released)."""

import json
import math
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from chalicelib.aws import marketplace_catalog
from chalicelib.aws.clients import client_token
from chalicelib.aws.errors import code_of, describe, message_of
from chalicelib.aws.sts import account_id
from chalicelib.core import clock
from chalicelib.core.arch import Arch
from chalicelib.core.config import MarketplaceProduct, Stream, load_streams
from chalicelib.core.errors import MarketplaceThrottled
from chalicelib.core.observability import logger
from chalicelib.core.tags import RELEASE
from chalicelib.models.marketplace import MarketplaceProgress, MarketplaceTask, ProductChange
from chalicelib.stages.announce import commit_times, read_document, release_index_key
from chalicelib.store import records

ENTITY_TYPE = "AmiProduct@1.0"
CHANGE_TYPE = "AddDeliveryOptions"
# An execution lasts 24 h at most; what follows Marketplace (Finalize) needs little of the rest.
EXECUTION_ROOM = timedelta(hours=23, minutes=30)
_TRY_LATER = {"ThrottlingException", "InternalServiceException"}
# The shortest wait before a change set is next checked, however close its expected time.
CHECK_FLOOR_S = 60


def _call(operation: str, **parameters) -> dict:
    """One Catalog API call; throttling and Marketplace's own faults are the state machine's to retry."""
    try:
        return marketplace_catalog.call(operation, **parameters)
    except ClientError as error:
        if code_of(error) in _TRY_LATER:
            raise MarketplaceThrottled(f"{operation}: {describe(error)}") from None
        raise


def _now() -> datetime:
    return clock.now()


def change_set_name(release_id: str, arch: str, attempt: int, intent: str) -> str:
    """The same release, architecture, run and intent always give the same name (at most 100
    characters of ``[\\w\\s+=.:@-]``: a release id has at most 80)."""
    return f"{release_id}.{arch}.{attempt}" + (".validate" if intent == "VALIDATE" else "")


def release_notes(stream: Stream, task: MarketplaceTask, arch: Arch) -> str:
    commit = task.commits[arch]
    committed = commit.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return stream.marketplace.release_notes.format(stream=stream.name, version=task.version, arch=arch,
                                                   ref=commit.ref, checksum=commit.checksum, committed=committed)


def details_document(product: MarketplaceProduct, image_id: str, version_title: str, notes: str) -> dict:
    """The new version: its title and notes, and one delivery option with the AMI."""
    return {
        "Version": {"VersionTitle": version_title, "ReleaseNotes": notes},
        "DeliveryOptions": [{"Details": {"AmiDeliveryOptionDetails": {
            "AmiSource": {
                "AmiId": image_id, "AccessRoleArn": product.role_arn(account_id()), "UserName": product.user_name,
                "OperatingSystemName": product.operating_system_name,
                "OperatingSystemVersion": product.operating_system_version, "ScanningPort": product.scanning_port,
            },
            "UsageInstructions": product.usage_instructions,
            "RecommendedInstanceType": product.recommended_instance_type,
            "SecurityGroups": [{"IpProtocol": rule.ip_protocol, "FromPort": rule.from_port, "ToPort": rule.to_port,
                                "IpRanges": list(rule.ip_ranges)} for rule in product.security_groups],
        }}}],
    }


def _names_of_release(change: ProductChange, release_id: str) -> list[str]:
    """The names this release's runs gave the product's change sets, newest run first (the
    filter takes 10 names: ten runs back)."""
    return [change_set_name(release_id, change.arch, attempt, change.intent)
            for attempt in range(change.attempt, max(change.attempt - 10, -1), -1)]


def _already_sent(change: ProductChange, release_id: str) -> dict | None:
    """The change set to follow instead of sending one: this run's own (a retried task), or one
    an earlier run started that is in flight or succeeded, though no run recorded it (a task
    cut off after StartChangeSet). A failed or cancelled earlier one is sent again."""
    listed = _call("list_change_sets", FilterList=[
        {"Name": "ChangeSetName", "ValueList": _names_of_release(change, release_id)},
        {"Name": "EntityId", "ValueList": [change.product_id]},
    ])["ChangeSetSummaryList"]
    newest_first = sorted(listed, key=lambda found: found.get("StartTime", ""), reverse=True)
    own = [found for found in newest_first if found["ChangeSetName"] == change.change_set_name]
    live = [found for found in newest_first if found["Status"] in ("PREPARING", "APPLYING", "SUCCEEDED")]
    return (own or live or [None])[0]


def _product_versions(product_id: str) -> list[str]:
    """The titles of the product's versions (DescribeEntity's details of an AmiProduct)."""
    described = _call("describe_entity", EntityId=product_id)
    details = described.get("DetailsDocument") or json.loads(described.get("Details") or "{}")
    return [version["VersionTitle"] for version in details.get("Versions", []) if version.get("VersionTitle")]


def newer_versions(versions: list[str], times: dict[str, str], version: str) -> list[str]:
    """Of a product's versions, those of releases with a newer commit than ``version``, by the
    commit times of the stream's release index (the order of the stream metadata). Versions the
    index does not list (another stream's, one added by hand) are not compared, nor is a release
    the index does not list."""
    ours = times.get(version)
    return sorted(title for title in versions if ours and times.get(title, "") > ours)


def _refused(change: ProductChange, newer: list[str]) -> ProductChange:
    reason = (f"not sent: the product has a newer release's version ({', '.join(newer)}), and Marketplace offers "
              "the version added last as the newest")
    return change.model_copy(update={"status": "REFUSED", "reason": reason, "ended_at": _now()})


def _send(change: ProductChange, document: dict, task: MarketplaceTask) -> ProductChange:
    found = _already_sent(change, task.release_id)
    if found:
        return _read(change.model_copy(update={"change_set_id": found["ChangeSetId"],
                                               "change_set_name": found["ChangeSetName"]}))
    try:
        versions = _product_versions(change.product_id)
    except ClientError as error:
        return change.model_copy(update={"status": "FAILED", "reason": f"DescribeEntity: {describe(error)}",
                                         "ended_at": _now()})
    newer = newer_versions(versions, commit_times(read_document(release_index_key(task.stream))), task.version)
    if newer:
        logger.warning("marketplace version refused: a newer one is on the product",
                       extra={"product_id": change.product_id, "newer": newer})
        return _refused(change, newer)
    try:
        started = _call(
            "start_change_set", ChangeSetName=change.change_set_name, Intent=change.intent,
            ClientRequestToken=client_token(change.product_id, change.change_set_name),
            ChangeSet=[{"ChangeType": CHANGE_TYPE, "Entity": {"Type": ENTITY_TYPE, "Identifier": change.product_id},
                        "DetailsDocument": document}],
            ChangeSetTags=[{"Key": RELEASE, "Value": task.release_id}])
    except ClientError as error:
        if code_of(error) == "ResourceInUseException":
            return change.model_copy(update={"status": "WAITING", "reason": message_of(error)})
        return change.model_copy(update={"status": "FAILED", "reason": f"StartChangeSet: {describe(error)}",
                                         "ended_at": _now()})
    return change.model_copy(update={"change_set_id": started["ChangeSetId"], "status": "PREPARING", "reason": "",
                                     "sent_at": _now()})


def _failure_details(described: dict) -> str:
    errors = [f"{detail.get('ErrorCode')}: {detail.get('ErrorMessage')}"
              for change in described.get("ChangeSet", []) for detail in change.get("ErrorDetailList", [])]
    summary = " ".join(part for part in (described.get("FailureCode"), described.get("FailureDescription")) if part)
    return "; ".join(part for part in [summary, *errors] if part) or "no details given"


def _read(change: ProductChange) -> ProductChange:
    try:
        described = _call("describe_change_set", ChangeSetId=change.change_set_id)
    except ClientError as error:
        # Not settled: the change set may well go on at Marketplace; the next check asks again.
        return change.model_copy(update={"reason": f"DescribeChangeSet: {describe(error)}"})
    status = described["Status"]
    update: dict = {"status": status, "reason": ""}
    if status == "FAILED":
        update["reason"] = _failure_details(described)
    elif status == "CANCELLED":
        update["reason"] = "the change set was cancelled"
    # Marketplace's own times, not the check's: what the latency model measures (plan/observed.py)
    if started := _marketplace_time(described.get("StartTime")):
        update["sent_at"] = started
    if status in ("SUCCEEDED", "FAILED", "CANCELLED"):
        update["ended_at"] = _marketplace_time(described.get("EndTime")) or _now()
    return change.model_copy(update=update)


def _marketplace_time(value: str | None) -> datetime | None:
    """A DescribeChangeSet time (ISO 8601, ``2018-02-27T13:45:22Z``): when Marketplace started or
    ended the change set, which is not when a check saw it."""
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _planned(task: MarketplaceTask, stream: Stream, arch: Arch, earlier: ProductChange | None) -> ProductChange:
    """The product's change set in this run: the one this run follows, one an earlier run left
    in flight (followed again), or a new one when there is none or the earlier one failed."""
    if earlier and earlier.attempt == task.attempt:
        return earlier
    if earlier and earlier.change_set_id and earlier.status in ("PREPARING", "APPLYING", "OVERDUE"):
        return earlier.model_copy(update={"status": "APPLYING", "reason": ""})
    product = stream.marketplace.products[arch]
    image = next(i for i in task.images if i.arch == arch)
    intent = stream.marketplace.intent
    return ProductChange(arch=arch, product_id=product.product_id, image_id=image.image_id, intent=intent,
                         attempt=task.attempt,
                         change_set_name=change_set_name(task.release_id, arch, task.attempt, intent))


def _move_on(change: ProductChange, task: MarketplaceTask, stream: Stream, too_late: bool) -> ProductChange:
    """Read a change set in flight; send one not sent yet, unless it is too late to follow it."""
    if change.settled:
        return change
    if change.change_set_id:
        return _read(change)
    if too_late:
        return change
    product = stream.marketplace.products[change.arch]
    document = details_document(product, change.image_id, task.version, release_notes(stream, task, change.arch))
    return _send(change, document, task)


def _overdue(change: ProductChange) -> ProductChange:
    if change.settled:
        return change
    where = "still " + change.status if change.change_set_id else "not sent (" + (change.reason or change.status) + ")"
    return change.model_copy(update={"status": "OVERDUE", "reason": f"{where} when the release stopped following "
                                     "Marketplace; a retry of the release follows it again"})


def deadline(task: MarketplaceTask, stream: Stream, started: datetime) -> datetime:
    """``give_up_after_hours`` after the first check, and within the execution's own time."""
    follow_until = started + timedelta(hours=stream.marketplace.give_up_after_hours)
    if task.execution_started_at:
        follow_until = min(follow_until, task.execution_started_at + EXECUTION_ROOM)
    return follow_until


def advance(task: MarketplaceTask) -> MarketplaceProgress:
    """Send what is not sent, read what is in flight; past the deadline send nothing more and
    stop following."""
    stream = load_streams().stream(task.stream)
    progress = task.marketplace
    started = progress.started_at or _now()
    follow_until = deadline(task, stream, started)
    too_late = _now() >= follow_until
    earlier = {change.arch: change for change in progress.products}
    products = [_move_on(_planned(task, stream, arch, earlier.get(arch)), task, stream, too_late)
                for arch in progress.arches]
    if too_late:
        products = [_overdue(change) for change in products]
    changed = [change for change in products if change != earlier.get(change.arch)]
    if changed:
        records.mark_marketplace(task.release_id, {c.arch: c.model_dump(mode="json", exclude_none=True)
                                                   for c in changed})
    for change in changed:
        if change.status in ("FAILED", "CANCELLED", "OVERDUE"):
            logger.warning("marketplace change set did not succeed", extra={"change": change.model_dump(mode="json")})
    pending = not all(change.settled for change in products)
    now = _now()
    wait = next_check_in([c.sent_at for c in products if c.sent_at and not c.settled], now, task.expected_s,
                         stream.marketplace.check_every_minutes * 60)
    # never past the deadline: the check there leaves what is in flight OVERDUE, within the execution's time
    wait = min(wait, max(math.ceil((follow_until - now).total_seconds()), 1))
    return progress.model_copy(update={"started_at": started, "products": products, "pending": pending,
                                       "wait_seconds": wait})


def next_check_in(sent: list[datetime], now: datetime, expected_s: float | None, every_s: int) -> int:
    """Seconds to the next check of the change sets in flight: until the earliest sent is expected
    to have settled (Preflight's expectation), then every ``every_s`` (the stream's
    check_every_minutes) as a backstop."""
    if expected_s is None or not sent:
        return every_s
    until_due = (min(sent) + timedelta(seconds=expected_s) - now).total_seconds()
    return max(math.ceil(until_due), CHECK_FLOOR_S) if until_due > 0 else every_s
