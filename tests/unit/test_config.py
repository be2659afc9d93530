import copy
import json

import pytest

from chalicelib.core.config import DEFAULT_CONFIG, StreamsConfig, load_streams
from chalicelib.core.errors import ConfigError


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
     "'moon-east-1' is not an AWS region with EC2"),
    (lambda s: s["regions"].update(copies=["us-east-2", "us-gov-west-1"]), "streams.developer.regions",
     "'us-gov-west-1' is a region of the AWS GovCloud (US) partition (aws-us-gov)"),
    (lambda s: s["regions"].update(copies=["cn-north-1"]), "streams.developer.regions",
     "'cn-north-1' is a region of the AWS China partition (aws-cn)"),
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
    (lambda s: s["marketplace"].update(products={}), "streams.developer.marketplace",
     "publish is true but no product is configured"),
    (lambda s: s["marketplace"]["products"]["arm64"].update(product_id="prod-example0x86stable"),
     "streams.developer.marketplace", "two architectures name the same product"),
    (lambda s: s["regions"].update(base="eu-west-1"), "streams.developer",
     "marketplace.publish needs regions.base us-east-1"),
    (lambda s: s["marketplace"].update(intent="APPLY_LATER"), "streams.developer.marketplace.intent",
     "'APPLY' or 'VALIDATE'"),
    (lambda s: s["marketplace"]["products"]["x86_64"].update(access_role_arn="arn:aws:iam::12:role/x"),
     "streams.developer.marketplace.products.x86_64.access_role_arn", "should match pattern"),
    (lambda s: s["marketplace"]["products"]["x86_64"].pop("operating_system_name"),
     "streams.developer.marketplace.products.x86_64.operating_system_name", "Field required"),
    (lambda s: s["marketplace"]["products"]["x86_64"].update(usage_instructions="x" * 4001),
     "streams.developer.marketplace.products.x86_64.usage_instructions", "at most 4000 characters"),
    (lambda s: s["marketplace"]["products"]["x86_64"].update(recommended_instance_type="m6i large"),
     "streams.developer.marketplace.products.x86_64.recommended_instance_type", "should match pattern"),
    (lambda s: s["marketplace"]["products"]["x86_64"]["security_groups"][0].update(ip_ranges=["0.0.0.0/99"]),
     "streams.developer.marketplace.products.x86_64.security_groups.0.ip_ranges", "'0.0.0.0/99' is not a CIDR"),
    (lambda s: s["marketplace"]["products"]["x86_64"]["security_groups"][0].update(ip_ranges=["203.0.113.7"]),
     "streams.developer.marketplace.products.x86_64.security_groups.0.ip_ranges", "lacks its prefix length"),
    (lambda s: s["marketplace"]["products"]["x86_64"]["security_groups"][0].update(from_port=443, to_port=22),
     "streams.developer.marketplace.products.x86_64.security_groups.0", "from_port 443 is above to_port 22"),
    (lambda s: s["marketplace"].update(release_notes="{version} {colour}"), "streams.developer.marketplace.release_notes",
     "unknown placeholder(s) ['colour']"),
    (lambda s: s["marketplace"].update(give_up_after_hours=24), "streams.developer.marketplace.give_up_after_hours",
     "less than or equal to 20"),
    (lambda s: s["marketplace"]["products"].update(ppc64le={}), "streams.developer.marketplace.products.ppc64le", ""),
])
def test_invalid_configuration_fails_at_load_naming_field_and_reason(tmp_path, mutate, field, reason):
    with pytest.raises(ConfigError) as raised:
        load_with(tmp_path, mutate)
    message = str(raised.value)
    assert message.startswith("streams.json: ")
    assert field in message
    assert reason in message


@pytest.mark.parametrize("region", ["ap-east-2", "ap-southeast-6"])
def test_a_region_botocore_knows_is_a_valid_copy_region(tmp_path, region):
    streams = load_with(tmp_path, lambda s: s["regions"].update(copies=["us-east-2", region]))
    assert streams.stream("developer").regions.all == ["us-east-1", "us-east-2", region]


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


def test_marketplace_publishes_stable_versions_and_dry_runs_developer_commits():
    streams = load_streams()
    assert streams.stream("stable").marketplace.intent == "APPLY"
    assert streams.stream("developer").marketplace.intent == "VALIDATE"
    assert streams.stream("stable").marketplace_arches == ["x86_64", "arm64"]


def test_a_stream_without_marketplace_publishing_plans_no_product(tmp_path):
    stream = load_with(tmp_path, lambda s: s["marketplace"].update(publish=False)).stream("developer")
    assert stream.marketplace_arches == []
    bare = load_with(tmp_path, lambda s: s.pop("marketplace")).stream("developer")
    assert bare.marketplace_arches == [] and not bare.marketplace.publish


def test_the_access_role_names_the_releasing_account():
    product = load_streams().stream("stable").marketplace.products["x86_64"]
    assert product.role_arn("210987654321") == "arn:aws:iam::210987654321:role/atomic-release-marketplace-ingestion"


ACCOUNT = "210987654321"
ORGANIZATION = "arn:aws:organizations::111122223333:organization/o-a1b2c3d4e5"
UNIT = "arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-cdef3456"


def test_a_stream_is_public_and_shared_with_no_one_else_unless_it_says_so():
    sharing = load_streams().stream("developer").sharing

    assert sharing.launch_permissions == [{"Group": "all"}]
    assert sharing.volume_permissions == [{"Group": "all"}]


def test_a_stream_shared_instead_of_public_grants_launch_to_each_and_volumes_to_the_accounts_only(tmp_path):
    stream = load_with(tmp_path, lambda s: s.update(sharing={
        "public": False, "accounts": [ACCOUNT], "organizations": [ORGANIZATION], "organizational_units": [UNIT]}))

    assert stream.stream("developer").sharing.launch_permissions == [
        {"UserId": ACCOUNT}, {"OrganizationArn": ORGANIZATION}, {"OrganizationalUnitArn": UNIT}]
    assert stream.stream("developer").sharing.volume_permissions == [{"UserId": ACCOUNT}]


@pytest.mark.parametrize(("sharing", "reason"), [
    ({"public": False}, "no one could launch the images"),
    ({"accounts": ["12345678901"]}, "should match pattern"),
    ({"accounts": ["12345678901a"]}, "should match pattern"),
    ({"accounts": [ACCOUNT, ACCOUNT]}, "accounts lists one twice"),
    ({"organizations": ["arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-cdef3456"]},
     "should match pattern"),
    ({"organizations": ["o-a1b2c3d4e5"]}, "should match pattern"),
    ({"organizational_units": [ORGANIZATION]}, "should match pattern"),
    ({"everyone": True}, "Extra inputs are not permitted"),
])
def test_sharing_that_aws_would_refuse_fails_at_load(tmp_path, sharing, reason):
    with pytest.raises(ConfigError, match=reason):
        load_with(tmp_path, lambda s: s.update(sharing=sharing))


def test_user_tags_are_kept_as_the_stream_gives_them(tmp_path):
    tags = {"cost-center": "1234", "team": "os images", "project:name": "a/b+c=d@e"}

    assert load_with(tmp_path, lambda s: s.update(tags=tags)).stream("developer").tags == tags


@pytest.mark.parametrize(("tags", "reason"), [
    ({"atomic-release:release": "mine"}, "'atomic-release:release' is atomic-release's own tag"),
    ({"Name": "mine"}, "'Name' is atomic-release's own tag"),
    ({"aws:createdBy": "me"}, "the aws: prefix is AWS's own"),
    ({"": "empty"}, "a key takes 1 to 128 characters"),
    ({"k" * 129: "long"}, "a key takes 1 to 128 characters"),
    ({"long": "v" * 257}, "a value takes at most 256 characters"),
    ({"semi;colon": "v"}, "the key has characters tags do not take"),
    ({"team": "a*b"}, "the value has characters tags do not take"),
    ({f"tag{n}": "v" for n in range(46)}, "46 tags; an image has room for 45"),
])
def test_tags_aws_or_atomic_release_would_refuse_fail_at_load(tmp_path, tags, reason):
    with pytest.raises(ConfigError, match=reason):
        load_with(tmp_path, lambda s: s.update(tags=tags))
