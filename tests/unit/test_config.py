import copy
import json

import pytest

from chalicelib.config import DEFAULT_CONFIG, StreamsConfig, load_streams
from chalicelib.errors import ConfigError


def default_raw() -> dict:
    return json.loads(DEFAULT_CONFIG.read_text())


def load_with(tmp_path, mutate) -> StreamsConfig:
    raw = copy.deepcopy(default_raw())
    mutate(raw["streams"]["developer"])
    path = tmp_path / "streams.json"
    path.write_text(json.dumps(raw))
    return load_streams(path)


def test_default_configuration_has_a_biweekly_stable_and_an_every_commit_developer_stream():
    streams = load_streams()
    assert streams.stream("stable").cadence == "biweekly"
    assert streams.stream("developer").cadence == "every-commit"
    for stream in streams.streams.values():
        assert stream.arches == ["x86_64", "arm64"]
        assert "aarch64" in stream.refs["arm64"]


def test_stream_names_images_and_parameters_from_its_patterns():
    stream = load_streams().stream("developer")
    assert stream.ami_name("43.1", "arm64") == "atomic-developer-43.1-arm64"
    assert stream.ssm_parameter("x86_64", "latest") == "/atomic-release/developer/x86_64/latest"
    assert stream.regions.all[0] == stream.regions.base


def test_unknown_stream_is_named_with_the_configured_ones():
    with pytest.raises(ConfigError, match="unknown stream 'nightly'; configured: developer, stable"):
        load_streams().stream("nightly")


@pytest.mark.parametrize(("mutate", "field", "reason"), [
    (lambda s: s["regions"].update(base="moon-east-1"), "streams.developer.regions",
     "'moon-east-1' is not a commercial AWS region"),
    (lambda s: s["regions"].update(copies=["us-east-1"]), "streams.developer.regions",
     "base region 'us-east-1' is listed again"),
    (lambda s: s["regions"].update(copies=["us-east-2", "us-east-2"]), "streams.developer.regions", "listed twice"),
    (lambda s: s.update(ami_name_pattern="atomic-{version}"), "streams.developer.ami_name_pattern",
     "must contain {version} and {arch}"),
    (lambda s: s.update(ami_name_pattern="{stream}-{version}-{arch}-{colour}"), "streams.developer.ami_name_pattern",
     "unknown placeholder"),
    (lambda s: s.update(ami_name_pattern="{version}-{arch}-*"), "streams.developer.ami_name_pattern",
     "not a valid AMI name"),
    (lambda s: s["refs"].update(ppc64le="fedora/ppc64le/coreos/stable"), "streams.developer.refs.ppc64le", ""),
    (lambda s: s["refs"].update(arm64="fedora aarch64"), "streams.developer.refs", "not an ostree ref name"),
    (lambda s: s["instance_types"].pop("arm64"), "streams.developer", "instance_types lacks ['arm64']"),
    (lambda s: s["instance_types"].update(arm64=[]), "streams.developer", "instance_types.arm64 is empty"),
    (lambda s: s.update(ssm_prefix="atomic/"), "streams.developer.ssm_prefix", "should match pattern"),
    (lambda s: s.update(cadence="hourly"), "streams.developer.cadence", "'biweekly' or 'every-commit'"),
    (lambda s: s.update(repo_url="ftp://example"), "streams.developer.repo_url", "should match pattern"),
    (lambda s: s.update(disk_size_gib=2), "streams.developer.disk_size_gib", "greater than or equal to 4"),
    (lambda s: s.update(colour="blue"), "streams.developer.colour", "Extra inputs are not permitted"),
    (lambda s: s.pop("regions"), "streams.developer.regions", "Field required"),
    (lambda s: s.update(subnets=["sg-0123abcd"]), "streams.developer.subnets.0", "should match pattern"),
    (lambda s: s.update(copies_in_flight_per_region=21), "streams.developer.copies_in_flight_per_region",
     "less than or equal to 20"),
    (lambda s: s.update(deprecate_after_days=731), "streams.developer.deprecate_after_days",
     "less than or equal to 730"),
    (lambda s: s.update(copy_concurrency=0), "streams.developer.copy_concurrency", "greater than or equal to 1"),
    (lambda s: s.update(retention={"keep_releases": 0}), "streams.developer.retention.keep_releases",
     "greater than or equal to 1"),
    (lambda s: s.update(retention={"keep_days": 3}), "streams.developer.retention.keep_days", "Extra inputs"),
])
def test_invalid_configuration_fails_at_load_naming_field_and_reason(tmp_path, mutate, field, reason):
    with pytest.raises(ConfigError) as raised:
        load_with(tmp_path, mutate)
    message = str(raised.value)
    assert message.startswith("streams.json: ")
    assert field in message
    assert reason in message


def test_unreadable_configuration_is_a_config_error(tmp_path):
    path = tmp_path / "streams.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read stream configuration"):
        load_streams(path)
    with pytest.raises(ConfigError, match="cannot read stream configuration"):
        load_streams(tmp_path / "missing.json")


def test_a_changed_file_is_read_again(tmp_path):
    first = load_with(tmp_path, lambda s: s.update(disk_size_gib=8))
    second = load_with(tmp_path, lambda s: s.update(disk_size_gib=12))
    assert first.stream("developer").disk_size_gib == 8
    assert second.stream("developer").disk_size_gib == 12
