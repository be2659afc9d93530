"""The latency model of a stream, read from the execution histories of its releases on moto."""

from datetime import datetime, timedelta

from atomic_release.cli.local_release import run
from atomic_release.local.synthetic import synthetic_release
from chalicelib.aws import dynamodb
from chalicelib.core.config import load_streams
from chalicelib.models.record import ReleaseStatus
from chalicelib.plan.latency import DEFAULTS, ONCE_AFTER, ONCE_BEFORE, ONCE_BETWEEN, PER_ARCH, PER_REGION
from chalicelib.plan.observed import model_for_stream
from chalicelib.store import records

STREAM = "developer"
MEASURED = (*ONCE_BEFORE, *PER_ARCH, *ONCE_BETWEEN, *PER_REGION, *ONCE_AFTER)


def release(runtime, version: str) -> str:
    result = run(runtime, synthetic_release(STREAM, version, 3))
    assert result.status == "SUCCEEDED", result.failure
    return result.release_id


def test_the_model_of_a_stream_is_read_from_its_releases_histories(runtime, streams_config):
    streams_config(lambda raw: raw["streams"][STREAM].pop("marketplace"))
    first, second = release(runtime, "43.20261125.dev.1"), release(runtime, "43.20261125.dev.2")
    gone = records.get(second).model_copy(update={
        "release_id": "developer-gone", "version": "43.20261125.dev.3", "created_at": records.now(),
        "execution_arn": records.get(second).execution_arn.rsplit(":", 1)[0] + ":kept-no-longer"})
    failed = records.get(first).model_copy(update={
        "release_id": "developer-failed", "version": "43.20261125.dev.4", "created_at": records.now(),
        "status": ReleaseStatus.FAILED})
    for record in (gone, failed):
        dynamodb.put_item(records.table_name(), records._to_item(record.model_dump(mode="json")))

    model = model_for_stream(STREAM)

    assert {stage: model.stages[stage].samples for stage in MEASURED} == dict.fromkeys(MEASURED, 2), \
        "the release whose history is gone is left out, and so is the one that never reached the public"
    assert all(model.stages[stage].source == "history" for stage in MEASURED)
    assert model.stages["marketplace"] == DEFAULTS["marketplace"], "the developer stream has no Marketplace product"
    destinations = set(records.get(first).regions) - {load_streams().stream(STREAM).regions.base}
    assert set(model.copy_by_region) == destinations
    assert all(estimate.samples == 2 for estimate in model.copy_by_region.values())


def test_only_the_last_releases_are_read(runtime):
    release(runtime, "43.20261125.dev.1")
    release(runtime, "43.20261125.dev.2")

    assert model_for_stream(STREAM, releases=1).stages["prepare"].samples == 1


def later(created_at: str, minutes: int) -> str:
    return (datetime.fromisoformat(created_at) + timedelta(minutes=minutes)).isoformat(timespec="seconds")


def test_the_releases_read_are_only_the_newest_few_of_the_stream(runtime):
    published = records.get(release(runtime, "43.20261125.dev.1"))
    for n in range(3):
        failed = published.model_copy(update={"release_id": f"developer-failed-{n}", "version": f"43.20261125.dev.{n + 2}",
                                              "created_at": later(published.created_at, n + 1),
                                              "status": ReleaseStatus.FAILED})
        dynamodb.put_item(records.table_name(), records._to_item(failed.model_dump(mode="json")))

    assert model_for_stream(STREAM, look_back=4).stages["prepare"].samples == 1
    assert model_for_stream(STREAM, look_back=3).stages["prepare"] == DEFAULTS["prepare"], \
        "the published release is older than the 3 newest: the history is not read back to it"
