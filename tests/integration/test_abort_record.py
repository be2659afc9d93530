"""An abort kept in a release's record is taken back only by the run it names while that run
owns the record: once a retry's run claimed the record, taking it back says so, not raises."""

from atomic_release.local.synthetic import synthetic_release
from chalicelib.aws import dynamodb
from chalicelib.models.abort import AbortRequest
from chalicelib.store import records

RUN = "arn:aws:states:us-east-1:123456789012:execution:m:{}"


def recorded_running(owner: str) -> str:
    release = synthetic_release("developer", "43.1", 1)
    record = records.new_record(release, RUN.format(owner), release.regions or ["us-east-1"])
    dynamodb.put_item(records.table_name(), records._to_item(record.model_dump(mode="json")))
    return release.release_id


def aborted(release_id: str, run: str) -> AbortRequest:
    abort = AbortRequest(execution_arn=run, reason="wrong commit", stage="build", requested_at=records.now())
    assert records.mark_abort_requested(release_id, abort)
    return abort


def test_the_run_that_owns_the_record_takes_its_abort_back(runtime):
    release_id = recorded_running("first")
    aborted(release_id, RUN.format("first"))

    assert records.forget_abort(release_id, RUN.format("first")) is True
    assert records.get(release_id).abort is None


def test_an_abort_is_not_taken_back_once_a_retrys_run_claimed_the_record(runtime):
    release_id = recorded_running("first")
    abort = aborted(release_id, RUN.format("first"))
    records._update(release_id, execution_arn=RUN.format("retry"))   # a retry claimed the record

    assert records.forget_abort(release_id, RUN.format("first")) is False
    assert records.get(release_id).abort == abort
