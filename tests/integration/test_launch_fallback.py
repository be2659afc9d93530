"""Launching a guest where EC2 has room: instance types in preference order, every zone before
the next type, and an error listing every attempt when none has room."""

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.core.errors import BuilderLaunchFailed
from functions import launch_builder
from tests.integration.support import BASE, STREAM, arch_task, instance, invoke, live_instances


@pytest.fixture
def subnets(runtime, streams_config) -> list[str]:
    """Two subnets in two zones, named by the stream in that order."""
    ec2 = client("ec2", BASE)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    ids = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{n}.0/24", AvailabilityZone=f"{BASE}{zone}")["Subnet"]["SubnetId"]
           for n, zone in enumerate("ab")]
    streams_config(lambda raw: raw["streams"][STREAM].update(subnets=ids))
    return ids


@pytest.fixture
def refuse(runtime):
    """Make EC2 refuse RunInstances for some (instance type, subnet) placements; records every try."""
    refused: dict[tuple[str, str | None], str] = {}
    tried: list[tuple[str, str | None]] = []

    def before_run_instances(params, **_):
        placement = (params["InstanceType"], params.get("SubnetId"))
        tried.append(placement)
        if placement in refused:
            code = refused[placement]
            raise ClientError({"Error": {"Code": code, "Message": f"no {placement[0]} for you"}}, "RunInstances")

    events = client("ec2", BASE).meta.events
    events.register("before-parameter-build.ec2.RunInstances", before_run_instances)
    yield refused, tried
    events.unregister("before-parameter-build.ec2.RunInstances", before_run_instances)


def test_the_preferred_type_is_tried_in_every_zone_before_the_next_type(subnets, refuse):
    refused, tried = refuse
    refused[("c7i.large", subnets[0])] = "InsufficientInstanceCapacity"
    refused[("c7i.large", subnets[1])] = "Unsupported"

    launched = instance(BASE, invoke(launch_builder, arch_task("x86_64", task_token="t"))["instance_id"])

    assert tried == [("c7i.large", subnets[0]), ("c7i.large", subnets[1]), ("m6i.large", subnets[0])]
    assert (launched["InstanceType"], launched["SubnetId"]) == ("m6i.large", subnets[0])


def test_when_no_placement_has_room_the_error_lists_every_attempt(subnets, refuse):
    refused, tried = refuse
    for instance_type in ("c7g.large", "m7g.large"):
        for subnet in subnets:
            refused[(instance_type, subnet)] = "InstanceLimitExceeded"

    with pytest.raises(BuilderLaunchFailed) as failed:
        invoke(launch_builder, arch_task("arm64", task_token="t"))

    message = str(failed.value)
    assert message.startswith(f"builder for arm64 in {BASE}: every placement failed: ")
    for instance_type, subnet in tried:
        assert f"{instance_type} in {subnet}: InstanceLimitExceeded: no {instance_type} for you" in message
    assert len(tried) == 4
    assert live_instances(BASE) == []


def test_an_error_other_than_capacity_stops_at_once(subnets, refuse):
    refused, tried = refuse
    refused[("c7i.large", subnets[0])] = "UnauthorizedOperation"

    with pytest.raises(BuilderLaunchFailed, match="c7i.large in .*: UnauthorizedOperation"):
        invoke(launch_builder, arch_task("x86_64", task_token="t"))
    assert len(tried) == 1


def test_each_guest_gets_its_role_s_instance_profile(runtime):
    builder = instance(BASE, invoke(launch_builder, arch_task("x86_64", task_token="t"))["instance_id"])

    assert builder["IamInstanceProfile"]["Arn"].endswith(":instance-profile/atomic-release-local-builder")
