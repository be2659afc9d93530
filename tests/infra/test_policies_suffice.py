"""The policy files suffice. Local releases run every way they can (started by the poller, the
webhook, both EventBridge events, the API and the biweekly cadence; one failing QA and cleaned
up; one whose region's copies fail, and its fill-in run; one whose region's images are made
private after FollowCopies published them; one aborted through the API and cleaned by the end-of-execution rule,
its rerun stopped in the console and cleaned by that rule too; one whose builder launch is retried after its
guest reported; one whose Announce, retried, publishes staged files signed; retention applying
its plan; the sweeper; builders' files staged wherever a cleanup removes them)
while every AWS call each of the 23 functions makes is recorded (calls.py). Each call must be
allowed by its own function's policy, the policy's template names resolved to what the local
runtime made (requirements.py says what a call needs, iam.py what a policy allows).

EC2's tag conditions are checked against the tags each resource had before the call; a resource
already gone has none, so a call on it is refused, as AWS refuses it."""

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from chalice.test import Client
from pysequoia import Tsk

from app import app
from atomic_release.local import patches
from atomic_release.local.ostree_repo import OstreeRepo
from atomic_release.local.region_faults import RegionFault
from atomic_release.local.repo_server import RepoServer
from atomic_release.local.runtime import ACCOUNT, APP_NAME, ROOT, LocalRuntime
from atomic_release.local.simulator import Fault
from atomic_release.local.synthetic import synthetic_release
from chalicelib.aws.clients import client
from chalicelib.aws.ec2 import find_instances
from chalicelib.core.config import DEFAULT_CONFIG, load_streams
from chalicelib.core.settings import reset_settings
from chalicelib.core.tags import release_tags, tag_specifications
from chalicelib.models.artifacts import SIGNATURE_SUFFIX, builds_prefix, public_key, staging_prefix
from chalicelib.store import records
from chalicelib.triggers import events
from chalicelib.upkeep import sweeper
from tests.conftest import require_ostree_cli
from tests.helpers import lose_the_first_response, release_resources, wait_until
from tests.infra.calls import CallRecorder
from tests.infra.iam import decide
from tests.infra.policies import as_list, function_names, load_policy, log_group, resolve, statements
from tests.infra.requirements import Account, requirements
from tests.webhook_requests import announcement, signed

pytestmark = pytest.mark.e2e
STREAMS = json.loads(DEFAULT_CONFIG.read_text())["streams"]
REFS = {name: settings["refs"] for name, settings in STREAMS.items()}
BASE = "us-east-1"
NO_AWS_CALLS = {"check_build"}  # it only reads what the Build map's iterations returned
GHOST = "developer-ghost-0123456789ab"
ARTIFACT_SIGNING_SECRET = "atomic-release/artifact-signing/developer"
# Grants no scenario here exercises, each with the code path that needs it on AWS.
REMOVES_WHAT_A_FAILURE_LEFT = "chalicelib.aws.ec2.remove_release_resources: instances and volumes of a build still running"
NOT_EXERCISED: dict[tuple[str, str], str] = {
    ("api_handler", "dynamodb:DeleteItem"): "webhook.handle forgets a delivery it answered 5xx (Powertools Idempotency "
                                            "deletes its record), so a redelivery is tried again",
    ("coreos_build_state", "states:StartExecution"): "events.on_coreos_build_state starting a build no other way started",
    ("cleanup_arch", "ec2:TerminateInstances"): REMOVES_WHAT_A_FAILURE_LEFT,
    ("cleanup_arch", "ec2:DeleteVolume"): REMOVES_WHAT_A_FAILURE_LEFT,
    ("fail_release", "ec2:TerminateInstances"): REMOVES_WHAT_A_FAILURE_LEFT,
    ("fail_release", "ec2:DeleteVolume"): REMOVES_WHAT_A_FAILURE_LEFT,
    ("launch_builder", "ec2:TerminateInstances"): "build.launch_builder replacing a builder that holds a dead task token",
    ("launch_builder", "ec2:DeleteVolume"): "build.launch_builder removing that builder's target disk",
    ("launch_qa", "ec2:TerminateInstances"): "build.launch_qa replacing a QA guest that holds a dead task token",
    ("register_image", "ec2:TerminateInstances"): "build.register_image: a builder that reported but has not powered off",
    ("copy_to_region", "ec2:DeregisterImage"): "distribute.deregister: a copy that failed or ran out of time",
    ("copy_to_region", "ec2:DeleteSnapshot"): "distribute.deregister: that copy's snapshot",
    ("preflight", "servicequotas:GetAWSDefaultServiceQuota"): "preflight: a region where the account has no applied quota",
    ("api_handler", "pricing:GetProducts"): "prices.price_book from the Price List API, which moto lacks: the local "
                                            "runtime reads the price file (tests/unit/test_prices.py stubs the API)",
    ("api_handler", "servicequotas:GetAWSDefaultServiceQuota"): "the plan's preflight: a region where the account has "
                                                                 "no applied quota",
    ("retire_old_releases", "s3:ListBucket"): "reading metadata a stream does not have yet: a 404, not a 403",
    ("fail_release", "s3:DeleteObjectVersion"): "finalize.remove_unannounced: the files an Announce made public "
                                                "before it failed",
    ("announce", "s3:AbortMultipartUpload"): "chalicelib.aws.s3.copy_object: the transfer manager aborting a "
                                             "multipart copy that failed",
}
DONE = re.compile(r"done: (?P<deregistered>\d+) images deregistered, .* (?P<made_public>\d+) made public")


@dataclass
class Recorded:
    recorder: CallRecorder
    names: dict[str, str]  # the template's names as the local runtime made them


@dataclass
class App:
    """The app's functions outside the state machine, called as AWS calls them, each under the recorder."""

    chalice: Client
    recorder: CallRecorder

    def invoke(self, function: str, payload: dict | None = None):
        with self.recorder.acting_as(function):
            return self.chalice.lambda_.invoke(function, payload or {}).payload

    def on_schedule(self, function: str):
        return self.invoke(function, self.event("aws.events", "Scheduled Event", {}))

    def request(self, method: str, path: str, body: dict | bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict]:
        raw = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        with self.recorder.acting_as("api_handler"):
            response = self.chalice.http.request(method, path, headers={"Content-Type": "application/json",
                                                                        **(headers or {})}, body=raw)
        is_json = response.headers.get("Content-Type", "application/json").startswith("application/json")
        return response.status_code, json.loads(response.body) if is_json and response.body else {}

    def event(self, source: str, detail_type: str, detail: dict) -> dict:
        return self.chalice.events.generate_cw_event(source=source, detail_type=detail_type, detail=detail,
                                                     resources=[])


@dataclass
class Scene:
    app: App
    config: Path
    repo: OstreeRepo


# -- the local stack --------------------------------------------------------------------------------

def streams_config(repo_url: str, into: Path, trusted_keys: list[str]) -> Path:
    """Both streams read the local repository and trust its key; stable copies to one region, is
    shared with an account and an organization besides the public and tags its images; developer
    keeps only its newest release, so retention has something to retire."""
    raw = json.loads(DEFAULT_CONFIG.read_text())
    for settings in raw["streams"].values():
        settings["repo_url"] = repo_url
        settings["signatures"] = {"required": True, "keys": trusted_keys}
    raw["streams"]["stable"]["regions"]["copies"] = ["us-east-2"]
    raw["streams"]["stable"]["sharing"] = {"public": True, "accounts": ["210987654321"],
                                           "organizations": ["arn:aws:organizations::111122223333:organization/o-a1b2c3d4e5"]}
    raw["streams"]["stable"]["tags"] = {"team": "os images"}
    raw["streams"]["developer"]["retention"] = {"keep_releases": 1, "keep_months": 0}
    raw["streams"]["developer"]["artifact_signing_key_secret"] = ARTIFACT_SIGNING_SECRET
    path = into / "streams.json"
    path.write_text(json.dumps(raw))
    return path


@contextmanager
def local_runtime(scene: Scene, *faults) -> Iterator[LocalRuntime]:
    with LocalRuntime(config=scene.config, faults=list(faults)) as runtime:
        record_task_lambdas(runtime, scene.app.recorder)
        keep_webhook_secret_in_secrets_manager(runtime)
        keep_artifact_signing_key_in_secrets_manager()
        yield runtime


def record_task_lambdas(runtime: LocalRuntime, recorder: CallRecorder) -> None:
    """Task Lambdas run in moto's interpreter threads (patches.awslambda._invoke): each under the recorder."""
    prefix = f"{APP_NAME}-{runtime.stage}-"
    patches.current.handlers = {name: recorder.handler(name.removeprefix(prefix), handler)
                                for name, handler in patches.current.handlers.items()}


def keep_webhook_secret_in_secrets_manager(runtime: LocalRuntime) -> None:
    """Where the template keeps it (WEBHOOK_SECRET_ID: the WebhookSecret's ARN)."""
    os.environ["WEBHOOK_SECRET_ID"] = client("secretsmanager").create_secret(
        Name="atomic-release-policy-test-webhook", SecretString=runtime.webhook_secret)["ARN"]
    reset_settings()


def keep_artifact_signing_key_in_secrets_manager() -> None:
    """The developer stream signs its images, which every simulated builder now uploads."""
    client("secretsmanager").create_secret(Name=ARTIFACT_SIGNING_SECRET,
                                           SecretString=str(Tsk.generate("artifacts <a@example.invalid>")))


def local_names(runtime: LocalRuntime) -> dict[str, str]:
    """The template's names as the local runtime made them (locally each guest's role is named as
    its instance profile)."""
    environ, region, stage = os.environ, os.environ["AWS_REGION"], runtime.stage
    streams = load_streams().streams.values()
    (prefix,) = {stream.ssm_prefix for stream in streams}
    (access_role,) = {product.role_arn(ACCOUNT).rsplit("/", 1)[1]
                      for stream in streams for product in stream.marketplace.products.values()}
    return {
        "AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": environ["RELEASE_STATE_MACHINE_ARN"].rsplit(":", 1)[1].removesuffix("-release"),
        "ReleasesTable.Arn": f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{environ['RELEASES_TABLE']}",
        "StateTable.Arn": f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{environ['STATE_TABLE']}",
        "IdempotencyTable.Arn": f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{environ['IDEMPOTENCY_TABLE']}",
        "MetadataBucket": environ["METADATA_BUCKET"], "MetadataBucket.Arn": f"arn:aws:s3:::{environ['METADATA_BUCKET']}",
        "ReleaseTopic": environ["RELEASE_TOPIC_ARN"], "WebhookSecret": environ["WEBHOOK_SECRET_ID"],
        "BuilderInstanceProfile": environ["BUILDER_INSTANCE_PROFILE"], "QaInstanceProfile": environ["QA_INSTANCE_PROFILE"],
        "BuilderRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/{environ['BUILDER_INSTANCE_PROFILE']}",
        "QaRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/{environ['QA_INSTANCE_PROFILE']}",
        "SsmPrefix": prefix, "MarketplaceAccessRoleName": access_role,
        **{f"{log_group(function)}.Arn": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/lambda/"
                                         f"{APP_NAME}-{stage}-{function}:*" for function in function_names()},
    }


# -- what the scenarios share -------------------------------------------------------------------------

def commit(repo: OstreeRepo, stream: str, version: str) -> dict[str, str]:
    checksums = {arch: repo.commit(ref, version) for arch, ref in REFS[stream].items()}
    repo.update_summary()
    return checksums


def succeeds(runtime: LocalRuntime, execution_arn: str) -> None:
    finished = runtime.wait(execution_arn)
    assert finished.status == "SUCCEEDED", (finished.error, finished.cause)


def x86_64_through_qa_while_arm64_builds(release_id: str) -> bool:
    reservations = client("ec2").describe_instances(Filters=[
        {"Name": "tag:atomic-release:release", "Values": [release_id]},
        {"Name": "tag:atomic-release:arch", "Values": ["x86_64"]},
        {"Name": "tag:atomic-release:role", "Values": ["qa"]}])["Reservations"]
    qa = [instance["State"]["Name"] for reservation in reservations for instance in reservation["Instances"]]
    return qa == ["terminated"] and bool(find_instances(BASE, release_id, "arm64", "builder"))


def bucket() -> str:
    return os.environ["METADATA_BUCKET"]


def stage_files(release_id: str) -> list[dict]:
    """What builders leave under staging/: per architecture, a file uploaded (returned as the
    builder reports it) and a multipart upload cut short."""
    s3, reported = client("s3"), []
    for arch in ("x86_64", "arm64"):
        key = f"{staging_prefix(release_id, arch)}disk.raw.xz"
        s3.put_object(Bucket=bucket(), Key=key, Body=arch.encode())
        s3.create_multipart_upload(Bucket=bucket(), Key=f"{staging_prefix(release_id, arch)}disk.qcow2.xz")
        reported.append({"format": "raw.xz", "key": key, "size": len(arch), "uncompressed_sha256": "0" * 64,
                         "sha256": hashlib.sha256(arch.encode()).hexdigest()})
    return reported


def plant_published_files(stream: str, version: str) -> None:
    """A published version's file and its signature."""
    key = public_key(stream, "fedora-coreos", version, "x86_64", "raw.xz")
    for name in (key, key + SIGNATURE_SUFFIX):
        client("s3").put_object(Bucket=bucket(), Key=name, Body=b"published")


def around_task(runtime: LocalRuntime, function: str, before: Callable[[dict], None]) -> None:
    """Run ``before(event)`` ahead of each invocation of a task Lambda, outside its recorded calls."""
    name = f"{APP_NAME}-{runtime.stage}-{function}"
    handler = patches.current.handlers[name]

    def preceded(event, context):
        before(event)
        return handler(event, context)

    patches.current.handlers[name] = preceded


def plant_leftovers(region: str, release_id: str) -> None:
    """What a release whose execution is gone may leave: an instance, a volume, a snapshot, a private image."""
    ec2 = client("ec2", region)
    tags = release_tags(release_id, "developer", "x86_64", "builder")
    image = ec2.register_image(Name=f"{release_id}-{region}", Architecture="x86_64", RootDeviceName="/dev/xvda",
                               TagSpecifications=tag_specifications(tags, "image"))["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="c7i.large",  # tagged as launched
                      TagSpecifications=tag_specifications(tags, "instance", "volume"))
    volume = ec2.create_volume(Size=10, AvailabilityZone=f"{region}a",
                               TagSpecifications=tag_specifications(tags, "volume"))["VolumeId"]
    ec2.create_snapshot(VolumeId=volume, TagSpecifications=tag_specifications(tags, "snapshot"))


# -- the scenarios ------------------------------------------------------------------------------------

def every_way_in_then_retention_and_sweep(scene: Scene) -> dict[str, str]:
    """Returns the local runtime's names of the template's resources."""
    app, repo = scene.app, scene.repo
    with local_runtime(scene) as runtime:
        commit(repo, "developer", "43.1")
        (polled,) = app.on_schedule("poll_repositories")
        assert polled["outcome"] == "started", polled
        succeeds(runtime, polled["execution_arn"])

        checksums = commit(repo, "developer", "43.2")
        status, hooked = app.request("post", "/hooks/ostree", **signed(announcement(checksums), "d-1",
                                                                       secret=runtime.webhook_secret))
        assert (status, hooked.get("outcome")) == (202, "started"), hooked
        redelivered = app.request("post", "/hooks/ostree", **signed(announcement(checksums), "d-1",
                                                                     secret=runtime.webhook_secret))
        assert redelivered == (status, hooked), redelivered
        succeeds(runtime, hooked["execution_arn"])

        checksums = commit(repo, "developer", "43.3")
        pungi = app.invoke("pungi_ostree_commit", app.event(events.SOURCE, events.PUNGI_OSTREE, {
            "ref": REFS["developer"]["x86_64"], "commitid": checksums["x86_64"], "arch": "x86_64"}))
        assert pungi["decision"]["outcome"] == "started", pungi
        coreos = app.invoke("coreos_build_state", app.event(events.SOURCE, events.COREOS_BUILD_STATE, {
            "build_id": "43.3", "basearch": "aarch64", "stream": "developer", "state": "FINISHED", "result": "SUCCESS"}))
        assert coreos["outcome"] == "considered", coreos
        succeeds(runtime, pungi["decision"]["execution_arn"])

        commit(repo, "developer", "43.4")
        status, triggered = app.request("post", "/releases", {"stream": "developer"})
        assert status == 202, triggered
        succeeds(runtime, triggered["execution_arn"])
        assert app.request("get", "/releases")[0] == 200
        assert app.request("get", f"/releases/{triggered['release_id']}")[0] == 200
        assert app.request("get", "/")[0] == app.request("get", "/assets/app.js")[0] == 200
        status, planned = app.request("get", "/streams/developer/plan")
        assert status == 200 and planned["next_release"]["outcome"] == "already-released", planned

        commit(repo, "stable", "43.5")
        (cadence,) = app.on_schedule("biweekly_cadence")
        assert cadence["outcome"] == "started", cadence
        succeeds(runtime, cadence["execution_arn"])

        for version in ("43.1", "43.2", "43.3"):
            plant_published_files("developer", version)
        retention_retires_and_restores(scene, triggered["release_id"])
        sweep_removes_leftovers(scene)
        return local_names(runtime)


def retention_retires_and_restores(scene: Scene, newest_release_id: str) -> None:
    """Developer keeps its newest release only: the three before it are retired; one image of the
    newest, made private behind its back, is made public again."""
    kept = records.get(newest_release_id).images["x86_64"]["us-east-2"]
    client("ec2", "us-east-2").modify_image_attribute(ImageId=kept, LaunchPermission={"Remove": [{"Group": "all"}]})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETENTION_DRY_RUN", "false")
        reset_settings()
        retained = scene.app.on_schedule("retire_old_releases")  # raises PartlyFailed if any stream failed
    reset_settings()

    done = [found for line in retained["lines"] if (found := DONE.search(line))]
    assert sum(int(found["deregistered"]) for found in done) > 0, retained["lines"]
    assert sum(int(found["made_public"]) for found in done) > 0, retained["lines"]
    assert s3_keys(builds_prefix("developer", "43.1")) == [], retained["lines"]


def s3_keys(prefix: str) -> list[str]:
    return [found["Key"] for found in client("s3").list_objects_v2(Bucket=bucket(), Prefix=prefix).get("Contents", [])]


def sweep_removes_leftovers(scene: Scene) -> None:
    plant_leftovers(BASE, GHOST)
    stage_files(GHOST)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweeper, "SWEEP_AFTER", timedelta(seconds=-1))  # the leftovers are old already
        swept = scene.app.on_schedule("sweep_leftovers")

    assert set(swept["releases"][GHOST]) >= {"instances", "volumes", "images", "snapshots", "files", "uploads"}, swept


def a_qa_failure_is_cleaned_up(scene: Scene) -> None:
    with local_runtime(scene, Fault.parse("qa-fails:arm64")) as runtime:
        around_task(runtime, "cleanup_arch", lambda event: stage_files(event["release_id"]))
        started = runtime.start_release(synthetic_release("developer", "44.1", 3))
        assert runtime.wait(started.execution_arn).status == "FAILED"
        assert s3_keys(staging_prefix(started.release_id)) == []


def a_partial_release_is_filled_in(scene: Scene) -> None:
    with local_runtime(scene, RegionFault.parse("copy-fails:us-east-2")) as runtime:
        started = runtime.start_release(synthetic_release("developer", "44.2", 3))
        succeeds(runtime, started.execution_arn)
        assert records.get(started.release_id).status == "PARTIAL"

        status, retried = scene.app.request("post", f"/releases/{started.release_id}/retry")
        assert (status, retried.get("kind")) == (202, "fill-in"), retried
        succeeds(runtime, retried["execution_arn"])


def a_region_made_private_after_publish(scene: Scene) -> None:
    """Validate removes the region's version parameters: they must not name a private image."""
    with local_runtime(scene, RegionFault.parse("made-private:us-east-2")) as runtime:
        started = runtime.start_release(synthetic_release("developer", "44.5", 3))
        succeeds(runtime, started.execution_arn)
        assert "version parameters removed" in records.get(started.release_id).missing_regions["us-east-2"]


def a_builder_launch_retried_after_its_guest_reported(scene: Scene) -> None:
    """The first builder reports to a dead token and powers off: register_image deletes its disk."""
    with local_runtime(scene) as runtime:
        launches = lose_the_first_response(runtime, "launch_builder", "x86_64")
        started = runtime.start_release(synthetic_release("developer", "44.4", 3))
        succeeds(runtime, started.execution_arn)
        assert len({e["task_token"] for e in launches if e["arch"] == "x86_64"}) == 2, launches
        assert release_resources(started.release_id, [BASE])["volumes"] == []


def an_abort_a_rerun_and_the_end_of_execution_rule(scene: Scene) -> None:
    app = scene.app
    with local_runtime(scene, Fault.parse("builder-hangs:arm64")) as runtime:
        started = runtime.start_release(synthetic_release("developer", "44.3", 3))
        release_id = started.release_id
        wait_until(lambda: x86_64_through_qa_while_arm64_builds(release_id), "x86_64 through QA while arm64 builds",
                   started.execution_arn)
        stage_files(release_id)
        status, aborted = app.request("post", f"/releases/{release_id}/abort", {"reason": "the policy test"})
        assert (status, aborted.get("recorded")) == (202, True), aborted
        runtime.simulator.finish_hung_guests()
        cleaned = runtime.end_delivered(started.execution_arn)   # the rule on the aborted run's end
        assert cleaned["cleaned"] is True, cleaned
        assert cleaned["removed"]["files"] and cleaned["removed"]["uploads"], cleaned
        assert cleaned["removed"]["instances"] and cleaned["removed"]["images"], cleaned
        assert runtime.wait(started.execution_arn).status == "ABORTED"
        assert app.request("post", f"/releases/{release_id}/abort")[0] == 202   # asked again: the first answer

        status, rerun = app.request("post", f"/releases/{release_id}/retry")
        assert (status, rerun.get("kind")) == (202, "rerun"), rerun
        wait_until(lambda: find_instances(BASE, release_id, "arm64", "builder"), "the rerun's arm64 builder at work",
                   rerun["execution_arn"])
        staged = stage_files(release_id)
        sfn = client("stepfunctions")
        sfn.stop_execution(executionArn=rerun["execution_arn"], error="Stopped", cause="stopped in the console")
        runtime.simulator.finish_hung_guests()
        runtime.wait(rerun["execution_arn"])

        cleaned = runtime.end_delivered(rerun["execution_arn"])   # stopped in the console: the rule cleans up
        # the task the stop interrupted still runs to its end, as a Lambda does
        wait_until(lambda: app.recorder.running == 0, "the interrupted task's end")

        assert cleaned["cleaned"] is True, cleaned
        # what the builder still held uploads after the rule: the sweeper's to remove
        assert {file["key"] for file in staged} <= set(cleaned["removed"]["files"]), cleaned


def a_retried_announce_finds_the_files_published_and_signed(scene: Scene) -> None:
    """The release publishes its builders' files, signed; Announce run again with the same input
    (the state machine's retry of a Lambda error) finds them published and changes nothing."""
    with local_runtime(scene) as runtime:
        announced: list[dict] = []
        around_task(runtime, "announce", announced.append)
        started = runtime.start_release(synthetic_release("developer", "44.5", 3))
        succeeds(runtime, started.execution_arn)
        published = s3_keys(builds_prefix("developer", "44.5"))

        scene.app.invoke("announce", announced[-1])

        assert len(published) == 8 and sum(key.endswith(SIGNATURE_SUFFIX) for key in published) == 4, published
        assert s3_keys(builds_prefix("developer", "44.5")) == published
        assert s3_keys(staging_prefix(started.release_id)) == []


# -- the recording and the judgement ---------------------------------------------------------------

@pytest.fixture(scope="module")
def recorded(tmp_path_factory, signing_key) -> Recorded:
    require_ostree_cli()
    scratch = tmp_path_factory.mktemp("policies")
    repo = OstreeRepo(scratch / "repo", signing_key)
    with ExitStack() as stack:
        server = stack.enter_context(RepoServer(repo.path))
        recorder = stack.enter_context(CallRecorder().recording())
        chalice = stack.enter_context(Client(app, project_dir=ROOT))
        scene = Scene(App(chalice, recorder), streams_config(server.url, scratch, repo.trusted_keys), repo)
        names = every_way_in_then_retention_and_sweep(scene)
        a_qa_failure_is_cleaned_up(scene)
        a_partial_release_is_filled_in(scene)
        a_region_made_private_after_publish(scene)
        an_abort_a_rerun_and_the_end_of_execution_rule(scene)
        a_builder_launch_retried_after_its_guest_reported(scene)
        a_retried_announce_finds_the_files_published_and_signed(scene)
    return Recorded(recorder, names)


def resolved_policies(names: dict[str, str]) -> dict[str, dict]:
    return {function: resolve(load_policy(function), names) for function in function_names()}


def local_account(names: dict[str, str]) -> Account:
    """The local account, each instance profile holding its own guest's role."""
    return Account(ACCOUNT, {names["BuilderInstanceProfile"]: names["BuilderRole.Arn"],
                             names["QaInstanceProfile"]: names["QaRole.Arn"]})


def refusals(recorded: Recorded, policies: dict[str, dict]) -> list[str]:
    """Each authorization a recorded call needs that its function's policy does not give, once."""
    account = local_account(recorded.names)
    refused = set()
    for call in recorded.recorder.calls:
        for requirement in requirements(call, account):
            verdict = decide(policies[call.function], requirement)
            if not verdict.allowed:
                refused.add(f"{call.function}: {requirement} ({call.service} {call.operation}): {verdict.why}")
    return sorted(refused)


def test_the_scenarios_exercise_every_function(recorded):
    assert sorted(recorded.recorder.invoked) == function_names()
    assert sorted(recorded.recorder.functions_calling()) == sorted(set(function_names()) - NO_AWS_CALLS)


def test_every_call_each_function_makes_is_allowed_by_its_own_policy(recorded):
    assert refusals(recorded, resolved_policies(recorded.names)) == []


def test_no_function_acts_on_an_ec2_resource_already_gone(recorded):
    """Under tag conditions AWS refuses it as unauthorized, so the release would fail: a root
    volume that went with its instance, say, must not be deleted again."""
    account = local_account(recorded.names)
    gone = [f"{call.function}: {requirement}" for call in recorded.recorder.calls
            for requirement in requirements(call, account) if requirement.resource_gone]

    assert gone == []


def without_action(policy: dict, sid: str, action: str) -> None:
    (statement,) = [s for s in statements(policy) if s.get("Sid") == sid]
    statement["Action"] = [a for a in as_list(statement["Action"]) if a != action]


def for_role(policy: dict, sid: str, role: str) -> None:
    (statement,) = [s for s in statements(policy) if s.get("Sid") == sid]
    statement["Condition"]["StringEquals"]["ec2:ResourceTag/atomic-release:role"] = role


def passing(policy: dict, sid: str, role_arn: str) -> None:
    (statement,) = [s for s in statements(policy) if s.get("Sid") == sid]
    statement["Resource"] = role_arn


@pytest.mark.parametrize(("function", "narrow", "refused"), [
    ("announce", lambda p: without_action(p, "NotifySubscribers", "sns:Publish"),
     "announce: sns:Publish on arn:aws:sns:us-east-1:123456789012:atomic-release-local-releases"),
    ("evaluate_qa", lambda p: for_role(p, "RemoveQaInstances", "builder"),
     "evaluate_qa: ec2:TerminateInstances on arn:aws:ec2:us-east-1:123456789012:instance/"),
    ("announce", lambda p: without_action(p, "ReadArtifactSigningKeys", "secretsmanager:GetSecretValue"),
     f"announce: secretsmanager:GetSecretValue on arn:aws:secretsmanager:us-east-1:123456789012:secret:"
     f"{ARTIFACT_SIGNING_SECRET}-"),
    ("fail_release", lambda p: without_action(p, "RemoveStagedFiles", "s3:DeleteObject"),
     "fail_release: s3:DeleteObject on arn:aws:s3:::atomic-release-local-metadata/staging/"),
    ("retire_old_releases", lambda p: without_action(p, "RetireDownloadableFiles", "s3:DeleteObjectVersion"),
     "retire_old_releases: s3:DeleteObjectVersion on arn:aws:s3:::atomic-release-local-metadata/streams/developer/builds/"),
    ("preflight", lambda p: without_action(p, "DescribeEc2", "ec2:DescribeRegions"), "preflight: ec2:DescribeRegions on *"),
    ("follow_copies", lambda p: without_action(p, "MakeReleaseImagesPublic", "ec2:ModifyImageAttribute"),
     "follow_copies: ec2:ModifyImageAttribute on arn:aws:ec2:"),
    ("follow_copies", lambda p: without_action(p, "WriteVersionParameters", "ssm:PutParameter"),
     "follow_copies: ssm:PutParameter on arn:aws:ssm:"),
    ("launch_qa", lambda p: passing(p, "PassQaRole", f"arn:aws:iam::{ACCOUNT}:role/atomic-release-local-builder"),
     "launch_qa: iam:PassRole on arn:aws:iam::123456789012:role/atomic-release-local-qa"),
    ("marketplace", lambda p: without_action(p, "ReadProductVersions", "aws-marketplace:DescribeEntity"),
     "marketplace: aws-marketplace:DescribeEntity on arn:aws:aws-marketplace:us-east-1:123456789012:AWSMarketplace/"
     "AmiProduct/"),
])
def test_a_policy_narrower_than_what_its_function_does_is_refused_by_name(recorded, function, narrow, refused):
    policies = resolved_policies(recorded.names)
    narrow(policies[function])

    found = refusals(recorded, policies)

    assert any(line.startswith(refused) for line in found), found
    assert all(line.startswith(f"{function}: ") for line in found), found


def test_every_action_a_policy_allows_is_one_its_function_was_seen_to_need(recorded):
    """Sufficient is half of least privilege: an action no scenario needed is granted only with
    the path of the code that needs it, in NOT_EXERCISED."""
    account = local_account(recorded.names)
    needed = {(call.function, requirement.action) for call in recorded.recorder.calls
              for requirement in requirements(call, account)}
    granted = {(function, action) for function in function_names() for statement in statements(load_policy(function))
               if statement["Effect"] == "Allow" for action in as_list(statement["Action"])
               if not action.startswith(("logs:", "xray:"))}
    unexercised = sorted(granted - needed - NOT_EXERCISED.keys())
    assert unexercised == [], "\n".join(map(str, unexercised))
    # Some of these run or not by timing (an abort before or after the images exist): an exception
    # may be exercised, but it must name something its policy grants.
    assert sorted(NOT_EXERCISED.keys() - granted) == []
