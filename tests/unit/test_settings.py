"""The functions' settings: read once, checked as a whole, no silent defaults."""

import re
from pathlib import Path

import pytest

from chalicelib.core.errors import SettingsError
from chalicelib.core.settings import locations, reset_settings, settings

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ("RELEASES_TABLE", "STATE_TABLE", "IDEMPOTENCY_TABLE", "METADATA_BUCKET", "RELEASE_TOPIC_ARN", "RELEASE_STATE_MACHINE_ARN",
            "BUILDER_INSTANCE_PROFILE", "QA_INSTANCE_PROFILE", "PUBLIC_BASE_URL")
STACK = {name: f"the-{name.lower()}" for name in REQUIRED} | {"WEBHOOK_SECRET_ID": "the-secret",
                                                              "PUBLIC_BASE_URL": "https://d111111abcdef8.cloudfront.net/"}
OPTIONAL = ("WEBHOOK_SECRET_PARAMETER", "RELEASE_EVENT_BUS", "RETENTION_DRY_RUN", "AWS_REGION", "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL", "STREAMS_CONFIG")


@pytest.fixture
def environment(monkeypatch):
    """An environment holding exactly what the stack sets; returns a way to change it."""
    for name in (*STACK, *OPTIONAL):
        monkeypatch.delenv(name, raising=False)
    for name, value in STACK.items():
        monkeypatch.setenv(name, value)

    def change(name: str, value: str | None) -> None:
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
        reset_settings()

    return change


def test_what_the_stack_sets_is_read(environment):
    read = settings()
    assert (read.releases_table, read.release_topic_arn, read.webhook_secret_id) == \
        ("the-releases_table", "the-release_topic_arn", "the-secret")
    assert (read.instance_profile("builder"), read.instance_profile("qa")) == \
        ("the-builder_instance_profile", "the-qa_instance_profile")


@pytest.mark.parametrize("name", REQUIRED)
def test_a_missing_variable_fails_naming_it(environment, name):
    environment(name, None)
    with pytest.raises(SettingsError, match=rf"\b{name} is not set"):
        settings()


def test_an_empty_variable_is_a_missing_one(environment):
    environment("RELEASES_TABLE", "")
    with pytest.raises(SettingsError, match="RELEASES_TABLE is not set"):
        settings()


def test_every_missing_variable_is_named_at_once(environment):
    environment("STATE_TABLE", None)
    environment("QA_INSTANCE_PROFILE", None)
    with pytest.raises(SettingsError, match="STATE_TABLE is not set; QA_INSTANCE_PROFILE is not set"):
        settings()


def test_the_webhook_secret_must_be_named_in_one_of_two_places(environment):
    environment("WEBHOOK_SECRET_ID", None)
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET_ID .* or WEBHOOK_SECRET_PARAMETER .* must be set"):
        settings()
    environment("WEBHOOK_SECRET_PARAMETER", "/atomic-release/webhook-secret")
    assert settings().webhook_secret_parameter == "/atomic-release/webhook-secret"


def test_the_documented_defaults(environment):
    assert (settings().release_event_bus, settings().retention_dry_run) == ("default", True)
    environment("RETENTION_DRY_RUN", "false")
    assert settings().retention_dry_run is False


def test_a_value_that_is_not_a_boolean_fails_naming_the_variable(environment):
    environment("RETENTION_DRY_RUN", "perhaps")
    with pytest.raises(SettingsError, match="RETENTION_DRY_RUN: "):
        settings()


@pytest.mark.parametrize("url", ["https://d111111abcdef8.cloudfront.net", "s3://bucket/", "https:// spaced/",
                                 "http://d111111abcdef8.cloudfront.net/", "http://127.0.0.1.example.org/"])
def test_the_public_base_url_is_an_https_url_ending_in_a_slash(environment, url):
    environment("PUBLIC_BASE_URL", url)
    with pytest.raises(SettingsError, match="PUBLIC_BASE_URL: "):
        settings()


@pytest.mark.parametrize("url", ["https://images.example.org/", "https://d111111abcdef8.cloudfront.net/prod/",
                                 "http://127.0.0.1:8000/", "http://localhost/site/"])
def test_the_public_base_url_may_be_plain_http_only_on_this_machine(environment, url):
    environment("PUBLIC_BASE_URL", url)
    assert settings().public_base_url == url


def test_settings_are_read_once_until_reset(environment, monkeypatch):
    first = settings()
    monkeypatch.setenv("RELEASES_TABLE", "another")
    assert settings() is first
    reset_settings()
    assert settings().releases_table == "another"


def test_the_region_is_lambda_s_and_has_no_default(environment):
    with pytest.raises(SettingsError, match="AWS_REGION is not set"):
        _ = locations().region
    environment("AWS_DEFAULT_REGION", "eu-north-1")
    assert locations().region == "eu-north-1"
    environment("AWS_REGION", "ap-south-2")
    assert locations().region == "ap-south-2"


def test_nothing_but_the_settings_module_reads_the_environment():
    readers = [path.relative_to(ROOT) for path in (ROOT / "chalicelib").rglob("*.py")
               if re.search(r"\bos\.(environ|getenv)\b", path.read_text())]
    assert readers == []
