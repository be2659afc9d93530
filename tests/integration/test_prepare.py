"""prepare: check the release input against its stream, claim the release record, plan the work."""

import pytest

from chalicelib import records
from chalicelib.errors import ConfigError, InvalidReleaseInput, ReleaseExists
from functions import prepare
from tests.integration.support import (
    BASE,
    CHECKSUMS,
    COPY,
    EXECUTION_ARN,
    RELEASE_ID,
    STREAM,
    VERSION,
    commit,
    invoke,
    record_count,
    release_input,
)


def prepare_event(release: dict | None = None, execution_arn: str = EXECUTION_ARN) -> dict:
    return {"release": release or release_input(), "execution_arn": execution_arn}


def test_prepare_records_a_running_release(runtime):
    invoke(prepare, prepare_event())

    record = records.get(RELEASE_ID)
    assert record.status == "RUNNING"
    assert record.execution_arn == EXECUTION_ARN
    assert (record.stream, record.version, record.trigger) == (STREAM, VERSION, "cli")
    assert {arch: c["checksum"] for arch, c in record.commits.items()} == CHECKSUMS
    assert record.regions == ["us-east-1", "us-east-2", "us-west-2"]


def test_prepare_plans_the_stream_regions_and_the_arches_sorted(runtime):
    plan = invoke(prepare, prepare_event())

    assert plan == {
        "release_id": RELEASE_ID, "stream": STREAM, "version": VERSION, "base_region": BASE,
        "regions": ["us-east-1", "us-east-2", "us-west-2"],
        "arches": [{"arch": "arm64", "commit": commit("arm64")}, {"arch": "x86_64", "commit": commit("x86_64")}],
    }


def test_prepare_plans_the_regions_the_release_asks_for(runtime):
    plan = invoke(prepare, prepare_event(release_input(regions=[BASE, COPY])))

    assert plan["regions"] == [BASE, COPY]
    assert records.get(RELEASE_ID).regions == [BASE, COPY]


def test_prepare_again_by_the_same_execution_returns_the_same_plan(runtime):
    first = invoke(prepare, prepare_event())
    created = records.get(RELEASE_ID).created_at

    again = invoke(prepare, prepare_event())

    assert again == first
    assert record_count() == 1
    assert records.get(RELEASE_ID).created_at == created


def test_another_execution_of_the_same_release_is_refused(runtime):
    invoke(prepare, prepare_event())

    with pytest.raises(ReleaseExists, match=f"release {RELEASE_ID} is already recorded \\(RUNNING\\)"):
        invoke(prepare, prepare_event(execution_arn=EXECUTION_ARN.replace(":first", ":second")))
    assert records.get(RELEASE_ID).execution_arn == EXECUTION_ARN


def test_a_ref_the_stream_does_not_build_is_refused_before_any_record(runtime):
    release = release_input()
    release["commits"]["x86_64"]["ref"] = "fedora/x86_64/coreos/stable"

    with pytest.raises(InvalidReleaseInput, match=r"commits\.x86_64\.ref: 'fedora/x86_64/coreos/stable'"):
        invoke(prepare, prepare_event(release))
    assert record_count() == 0


@pytest.mark.parametrize(("remove", "field"), [
    (lambda event: event["release"].pop("version"), "release.version"),
    (lambda event: event["release"]["commits"]["arm64"].pop("checksum"), "release.commits.arm64.checksum"),
    (lambda event: event.pop("execution_arn"), "execution_arn"),
])
def test_a_missing_field_is_named(runtime, remove, field):
    event = prepare_event()
    remove(event)

    with pytest.raises(InvalidReleaseInput, match=rf"{field}: Field required"):
        invoke(prepare, event)
    assert record_count() == 0


def test_an_unknown_stream_is_a_configuration_error(runtime):
    with pytest.raises(ConfigError, match="unknown stream 'nightly'"):
        invoke(prepare, prepare_event(release_input(stream="nightly")))
    assert record_count() == 0


def test_a_region_override_outside_the_commercial_regions_is_refused(runtime):
    with pytest.raises(InvalidReleaseInput, match="moon-1"):
        invoke(prepare, prepare_event(release_input(regions=[BASE, "moon-1"])))
    assert record_count() == 0
