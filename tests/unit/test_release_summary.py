"""A release's summary shows an abort and a cleanup only of the run that owns the record: a run
that took the release over (a fill-in) starts with neither, though the record still holds the
previous run's."""

from atomic_release.local.synthetic import synthetic_release
from chalicelib.api.release_view import ReleaseSummary
from chalicelib.models.abort import AbortRequest, Cleanup
from chalicelib.store import records

RUN = "arn:aws:states:us-east-1:123456789012:execution:m:{}"


def record_of(owner: str, aborted_run: str):
    release = synthetic_release("developer", "43.1", 1)
    record = records.new_record(release, RUN.format(owner), ["us-east-1"])
    return record.model_copy(update={
        "abort": AbortRequest(execution_arn=RUN.format(aborted_run), reason="wrong commit", stage="copy",
                              requested_at="2026-11-25T00:00:00+00:00"),
        "cleanup": Cleanup(execution_arn=RUN.format(aborted_run), status="ABORTED", cleaned=True,
                           at="2026-11-25T00:01:00+00:00")})


def test_the_summary_shows_the_abort_and_cleanup_of_the_run_that_owns_the_record():
    summary = ReleaseSummary.of(record_of("first", aborted_run="first"))

    assert summary.abort and summary.abort.execution_arn == RUN.format("first")
    assert summary.cleanup and summary.cleanup.execution_arn == RUN.format("first")


def test_the_summary_leaves_out_a_previous_runs_abort_and_cleanup():
    summary = ReleaseSummary.of(record_of("fill-in", aborted_run="first"))

    assert summary.abort is None and summary.cleanup is None
    assert summary.execution_arn == RUN.format("fill-in")
