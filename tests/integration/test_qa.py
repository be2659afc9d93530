"""launch_qa and evaluate_qa: boot the new image, then pass it only if every check passed."""

import moto.settings
import pytest

from chalicelib.aws.clients import client
from chalicelib.core.errors import BuilderLaunchFailed, QAFailed
from chalicelib.core.tags import ARCH, RELEASE, ROLE
from functions import evaluate_qa, launch_qa
from tests.integration.support import (
    BASE,
    CHECKSUMS,
    RELEASE_ID,
    STREAM,
    arch_task,
    guest_params,
    instance,
    invoke,
    live_instances,
    tags,
)

PASSED = [
    {"name": "booted-commit", "passed": True, "expected": CHECKSUMS["arm64"], "actual": CHECKSUMS["arm64"]},
    {"name": "system-state", "passed": True, "expected": "running", "actual": "running"},
]


def launch(built: dict, arch: str = "arm64") -> str:
    return invoke(launch_qa, arch_task(arch, image=built[arch], task_token="qa-token"))["instance_id"]


def evaluate(built: dict, instance_id: str, checks: list[dict], arch: str = "arm64") -> dict:
    return invoke(evaluate_qa, arch_task(arch, image=built[arch], qa={"instance_id": instance_id, "checks": checks}))


def qa_volumes() -> list[dict]:
    return client("ec2", BASE).describe_volumes(Filters=[
        {"Name": f"tag:{RELEASE}", "Values": [RELEASE_ID]}, {"Name": f"tag:{ROLE}", "Values": ["qa"]}])["Volumes"]


def test_qa_instance_boots_the_new_image_and_carries_its_parameters(built):
    qa = instance(BASE, launch(built))

    assert qa["ImageId"] == built["arm64"]["image_id"]
    assert qa["MetadataOptions"]["HttpTokens"] == "required"
    assert (tags(qa)[RELEASE], tags(qa)[ARCH], tags(qa)[ROLE]) == (RELEASE_ID, "arm64", "qa")
    params = guest_params(BASE, qa["InstanceId"])
    assert (params["role"], params["task_token"]) == ("qa", "qa-token")
    assert (params["commit"], params["image_id"]) == (CHECKSUMS["arm64"], built["arm64"]["image_id"])


def test_launching_qa_again_with_the_same_token_reuses_the_qa_instance(built):
    first = launch(built)

    assert launch(built) == first
    assert [i["InstanceId"] for i in live_instances(BASE)] == [first]


def test_an_instance_type_ec2_refuses_fails_the_qa_launch(built, streams_config, monkeypatch):
    streams_config(lambda raw: raw["streams"][STREAM]["instance_types"].update(arm64=["c9z.nonexistent"]))
    monkeypatch.setattr(moto.settings, "EC2_ENABLE_INSTANCE_TYPE_VALIDATION", True)

    with pytest.raises(BuilderLaunchFailed, match=rf"qa for arm64 in {BASE}: c9z.nonexistent in the default subnet: InvalidInstanceType.NotFound"):
        launch(built)
    assert live_instances(BASE) == []


def test_passing_qa_returns_the_image_and_leaves_no_qa_instance(built):
    qa_id = launch(built)
    assert [i["InstanceId"] for i in live_instances(BASE)] == [qa_id]

    passed = evaluate(built, qa_id, PASSED)

    assert passed == built["arm64"]
    assert live_instances(BASE) == []
    assert qa_volumes() == []


def test_failing_qa_names_the_check_and_leaves_no_qa_instance(built):
    qa_id = launch(built)
    checks = [*PASSED[:1], {"name": "system-state", "passed": False, "expected": "running",
                            "actual": "degraded (failed units: sshd.service)"}]

    with pytest.raises(QAFailed, match=r"arm64: system-state: expected 'running', "
                                       r"got 'degraded \(failed units: sshd.service\)'$"):
        evaluate(built, qa_id, checks)
    assert instance(BASE, qa_id)["State"]["Name"] == "terminated"
    assert live_instances(BASE) == []
    assert qa_volumes() == []


def test_the_qa_guest_boots_the_image_with_the_qa_profile_and_ignition(built):
    qa = instance(BASE, launch(built))

    assert qa["ImageId"] == built["arm64"]["image_id"]
    assert qa["IamInstanceProfile"]["Arn"].endswith(":instance-profile/atomic-release-local-qa")
    assert guest_params(BASE, qa["InstanceId"])["commit"] == CHECKSUMS["arm64"]
