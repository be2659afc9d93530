"""Metrics where nothing reads them: the local runtime disables Powertools' metrics, and then no
metric may be printed among what its commands print."""

from types import SimpleNamespace

from aws_lambda_powertools.metrics.provider.base import reset_cold_start_flag_provider

from chalicelib.core.observability import COLD_STARTS, count, count_cold_start
from tests.emf import counts

CONTEXT = SimpleNamespace(function_name="atomic-release-local-prepare")


def test_a_cold_start_is_counted_once_per_execution_environment(capsys):
    reset_cold_start_flag_provider()
    count_cold_start(CONTEXT)
    count_cold_start(CONTEXT)

    assert counts(capsys.readouterr().out, COLD_STARTS) == [
        ({"function_name": "atomic-release-local-prepare", "service": "atomic-release"}, 1.0)]


def test_disabled_metrics_print_nothing_not_even_a_cold_start(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    reset_cold_start_flag_provider()
    count_cold_start(CONTEXT)
    count("PollErrors", stream="developer")

    assert capsys.readouterr().out == ""
