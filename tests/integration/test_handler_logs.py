"""Every kind of handler (task, schedule, EventBridge rule, API route) logs with its Lambda
context, and with a correlation id: the release id where there is one, else the event's or the
request's own id. Each handler's work is replaced by a probe that logs one line."""

import io
import json
from pathlib import Path

import pytest
from aws_lambda_powertools.metrics.provider.base import reset_cold_start_flag_provider
from chalice.test import Client

import functions.prepare
from app import app
from chalicelib.core.errors import CopyThrottled, ReleaseNotFound, StageFailure
from chalicelib.core.observability import COLD_STARTS, TASK_FAILURES, TASK_RETRIES, logger
from chalicelib.triggers import detect, events
from chalicelib.upkeep import sweeper
from tests.emf import counts
from tests.integration.support import EXECUTION_ARN, RELEASE_ID, invoke, release_input

ROOT = Path(__file__).resolve().parents[2]
CONTEXT_KEYS = {"function_name", "function_request_id", "function_arn", "function_memory_size", "cold_start"}


@pytest.fixture
def logged(runtime, monkeypatch):
    """``logged()``: the JSON lines the Powertools logger wrote so far, at INFO; metrics printed too."""
    buffer = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", buffer)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the local runtime turns them off
    level = logger.log_level
    logger.setLevel("INFO")
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logger.setLevel(level)


def probe(result=None, error: Exception | None = None):
    def logging_probe(*_args, **_kwargs):
        logger.info("probe")
        if error:
            raise error
        return result
    return logging_probe


def probed(lines: list[dict]) -> dict:
    (line,) = [line for line in lines if line["message"] == "probe"]
    assert set(line) >= CONTEXT_KEYS, line
    return line


def test_a_schedule_logs_with_its_context_and_the_events_id_and_counts_its_cold_start(logged, monkeypatch, capsys):
    monkeypatch.setattr(detect, "poll_all", probe([]))
    reset_cold_start_flag_provider()
    with Client(app, project_dir=str(ROOT)) as chalice:
        event = chalice.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                 resources=[])
        chalice.lambda_.invoke("poll_repositories", event)
        chalice.lambda_.invoke("poll_repositories", event)

    lines = [line for line in logged() if line["message"] == "probe"]
    assert [(line["function_name"], line["correlation_id"]) for line in lines] == [
        ("poll_repositories", event["id"])] * 2
    assert all(set(line) >= CONTEXT_KEYS for line in lines)
    assert counts(capsys.readouterr().out, COLD_STARTS) == [
        ({"function_name": "poll_repositories", "service": "atomic-release"}, 1.0)]


def test_the_end_of_an_execution_logs_with_its_release_id(logged, monkeypatch):
    monkeypatch.setattr(sweeper, "on_execution_ended", probe({}))
    with Client(app, project_dir=str(ROOT)) as chalice:
        chalice.lambda_.invoke("release_execution_ended", chalice.events.generate_cw_event(
            source="aws.states", detail_type="Step Functions Execution Status Change", resources=[],
            detail={"status": "ABORTED", "name": "another-name", "executionArn": EXECUTION_ARN,
                    "input": json.dumps(release_input())}))

    line = probed(logged())
    assert (line["function_name"], line["correlation_id"]) == ("release_execution_ended", RELEASE_ID)


def test_a_commit_event_logs_with_its_context_and_the_events_id(logged, monkeypatch):
    monkeypatch.setattr(events, "on_pungi_ostree", probe(events.Handled(outcome="dropped", reason="probe")))
    with Client(app, project_dir=str(ROOT)) as chalice:
        event = chalice.events.generate_cw_event(source=events.SOURCE, detail_type=events.PUNGI_OSTREE, detail={},
                                                 resources=[])
        chalice.lambda_.invoke("pungi_ostree_commit", event)

    line = probed(logged())
    assert (line["function_name"], line["correlation_id"]) == ("pungi_ostree_commit", event["id"])


def test_an_api_route_logs_with_its_context_and_the_release_id_it_names(logged, monkeypatch):
    from chalicelib.api import maintainers

    monkeypatch.setattr(maintainers, "show_release", probe(error=ReleaseNotFound(f"no release {RELEASE_ID}")))
    with Client(app, project_dir=str(ROOT)) as chalice:
        answer = chalice.http.get(f"/releases/{RELEASE_ID}")

    assert answer.status_code == 404
    line = probed(logged())
    assert (line["function_name"], line["correlation_id"]) == ("api_handler", RELEASE_ID)


def test_prepare_logs_with_the_release_id_it_makes_and_its_failure_is_counted(logged, monkeypatch, capsys):
    monkeypatch.setattr(functions.prepare, "prepare", probe(error=StageFailure("probe")))

    with pytest.raises(StageFailure):
        invoke(functions.prepare, {"release": release_input(), "execution_arn": EXECUTION_ARN})

    line = probed(logged())
    assert (line["function_name"], line["correlation_id"]) == ("atomic-release-local-prepare", RELEASE_ID)
    assert counts(capsys.readouterr().out, TASK_FAILURES) == [({"service": "atomic-release", "task": "prepare"}, 1.0)]


def test_a_task_error_the_state_machine_retries_is_counted_as_a_retry_not_a_failure(logged, monkeypatch, capsys):
    monkeypatch.setattr(functions.prepare, "prepare", probe(error=CopyThrottled("probe")))

    with pytest.raises(CopyThrottled):
        invoke(functions.prepare, {"release": release_input(), "execution_arn": EXECUTION_ARN})

    output = capsys.readouterr().out
    assert counts(output, TASK_RETRIES) == [({"service": "atomic-release", "task": "prepare"}, 1.0)]
    assert counts(output, TASK_FAILURES) == []
