"""cleanup_arch and fail_release: remove what a failed release made, and nothing else."""

import contextlib
import json
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws import ec2
from chalicelib.aws.clients import client
from chalicelib.core.errors import InvalidReleaseInput
from chalicelib.core.tags import release_tags, tag_specifications
from chalicelib.models.build import BuiltImage
from chalicelib.models.regions import RegionOutcome
from chalicelib.models.release import ReleaseInput
from chalicelib.store import records
from functions import cleanup_arch, fail_release
from tests.integration.support import (
    ARCHES,
    BASE,
    COPY,
    EXECUTION_ARN,
    OTHER_RELEASE_ID,
    RELEASE_ID,
    STREAM,
    arch_task,
    instance,
    invoke,
    own_image_ids,
    release_input,
    volume_exists,
)


@dataclass
class Planted:
    """A guest with its target disk, and an image with its snapshot, tagged for one release+arch."""

    region: str
    instance_id: str
    volume_id: str
    snapshot_id: str
    image_id: str

    def remaining(self) -> set[str]:
        ec2 = client("ec2", self.region)
        found = set()
        if instance(self.region, self.instance_id)["State"]["Name"] != "terminated":
            found.add("instance")
        if volume_exists(self.region, self.volume_id):
            found.add("volume")
        if ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [self.snapshot_id]}])["Snapshots"]:
            found.add("snapshot")
        if ec2.describe_images(Owners=["self"], Filters=[{"Name": "image-id", "Values": [self.image_id]}])["Images"]:
            found.add("image")
        return found


EVERYTHING = {"instance", "volume", "snapshot", "image"}


def os_image(region: str) -> str:
    """An untagged image to boot planted guests from."""
    ec2 = client("ec2", region)
    found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["plant-os"]}])["Images"]
    if found:
        return found[0]["ImageId"]
    return ec2.register_image(Name="plant-os", Architecture="x86_64", RootDeviceName="/dev/xvda")["ImageId"]


def plant(region: str, release_id: str, arch: str, public: bool = False) -> Planted:
    ec2 = client("ec2", region)
    guest_tags = release_tags(release_id, STREAM, arch, "builder")
    image_tags = release_tags(release_id, STREAM, arch, "image")
    instance_id = ec2.run_instances(
        ImageId=os_image(region), InstanceType="c7i.large", MinCount=1, MaxCount=1,
        BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 10, "DeleteOnTermination": False}}],
        TagSpecifications=tag_specifications(guest_tags, "instance", "volume"),
    )["Instances"][0]["InstanceId"]
    volume_id = next(m["Ebs"]["VolumeId"] for m in instance(region, instance_id)["BlockDeviceMappings"]
                     if m["DeviceName"] == "/dev/sdf")
    disk = ec2.create_volume(AvailabilityZone=f"{region}a", Size=10)["VolumeId"]
    snapshot_id = ec2.create_snapshot(
        VolumeId=disk, TagSpecifications=tag_specifications(image_tags, "snapshot"))["SnapshotId"]
    ec2.delete_volume(VolumeId=disk)
    image_id = ec2.register_image(
        Name=f"{release_id}-{arch}-{region}", RootDeviceName="/dev/xvda", Architecture=arch,
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot_id}}],
        TagSpecifications=tag_specifications(image_tags, "image"))["ImageId"]
    if public:
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
    return Planted(region, instance_id, volume_id, snapshot_id, image_id)


def cleanup_task(arch: str, error: str = "ImageRegistrationFailed", cause: str | None = "disk gone") -> dict:
    caught = {"Error": error, **({"Cause": cause} if cause is not None else {})}
    return arch_task(arch, stage="register-image", caught=caught)


def fail_task(stage: str, error: str, cause: str, regions: list[str] = (BASE, COPY)) -> dict:
    return {"release_id": RELEASE_ID, "stream": STREAM, "regions": list(regions), "stage": stage,
            "caught": {"Error": error, "Cause": cause}}


def lambda_error(error_type: str, message: str) -> str:
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": []})


# -- cleanup_arch ---------------------------------------------------------------------------

def test_cleanup_arch_removes_only_that_release_and_architecture(runtime):
    failed = plant(BASE, RELEASE_ID, "x86_64")
    sibling = plant(BASE, RELEASE_ID, "arm64")
    other = plant(BASE, OTHER_RELEASE_ID, "x86_64")

    invoke(cleanup_arch, cleanup_task("x86_64"))

    assert failed.remaining() == set()
    assert sibling.remaining() == EVERYTHING
    assert other.remaining() == EVERYTHING


def test_cleanup_arch_hands_on_an_error_a_fail_state_may_raise(runtime):
    rethrown = {"States.Timeout": "TaskTimedOut", "States.HeartbeatTimeout": "HeartbeatTimedOut",
                "States.TaskFailed": "TaskFailed", "States.Runtime": "Runtime", "BuilderFailed": "BuilderFailed"}

    results = {caught: invoke(cleanup_arch, cleanup_task("arm64", error=caught, cause=None)) for caught in rethrown}

    assert all(set(result) == {"error", "cause"} for result in results.values())
    assert {caught: result["error"] for caught, result in results.items()} == rethrown
    assert not any(result["error"].startswith("States.") for result in results.values())


def test_cleanup_arch_cause_names_the_stage_architecture_and_original_error(runtime):
    result = invoke(cleanup_arch, cleanup_task("arm64", error="States.Timeout", cause="no report"))

    assert json.loads(result["cause"]) == {"stage": "register-image", "arch": "arm64", "error": "States.Timeout",
                                           "cause": "no report"}


def test_cleanup_arch_with_a_bad_task_removes_nothing(runtime):
    planted = plant(BASE, RELEASE_ID, "x86_64")
    task = cleanup_task("x86_64")
    del task["caught"]

    with pytest.raises(InvalidReleaseInput, match="caught: Field required"):
        invoke(cleanup_arch, task)
    assert planted.remaining() == EVERYTHING


# -- fail_release ---------------------------------------------------------------------------

def test_fail_release_removes_the_release_in_every_region_and_nothing_else(prepared):
    failed = [plant(region, RELEASE_ID, arch) for region in (BASE, COPY) for arch in ("x86_64", "arm64")]
    other = [plant(region, OTHER_RELEASE_ID, "x86_64") for region in (BASE, COPY)]

    invoke(fail_release, fail_task("distribute", "CopyFailed", lambda_error("CopyFailed", "copy to us-east-2")))

    assert [p.remaining() for p in failed] == [set()] * 4
    assert [p.remaining() for p in other] == [EVERYTHING] * 2


def test_fail_release_records_the_failure(prepared):
    result = invoke(fail_release, fail_task("distribute", "CopyFailed",
                                            lambda_error("CopyFailed", "x86_64 ami-1 in us-east-2 is failed")))

    sentence = "distribute failed: CopyFailed: x86_64 ami-1 in us-east-2 is failed"
    assert result == {"error": "CopyFailed", "cause": sentence}
    record = records.get(RELEASE_ID)
    assert (record.status, record.failed_stage, record.failure) == ("FAILED", "distribute", sentence)


def test_fail_release_records_the_innermost_stage_of_an_architecture_failure(prepared):
    """As the state machine chains them: CleanupArch's output fails the Build map, whose Catch
    hands Error and Cause on to FailRelease."""
    arch_failure = invoke(cleanup_arch, {**arch_task("arm64"), "stage": "evaluate-qa", "caught": {
        "Error": "QAFailed", "Cause": lambda_error("QAFailed", "arm64: system-state: expected 'running'")}})

    result = invoke(fail_release, fail_task("build", arch_failure["error"], arch_failure["cause"]))

    sentence = "evaluate-qa (arm64) failed: QAFailed: arm64: system-state: expected 'running'"
    assert result == {"error": "QAFailed", "cause": sentence}
    record = records.get(RELEASE_ID)
    assert (record.status, record.failed_stage, record.failure) == ("FAILED", "evaluate-qa", sentence)


@pytest.mark.parametrize("stage", ["publish", "validate", "announce", "finalize"])
def test_fail_release_after_publication_began_keeps_public_images_and_their_snapshots(prepared, stage):
    public = [plant(region, RELEASE_ID, "x86_64", public=True) for region in (BASE, COPY)]
    private = plant(COPY, RELEASE_ID, "arm64")

    invoke(fail_release, fail_task(stage, "PublishFailed", lambda_error("PublishFailed", "ssm")))

    assert [p.remaining() for p in public] == [{"image", "snapshot"}] * 2
    assert private.remaining() == set()


def test_fail_release_leaves_a_public_image_to_retention(prepared):
    """Even before this run's publication: a rerun reuses by name what an earlier run published,
    and ``latest`` may name it."""
    public = plant(COPY, RELEASE_ID, "x86_64", public=True)

    invoke(fail_release, fail_task("distribute", "CopyFailed", lambda_error("CopyFailed", "copy")))

    assert public.remaining() == {"snapshot", "image"}


def test_fail_release_leaves_an_image_protected_from_deregistration_to_retention(prepared):
    """A stream shared only with whom it names has no public image: protection says Announce named it."""
    named = plant(COPY, RELEASE_ID, "x86_64")
    client("ec2", COPY).enable_image_deregistration_protection(ImageId=named.image_id)
    unnamed = plant(COPY, RELEASE_ID, "arm64")

    invoke(fail_release, fail_task("finalize", "FinalizeFailed", lambda_error("FinalizeFailed", "record")))

    assert named.remaining() == {"snapshot", "image"}
    assert unnamed.remaining() == set()


def test_a_first_run_s_fail_release_without_regions_is_invalid_and_removes_nothing(prepared):
    planted = plant(BASE, RELEASE_ID, "x86_64")

    with pytest.raises(InvalidReleaseInput, match="regions: .*a first run has at least its base region"):
        invoke(fail_release, fail_task("distribute", "CopyFailed", "copy", regions=[]))
    assert planted.remaining() == EVERYTHING
    assert records.get(RELEASE_ID).status == "RUNNING"


def test_a_failed_fill_in_run_that_only_retried_marketplace_is_recorded_as_the_release_was(prepared):
    """Such a run plans no region: its failure is still recorded, and the release goes back to
    what it was before the run (Marketplace failed), removing nothing."""
    records.mark_finished(RELEASE_ID, "MARKETPLACE_FAILED", {}, "s3://b/k", [],
                          {BASE: RegionOutcome(region=BASE, status="validated", stage="validate")})
    fill_in = f"{EXECUTION_ARN}-fill1"
    records.claim_fill_in(ReleaseInput.model_validate(release_input(attempt=1)), fill_in)
    kept = plant(BASE, RELEASE_ID, "x86_64")

    result = invoke(fail_release, {**fail_task("announce", "AnnounceFailed", "bucket gone", regions=[]),
                                   "attempt": 1, "execution_arn": fill_in})

    assert result["error"] == "AnnounceFailed"
    assert kept.remaining() == EVERYTHING
    record = records.get(RELEASE_ID)
    assert (record.status, record.failed_stage) == ("MARKETPLACE_FAILED", "announce")
    assert record.failure == "announce failed: AnnounceFailed: bucket gone"


@contextlib.contextmanager
def describe_instances_raises(region: str, error: Exception):
    def refuse(**_):
        raise error

    events = client("ec2", region).meta.events
    events.register("before-parameter-build.ec2.DescribeInstances", refuse)
    try:
        yield
    finally:
        events.unregister("before-parameter-build.ec2.DescribeInstances", refuse)


@pytest.mark.parametrize(("error", "said"), [
    (ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}}, "DescribeInstances"),
     "slow down"),
    (ConnectionError("endpoint unreachable"), "endpoint unreachable"),
])
def test_fail_release_cleans_every_other_region_and_records_the_failure_when_one_region_fails(prepared, error, said):
    failed = [plant(region, RELEASE_ID, "x86_64") for region in (BASE, COPY)]

    with describe_instances_raises(BASE, error):
        result = invoke(fail_release, fail_task("distribute", "CopyFailed", lambda_error("CopyFailed", "copy")))

    assert failed[1].remaining() == set()
    assert failed[0].remaining() == EVERYTHING
    assert result["cause"].endswith(f"(cleanup incomplete, left to the sweeper: {BASE}: {said})")
    assert records.get(RELEASE_ID).status == "FAILED"


def test_a_failed_fill_in_run_removes_nothing_and_leaves_the_release_partial(prepared):
    records.mark_finished(RELEASE_ID, "PARTIAL", {}, "s3://b/k", [],
                          {COPY: RegionOutcome(region=COPY, status="failed", stage="copy")})
    kept = [plant(COPY, RELEASE_ID, "x86_64"), plant(BASE, RELEASE_ID, "arm64")]

    result = invoke(fail_release, {**fail_task("validate", "NothingPublished", lambda_error(
        "NothingPublished", "no region was published and validated: us-east-2: copy: failed"), [COPY]),
        "attempt": 1, "execution_arn": EXECUTION_ARN})

    assert result["error"] == "NothingPublished"
    assert [p.remaining() for p in kept] == [EVERYTHING] * 2
    record = records.get(RELEASE_ID)
    assert (record.status, record.failed_stage) == ("PARTIAL", "validate")
    assert record.failure.startswith("validate failed: NothingPublished: no region was published")


def test_a_failed_fill_in_run_that_does_not_own_the_record_leaves_it_alone(prepared):
    records.mark_finished(RELEASE_ID, "SUCCEEDED", {}, "s3://b/k", [], {})

    invoke(fail_release, {**fail_task("copy", "CopyFailed", "x"), "attempt": 1,
                          "execution_arn": f"{EXECUTION_ARN}-fill1"})

    record = records.get(RELEASE_ID)
    assert (record.status, record.failure) == ("SUCCEEDED", None)



def test_a_release_failing_after_it_was_recorded_published_stays_released(prepared, built):
    records.mark_finished(RELEASE_ID, "PUBLISHED", {"x86_64": {BASE: built["x86_64"]["image_id"]}}, "s3://b/k",
                          [BuiltImage.model_validate(image) for image in built.values()],
                          {BASE: RegionOutcome(region=BASE, status="validated", stage="validate")})
    task = {**fail_task("finalize", "ClientError", "ProvisionedThroughputExceededException"),
            "execution_arn": EXECUTION_ARN}

    result = invoke(fail_release, task)

    record = records.get(RELEASE_ID)
    assert (record.status, record.failed_stage) == ("PUBLISHED_WITH_ERRORS", "finalize")
    assert record.failure == ("finalize failed: ClientError: ProvisionedThroughputExceededException; the release is "
                              "out: its images stay public and announced")
    assert result["error"] == "ClientError"
    assert all(built[arch]["image_id"] in own_image_ids(BASE) for arch in ARCHES), "nothing is removed"


def test_a_guest_launched_while_the_cleanup_runs_is_removed_too(runtime, monkeypatch):
    """A launch task still in flight when a release is aborted starts its guest after the cleanup
    listed the release's instances: the guest's target disk is attached to an instance the cleanup
    did not terminate, and deleting that disk would be refused (VolumeInUse)."""
    listed = plant(BASE, RELEASE_ID, "x86_64")
    launched_meanwhile: list[Planted] = []
    terminate = ec2.terminate

    def terminate_while_a_guest_launches(region: str, instance_ids: list[str]) -> None:
        terminate(region, instance_ids)
        if not launched_meanwhile:
            launched_meanwhile.append(plant(BASE, RELEASE_ID, "arm64"))

    monkeypatch.setattr(ec2, "terminate", terminate_while_a_guest_launches)
    removed = ec2.remove_release_resources(BASE, RELEASE_ID)

    latecomer = launched_meanwhile[0]
    assert listed.remaining() == set() and latecomer.remaining() == set()
    assert f"{BASE}:{latecomer.instance_id}" in removed.instances
    assert f"{BASE}:{latecomer.volume_id}" in removed.volumes
