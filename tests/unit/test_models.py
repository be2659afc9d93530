import re
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.core.arch import ec2_arch, ostree_arch
from chalicelib.core.config import load_streams
from chalicelib.core.errors import InvalidReleaseInput
from chalicelib.core.regions import COMMERCIAL_REGIONS, first_regions
from chalicelib.models import Caught, Failure, ReleaseInput, execution_name

CHECKSUM = "a" * 64
NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


def release(**changes) -> ReleaseInput:
    data = {"stream": "developer", "version": "43.20261125.dev.1", "commits": {
        "x86_64": {"ref": "fedora/x86_64/coreos/testing-devel", "checksum": CHECKSUM, "timestamp": NOW},
        "arm64": {"ref": "fedora/aarch64/coreos/testing-devel", "checksum": "b" * 64, "timestamp": NOW}}}
    data.update(changes)
    return ReleaseInput.model_validate(data)


@pytest.mark.parametrize(("checksum", "ok"), [
    ("a" * 64, True), ("A" * 64, False), ("a" * 63, False), ("g" * 64, False), ("", False)])
def test_checksum_must_be_64_lowercase_hex(checksum, ok):
    commits = {"x86_64": {"ref": "r", "checksum": checksum, "timestamp": NOW}}
    if ok:
        release(commits=commits)
    else:
        with pytest.raises(ValidationError, match=r"commits\.x86_64\.checksum"):
            release(commits=commits)


@pytest.mark.parametrize(("change", "field"), [
    ({"version": None}, "version"),
    ({"version": "has space"}, "version"),
    ({"commits": {}}, "commits"),
    ({"commits": {"ppc64le": {"ref": "r", "checksum": CHECKSUM, "timestamp": NOW}}}, "commits.ppc64le.[key]"),
    ({"commits": {"x86_64": {"ref": "r", "checksum": CHECKSUM}}}, "commits.x86_64.timestamp"),
    ({"trigger": "cron"}, "trigger"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_release_input_names_the_field(change, field):
    data = {"stream": "developer", "version": "1", "commits": {
        "x86_64": {"ref": "r", "checksum": CHECKSUM, "timestamp": NOW}}}
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ValidationError) as raised:
        ReleaseInput.model_validate(data)
    assert {".".join(map(str, e["loc"])) for e in raised.value.errors()} == {field}


def test_release_input_is_checked_against_its_stream():
    stream = load_streams().stream("developer")
    release().check_against(stream)
    wrong_ref = release(commits={"x86_64": {"ref": "fedora/x86_64/coreos/stable", "checksum": CHECKSUM,
                                            "timestamp": NOW}})
    with pytest.raises(InvalidReleaseInput, match=r"commits.x86_64.ref: 'fedora/x86_64/coreos/stable' is not"):
        wrong_ref.check_against(stream)
    with pytest.raises(InvalidReleaseInput, match="must start with the stream's base region 'us-east-1'"):
        release(regions=["us-west-2", "us-east-1"]).check_against(stream)


def test_execution_name_is_stable_and_changes_with_any_checksum():
    name = release().release_id
    assert name == release().release_id
    assert name.startswith("developer-43_20261125_dev_1-")
    other = release(commits={**release().model_dump()["commits"],
                             "arm64": {"ref": "fedora/aarch64/coreos/testing-devel", "checksum": "c" * 64,
                                       "timestamp": NOW}})
    assert other.release_id != name


@given(stream=st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True),
       version=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True),
       checksums=st.dictionaries(st.sampled_from(["x86_64", "arm64"]),
                                 st.from_regex(r"[0-9a-f]{64}", fullmatch=True), min_size=1))
def test_execution_name_obeys_step_functions_rules(stream, version, checksums):
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", execution_name(stream, version, checksums))


def test_architecture_names_are_mapped_in_one_place():
    assert ostree_arch("arm64") == "aarch64"
    assert ostree_arch("x86_64") == "x86_64"
    assert ec2_arch("aarch64") == "arm64"
    assert ec2_arch("arm64") == "arm64"
    with pytest.raises(ValueError, match="unsupported architecture 'ppc64le'"):
        ec2_arch("ppc64le")


def test_first_regions_starts_at_the_base_region():
    assert first_regions("us-east-1", 3) == ["us-east-1", "us-east-2", "us-west-1"]
    assert first_regions("eu-west-1", 2) == ["eu-west-1", "us-east-1"]
    assert len(first_regions("us-east-1", len(COMMERCIAL_REGIONS))) == len(COMMERCIAL_REGIONS)
    with pytest.raises(ValueError):
        first_regions("us-east-1", 0)
    with pytest.raises(ValueError):
        first_regions("us-east-1", len(COMMERCIAL_REGIONS) + 1)


@pytest.mark.parametrize(("error", "rethrown"), [
    ("States.Timeout", "TaskTimedOut"), ("States.HeartbeatTimeout", "HeartbeatTimedOut"),
    ("States.Runtime", "Runtime"), ("QAFailed", "QAFailed")])
def test_a_fail_state_never_rethrows_a_reserved_error_name(error, rethrown):
    assert Failure(stage="qa", error=error).rethrowable_error == rethrown


def test_caught_accepts_a_missing_cause():
    assert Caught.model_validate({"Error": "States.Timeout"}).Cause is None


def test_missing_arches_must_be_built_by_the_stream_and_absent_from_commits():
    stream = load_streams().stream("developer")
    x86_only = {"x86_64": release().model_dump()["commits"]["x86_64"]}
    release(commits=x86_only, missing_arches=["arm64"]).check_against(stream)
    with pytest.raises(InvalidReleaseInput, match="missing_arches: x86_64 is in commits"):
        release(missing_arches=["x86_64"]).check_against(stream)
