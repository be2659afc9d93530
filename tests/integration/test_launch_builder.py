"""launch_builder: one builder instance per task attempt, carrying its parameters in user-data."""

import base64

import pytest

from chalicelib.aws.clients import client
from chalicelib.core.config import DEFAULT_CONFIG, load_streams
from chalicelib.core.errors import BuilderLaunchFailed
from chalicelib.core.settings import reset_settings, settings
from chalicelib.core.tags import ARCH, RELEASE, ROLE
from chalicelib.core.tags import STREAM as STREAM_TAG
from chalicelib.guest.user_data import USER_DATA_LIMIT, user_data_text
from chalicelib.models.artifacts import staging_prefix
from chalicelib.stages import build
from functions import launch_builder, register_image
from tests.integration.support import (
    BASE,
    CHECKSUMS,
    REFS,
    RELEASE_ID,
    STREAM,
    VERSION,
    arch_task,
    builder_report,
    guest_params,
    instance,
    invoke,
    live_instances,
    tags,
    volume_exists,
)

MISSING_PARAMETER = "/atomic-release/test/no-such-builder-image"


def launch(arch: str = "x86_64", token: str = "token-1") -> dict:
    return instance(BASE, invoke(launch_builder, arch_task(arch, task_token=token))["instance_id"])


def target_volume(builder: dict) -> dict:
    volume_id = next(m["Ebs"]["VolumeId"] for m in builder["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf")
    return client("ec2", BASE).describe_volumes(VolumeIds=[volume_id])["Volumes"][0]


def release_tags_of(resource: dict) -> dict:
    found = tags(resource)
    return {key: found.get(key) for key in (RELEASE, STREAM_TAG, ARCH, ROLE)}


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_builder_boots_the_builder_image_of_its_architecture(runtime, arch):
    parameter = load_streams(DEFAULT_CONFIG).stream(STREAM).builder_image_parameter[arch]
    builder_image = client("ssm", BASE).get_parameter(Name=parameter)["Parameter"]["Value"]

    builder = launch(arch)

    assert builder["ImageId"] == builder_image
    assert builder["Architecture"] == arch


def test_builder_requires_imdsv2_and_terminates_when_it_powers_off(runtime):
    builder = launch()

    assert builder["MetadataOptions"]["HttpTokens"] == "required"
    shutdown = client("ec2", BASE).describe_instance_attribute(
        InstanceId=builder["InstanceId"], Attribute="instanceInitiatedShutdownBehavior")
    assert shutdown["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"


def test_builder_and_its_volumes_carry_the_release_tags(runtime):
    builder = launch("arm64")
    expected = {RELEASE: RELEASE_ID, STREAM_TAG: STREAM, ARCH: "arm64", ROLE: "builder"}

    assert release_tags_of(builder) == expected
    volumes = client("ec2", BASE).describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [builder["InstanceId"]]}])["Volumes"]
    assert volumes
    assert all(release_tags_of(volume) == expected for volume in volumes)


def test_builder_target_volume_is_gp3_and_outlives_the_builder(runtime):
    builder = launch()
    mapping = next(m for m in builder["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf")

    assert mapping["Ebs"]["DeleteOnTermination"] is False
    volume = target_volume(builder)
    assert (volume["VolumeType"], volume["Size"]) == ("gp3", 10)


def test_builder_user_data_carries_the_task_token_ref_and_commit(runtime):
    builder = launch("arm64", token="token-for-arm64")

    params = guest_params(BASE, builder["InstanceId"])
    assert params["role"] == "builder"
    assert params["task_token"] == "token-for-arm64"
    assert params["ref"] == REFS["arm64"]
    assert params["commit"] == CHECKSUMS["arm64"]
    assert params["target_device"] == "/dev/sdf"


def test_builder_user_data_carries_the_streams_kernel_arguments_and_first_boot_form(runtime):
    params = guest_params(BASE, launch()["InstanceId"])

    stream = load_streams().stream(STREAM)
    assert params["kernel_arguments"] == stream.kernel_arguments == ["console=tty0", "console=ttyS0,115200n8"]
    assert params["firstboot"] == stream.qa_user_data
    assert params["states_endpoint"] is None  # the region's public endpoint


def test_guests_report_to_the_configured_step_functions_endpoint(runtime, monkeypatch):
    endpoint = "https://vpce-0123456789abcdef0-abcdefgh.states.us-east-1.vpce.amazonaws.com/"
    monkeypatch.setenv("GUEST_STATES_ENDPOINT", endpoint)
    reset_settings()

    builder = launch()

    assert guest_params(BASE, builder["InstanceId"])["states_endpoint"] == endpoint
    user_data = user_data_text(base64.b64decode(client("ec2", BASE).describe_instance_attribute(
        InstanceId=builder["InstanceId"], Attribute="userData")["UserData"]["Value"]))
    assert f"STATES_ENDPOINT={endpoint}" in user_data.splitlines()


def test_the_builder_is_given_the_streams_trusted_keys_to_verify_the_commit_with(runtime):
    params = guest_params(BASE, launch()["InstanceId"])

    signatures = load_streams().stream(STREAM).signatures
    assert signatures.required and signatures.keys
    assert (params["verify_signatures"], params["trusted_keys"]) == (True, signatures.keys)


def test_the_builder_of_a_stream_without_required_signatures_is_told_not_to_verify(runtime, monkeypatch):
    stream = load_streams().stream(STREAM)
    unsigned = stream.model_copy(update={"signatures": stream.signatures.model_copy(update={"required": False})})
    monkeypatch.setattr(build, "_stream", lambda task: unsigned)

    params = guest_params(BASE, launch()["InstanceId"])

    assert (params["verify_signatures"], params["trusted_keys"]) == (False, [])


def test_builder_user_data_is_compressed_within_ec2s_limit(runtime):
    encoded = client("ec2", BASE).describe_instance_attribute(InstanceId=launch()["InstanceId"], Attribute="userData")
    raw = base64.b64decode(encoded["UserData"]["Value"])

    assert raw[:2] == b"\x1f\x8b" and len(raw) <= USER_DATA_LIMIT


def test_launching_again_with_the_same_token_reuses_the_builder(runtime):
    first = launch(token="token-1")
    again = launch(token="token-1")

    assert again["InstanceId"] == first["InstanceId"]
    assert [i["InstanceId"] for i in live_instances(BASE)] == [first["InstanceId"]]


def test_a_new_token_replaces_the_earlier_builder(runtime):
    first = launch(token="token-1")
    second = launch(token="token-2")

    assert second["InstanceId"] != first["InstanceId"]
    assert instance(BASE, first["InstanceId"])["State"]["Name"] == "terminated"
    assert [i["InstanceId"] for i in live_instances(BASE)] == [second["InstanceId"]]
    assert guest_params(BASE, second["InstanceId"])["task_token"] == "token-2"


def test_a_replaced_builder_leaves_no_volume_once_the_image_is_registered(runtime):
    first = launch(token="token-1")
    first_volume = target_volume(first)["VolumeId"]
    second = launch(token="token-2")
    report = builder_report("x86_64", target_volume(second)["VolumeId"])

    invoke(register_image, arch_task("x86_64", builder=report))

    assert not volume_exists(BASE, first_volume)


def test_a_missing_builder_image_parameter_fails_the_launch(runtime, streams_config):
    streams_config(lambda raw: raw["streams"][STREAM]["builder_image_parameter"].update(x86_64=MISSING_PARAMETER))

    with pytest.raises(BuilderLaunchFailed, match=f"builder image parameter {MISSING_PARAMETER} in {BASE}"):
        invoke(launch_builder, arch_task("x86_64", task_token="token-1"))
    assert live_instances(BASE) == []


def test_the_builder_uploads_its_images_to_the_releases_staging_prefix_under_fedoras_names(runtime, monkeypatch):
    endpoint = "https://bucket.vpce-0123456789abcdef0-abcdefgh.s3.us-east-1.vpce.amazonaws.com"
    monkeypatch.setenv("GUEST_S3_ENDPOINT", endpoint)
    reset_settings()

    builder = launch("arm64")

    params = guest_params(BASE, builder["InstanceId"])
    stream = load_streams().stream(STREAM)
    assert params["artifact_bucket"] == settings().metadata_bucket
    assert params["staging_prefix"] == staging_prefix(RELEASE_ID, "arm64") == f"staging/{RELEASE_ID}/arm64/"
    assert params["artifact_files"] == {
        "raw.xz": f"{stream.osname}-{VERSION}-metal.aarch64.raw.xz",
        "qcow2.xz": f"{stream.osname}-{VERSION}-qemu.aarch64.qcow2.xz"}
    user_data = user_data_text(base64.b64decode(client("ec2", BASE).describe_instance_attribute(
        InstanceId=builder["InstanceId"], Attribute="userData")["UserData"]["Value"]))
    assert f"S3_ENDPOINT={endpoint}" in user_data.splitlines()
