"""Retention on a history of releases made directly: records, tagged public images with their
snapshots and version parameters in two regions, and the stream metadata."""

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError
from chalice.test import Client

from app import app
from chalicelib.aws import ec2 as aws_ec2
from chalicelib.aws import s3
from chalicelib.aws.clients import client
from chalicelib.core.errors import PartlyFailed
from chalicelib.core.observability import RETENTION_ERRORS
from chalicelib.core.tags import release_tags, tag_specifications
from chalicelib.models.artifacts import builds_prefix
from chalicelib.models.release import ReleaseInput
from chalicelib.stages.announce import stream_metadata_key, write_document
from chalicelib.store import records
from chalicelib.upkeep import retention
from tests.emf import counts
from tests.integration.support import BASE, COPY, REFS, STREAM, own_image_ids, own_snapshot_ids

NOW = datetime(2026, 12, 1, tzinfo=UTC)
REGIONS = (BASE, COPY)
BOTH = {"x86_64": REGIONS, "arm64": REGIONS}


@dataclass
class Planted:
    release_id: str
    version: str
    images: dict[tuple[str, str], str] = field(default_factory=dict)  # (arch, region) -> image id
    snapshots: dict[tuple[str, str], str] = field(default_factory=dict)  # (arch, region) -> snapshot id
    orphans: dict[str, str] = field(default_factory=dict)  # region -> snapshot behind no image

    def parameter(self, arch: str) -> str:
        return f"/atomic-release/{STREAM}/{arch}/{self.version}"

    def parameters(self) -> set[tuple[str, str]]:
        return {(region, self.parameter(arch)) for arch, region in self.images}


def checksum(version: str, arch: str) -> str:
    return hashlib.sha256(f"{version}/{arch}".encode()).hexdigest()


def release_input(stream: str, version: str, timestamps: dict[str, str]) -> ReleaseInput:
    return ReleaseInput.model_validate({
        "stream": stream, "version": version, "trigger": "cli",
        "commits": {arch: {"ref": REFS[arch], "checksum": checksum(version, arch), "timestamp": when}
                    for arch, when in timestamps.items()}})


def record(release: ReleaseInput, status: str, images: dict[str, dict[str, str]]) -> None:
    records.create(release, f"arn:aws:states:{BASE}:123456789012:execution:release:{release.release_id}",
                   list(REGIONS))
    if status == "FAILED":
        records.mark_failed(release.release_id, "build", "QA failed")
    else:
        records.mark_finished(release.release_id, status, images, "s3://metadata/streams/developer.json", [], {})


def snapshot_of(region: str, tags: list[dict]) -> str:
    ec2 = client("ec2", region)
    disk = ec2.create_volume(AvailabilityZone=f"{region}a", Size=10)["VolumeId"]
    snapshot_id = ec2.create_snapshot(VolumeId=disk, TagSpecifications=tag_specifications(tags, "snapshot"))
    ec2.delete_volume(VolumeId=disk)
    return snapshot_id["SnapshotId"]


def public_image(region: str, release_id: str, stream: str, arch: str) -> tuple[str, str]:
    """An image as Publish leaves it: tagged, public, its snapshot public."""
    ec2 = client("ec2", region)
    tags = release_tags(release_id, stream, arch, "image")
    snapshot_id = snapshot_of(region, tags)
    image_id = ec2.register_image(
        Name=f"{release_id}-{arch}", RootDeviceName="/dev/xvda", Architecture=arch,
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot_id}}],
        TagSpecifications=tag_specifications(tags, "image"))["ImageId"]
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
    ec2.modify_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission", OperationType="add",
                                  GroupNames=["all"])
    return image_id, snapshot_id


def release(version: str, timestamps: dict[str, str], status: str = "SUCCEEDED", where: dict = BOTH,
            stream: str = STREAM) -> Planted:
    """A release recorded with its images in the regions ``where`` says, per architecture."""
    planted = Planted(release_input(stream, version, timestamps).release_id, version)
    for arch, regions in where.items():
        for region in regions:
            image_id, snapshot_id = public_image(region, planted.release_id, stream, arch)
            planted.images[arch, region], planted.snapshots[arch, region] = image_id, snapshot_id
            client("ssm", region).put_parameter(Name=f"/atomic-release/{stream}/{arch}/{version}", Value=image_id,
                                                Type="String", DataType="aws:ec2:image")
    images: dict[str, dict[str, str]] = {}
    for (arch, region), image_id in planted.images.items():
        images.setdefault(arch, {})[region] = image_id
    record(release_input(stream, version, timestamps), status, images)
    return planted


def both_arches(when: str) -> dict[str, str]:
    return {"x86_64": when, "arm64": when}


@dataclass
class History:
    newest: Planted       # partial: arm64 reached only the base region
    newer: Planted
    young: Planted        # older than the newest two, but its latest commit is within three months
    old: Planted          # and a snapshot of it behind no image
    oldest: Planted       # its arm64 image in COPY is what the stream metadata names there
    failed: Planted       # failed before publication: its cleanup left nothing
    other_stream: Planted

    @property
    def kept(self) -> list[Planted]:
        return [self.newest, self.newer, self.young]


@pytest.fixture
def history(runtime, streams_config) -> History:
    streams_config(lambda raw: raw["streams"][STREAM]["retention"].update(keep_releases=2, keep_months=3))
    found = History(
        newest=release("43.20261120.dev.0", both_arches("2026-11-20T08:00:00Z"), status="PARTIAL",
                       where={"x86_64": REGIONS, "arm64": (BASE,)}),
        newer=release("43.20261110.dev.0", both_arches("2026-11-10T08:00:00Z")),
        young=release("43.20261001.dev.0", {"x86_64": "2026-07-01T08:00:00Z", "arm64": "2026-10-01T08:00:00Z"}),
        old=release("43.20260601.dev.0", both_arches("2026-06-01T08:00:00Z")),
        oldest=release("43.20260301.dev.0", both_arches("2026-03-01T08:00:00Z")),
        failed=release("43.20260201.dev.0", both_arches("2026-02-01T08:00:00Z"), status="FAILED", where={}),
        other_stream=release("41.20250101.3.0", both_arches("2025-01-01T08:00:00Z"), stream="stable",
                             where={"x86_64": (BASE,)}),
    )
    found.old.orphans[BASE] = snapshot_of(BASE, release_tags(found.old.release_id, STREAM, "x86_64", "image"))
    aws = {"x86_64": {region: found.newest.images["x86_64", region] for region in REGIONS},
           "aarch64": {BASE: found.newest.images["arm64", BASE], COPY: found.oldest.images["arm64", COPY]}}
    write_document(stream_metadata_key(STREAM), {"stream": STREAM, "metadata": {}, "architectures": {
        arch: {"images": {"aws": {"regions": {r: {"release": "x", "image": i} for r, i in regions.items()}}}}
        for arch, regions in aws.items()}})
    return found


def parameters() -> set[tuple[str, str]]:
    found = set()
    for region in REGIONS:
        pages = client("ssm", region).get_paginator("get_parameters_by_path").paginate(
            Path=f"/atomic-release/{STREAM}", Recursive=True)
        found |= {(region, p["Name"]) for page in pages for p in page["Parameters"]}
    return found


def images() -> set[tuple[str, str]]:
    return {(region, image_id) for region in REGIONS for image_id in own_image_ids(region)}


def snapshots() -> set[tuple[str, str]]:
    return {(region, snapshot_id) for region in REGIONS for snapshot_id in own_snapshot_ids(region)}


def statuses() -> dict[str, str]:
    return {r.release_id: r.status for stream in (STREAM, "stable") for r in records.releases_of(stream)}


def everything() -> dict:
    """What retention could change: images with their publicity, snapshots, parameters, records."""
    described = {(region, i["ImageId"]): i.get("Public") for region in REGIONS
                 for i in client("ec2", region).describe_images(Owners=["self"])["Images"]}
    return {"images": described, "snapshots": snapshots(), "parameters": parameters(),
            "records": [r.model_dump() for stream in (STREAM, "stable") for r in records.releases_of(stream)]}


def without_times(state: dict) -> dict:
    """A record marked retired again says so at a later time: nothing else of it changes."""
    return {**state, "records": [{k: v for k, v in r.items() if k != "updated_at"} for r in state["records"]]}


def located(planted: Planted, kind: str) -> set[tuple[str, str]]:
    found = {(region, resource) for (_, region), resource in getattr(planted, kind).items()}
    return found | ({(region, s) for region, s in planted.orphans.items()} if kind == "snapshots" else set())


def public(region: str, image_id: str) -> bool:
    return client("ec2", region).describe_images(ImageIds=[image_id])["Images"][0]["Public"]


def snapshot_public(region: str, snapshot_id: str) -> bool:
    permissions = client("ec2", region).describe_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission")["CreateVolumePermissions"]
    return {"Group": "all"} in permissions


class Refusing:
    """An EC2 client on which one operation is refused."""

    def __init__(self, real, operation: str):
        self._real, self._operation = real, operation

    def __getattr__(self, name):
        if name == self._operation:
            def refuse(*_, **__):
                raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "refused here"}}, name)
            return refuse
        return getattr(self._real, name)


def refuse_in(monkeypatch, region: str, operation: str) -> None:
    real = aws_ec2.client
    monkeypatch.setattr(aws_ec2, "client", lambda service, where=None: Refusing(real(service, where), operation)
                        if (service, where) == ("ec2", region) else real(service, where))


# -- which releases stay --------------------------------------------------------------------

def test_the_plan_keeps_the_newest_and_the_young_and_retires_the_rest(history):
    plan = retention.plan(STREAM, NOW)

    assert [(k.release_id, k.reason) for k in plan.kept] == [
        (history.newest.release_id, "newest 2"), (history.newer.release_id, "newest 2"),
        (history.young.release_id, "within 3 months")]
    assert [r.release_id for r in plan.retire] == [history.old.release_id, history.oldest.release_id]
    assert plan.restore == [] and plan.errors == {}


def test_retention_removes_the_old_images_snapshots_and_parameters_in_every_region(history):
    before = (images(), snapshots(), parameters())
    protected_image = (COPY, history.oldest.images["arm64", COPY])
    protected_snapshot = (COPY, history.oldest.snapshots["arm64", COPY])
    protected_parameter = (COPY, history.oldest.parameter("arm64"))

    run = retention.run(STREAM, dry_run=False, now=NOW)

    gone_images = located(history.old, "images") | (located(history.oldest, "images") - {protected_image})
    gone_snapshots = located(history.old, "snapshots") | (located(history.oldest, "snapshots") - {protected_snapshot})
    gone_parameters = history.old.parameters() | (history.oldest.parameters() - {protected_parameter})
    assert images() == before[0] - gone_images
    assert snapshots() == before[1] - gone_snapshots
    assert parameters() == before[2] - gone_parameters
    assert set(run.result.deregistered) == {f"{r}:{i}" for r, i in gone_images}
    assert run.result.errors == {} and run.result.already_gone == []


def test_only_the_release_with_nothing_left_is_recorded_as_retired(history):
    before = statuses()

    run = retention.run(STREAM, dry_run=False, now=NOW)

    assert run.result.retired == [history.old.release_id]
    assert statuses() == {**before, history.old.release_id: "RETIRED"}
    item = client("dynamodb").get_item(TableName=records.table_name(),
                                       Key={"release_id": {"S": history.old.release_id}})["Item"]
    removed = TypeDeserializer().deserialize(item["retired"])
    assert set(removed["images"]) == {f"{r}:{i}" for r, i in located(history.old, "images")}
    assert set(removed["snapshots"]) == {f"{r}:{s}" for r, s in located(history.old, "snapshots")}
    assert set(removed["parameters"]) == {f"{r}:{n}" for r, n in history.old.parameters()}


def test_the_image_the_stream_metadata_names_stays_though_its_release_is_old(history):
    image_id = history.oldest.images["arm64", COPY]
    snapshot_id = history.oldest.snapshots["arm64", COPY]

    run = retention.run(STREAM, dry_run=False, now=NOW)

    oldest = next(r for r in run.plan.retire if r.release_id == history.oldest.release_id)
    assert [(p.region, p.image_id, p.snapshots, p.reason) for p in oldest.protected] == [
        (COPY, image_id, [snapshot_id], f"named by the stream metadata (aarch64 in {COPY})")]
    assert image_id in own_image_ids(COPY) and public(COPY, image_id)
    assert snapshot_id in own_snapshot_ids(COPY)
    assert (COPY, history.oldest.parameter("arm64")) in parameters()
    assert f"protected {COPY} {image_id} + {snapshot_id} of {history.oldest.release_id} ({history.oldest.version}): " \
           f"named by the stream metadata (aarch64 in {COPY}); the release stays recorded as it is" in run.lines()


# -- dry run ----------------------------------------------------------------------------------

def test_a_dry_run_changes_nothing_and_says_what_would_go(history):
    before = everything()

    run = retention.run(STREAM, dry_run=True, now=NOW)

    assert everything() == before
    assert run.result is None
    old, oldest = history.old, history.oldest
    expected = {f"retire {p.release_id} ({p.version}): {region} {p.images[arch, region]} + {p.snapshots[arch, region]}"
                for p in (old, oldest) for arch, region in p.images if (p, arch, region) != (oldest, "arm64", COPY)}
    expected.add(f"retire {old.release_id} ({old.version}): {BASE} {old.orphans[BASE]} (a snapshot behind no image)")
    expected |= {f"retire {p.release_id} ({p.version}): {region} parameter {name}"
                 for p in (old, oldest) for region, name in p.parameters()
                 if (p, region, name) != (oldest, COPY, oldest.parameter("arm64"))}
    assert {line for line in run.lines() if line.startswith("retire ")} == expected
    assert f"keep {history.young.release_id} ({history.young.version}): within 3 months" in run.lines()
    assert run.lines()[-1] == "dry run: nothing was changed"


def test_a_dry_run_of_every_stream_changes_nothing(history):
    before = everything()

    runs = retention.run_all(dry_run=True, now=NOW)

    assert everything() == before
    assert [r.stream for r in runs.runs] == ["developer", "stable"] and runs.failed == {}
    assert [k.release_id for k in runs.runs[1].plan.kept] == [history.other_stream.release_id]


# -- made public again ------------------------------------------------------------------------

def test_a_kept_image_made_private_is_made_public_again_with_its_snapshot(history):
    image_id, snapshot_id = history.newer.images["x86_64", COPY], history.newer.snapshots["x86_64", COPY]
    ec2 = client("ec2", COPY)
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Remove": [{"Group": "all"}]})
    ec2.modify_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission",
                                  OperationType="remove", GroupNames=["all"])

    run = retention.run(STREAM, dry_run=False, now=NOW)

    assert [(r.region, r.image_id, r.snapshots, r.release_id) for r in run.plan.restore] == [
        (COPY, image_id, [snapshot_id], history.newer.release_id)]
    assert f"make public again {COPY} {image_id} + {snapshot_id}" in run.lines()
    assert run.result.made_public == [f"{COPY}:{image_id}", f"{COPY}:{snapshot_id}"]
    assert public(COPY, image_id) and snapshot_public(COPY, snapshot_id)


def test_a_protected_image_made_private_is_made_public_again(history):
    image_id = history.oldest.images["arm64", COPY]
    client("ec2", COPY).modify_image_attribute(ImageId=image_id, LaunchPermission={"Remove": [{"Group": "all"}]})

    run = retention.run(STREAM, dry_run=False, now=NOW)

    assert [(r.region, r.image_id) for r in run.plan.restore] == [(COPY, image_id)]
    assert public(COPY, image_id)


def protect(region: str, image_id: str) -> None:
    """As Announce leaves an image the stream metadata named once."""
    client("ec2", region).enable_image_deregistration_protection(ImageId=image_id)


def test_a_retiring_image_protected_from_deregistration_is_unprotected_just_before_it_goes(history):
    image_id = history.old.images["x86_64", BASE]
    protect(BASE, image_id)
    calls: list[tuple[str, str]] = []
    events = client("ec2", BASE).meta.events
    for action in ("DisableImageDeregistrationProtection", "DeregisterImage"):
        events.register(f"provide-client-params.ec2.{action}",
                        lambda params, model, **_: calls.append((model.name, params["ImageId"])), unique_id=action)
    try:
        run = retention.run(STREAM, dry_run=False, now=NOW)
    finally:
        for action in ("DisableImageDeregistrationProtection", "DeregisterImage"):
            events.unregister(f"provide-client-params.ec2.{action}", unique_id=action)

    assert calls.index(("DisableImageDeregistrationProtection", image_id)) + 1 == calls.index(
        ("DeregisterImage", image_id))
    assert [c for c in calls if c[0] == "DisableImageDeregistrationProtection"] == [
        ("DisableImageDeregistrationProtection", image_id)]
    assert run.result.unprotected == [f"{BASE}:{image_id}"]
    assert f"{BASE}:{image_id}" in run.result.deregistered
    assert (BASE, image_id) not in images()
    assert run.result.retired == [history.old.release_id]


def test_an_image_the_stream_metadata_names_after_the_plan_keeps_its_protection_and_stays(history):
    image_id, snapshot_id = history.old.images["x86_64", BASE], history.old.snapshots["x86_64", BASE]
    protect(BASE, image_id)
    planned = retention.plan(STREAM, now=NOW)
    metadata = json.loads(client("s3").get_object(Bucket=os.environ["METADATA_BUCKET"],
                                                  Key=stream_metadata_key(STREAM))["Body"].read())
    metadata["architectures"]["x86_64"]["images"]["aws"]["regions"][BASE] = {"release": "y", "image": image_id}
    write_document(stream_metadata_key(STREAM), metadata)

    result = retention.apply(planned)

    assert (BASE, image_id) in images() and (BASE, snapshot_id) in snapshots()
    assert client("ec2", BASE).describe_images(ImageIds=[image_id])["Images"][0]["DeregistrationProtection"] == \
        "enabled"
    assert result.named_since == [f"{BASE}:{image_id}: named by the stream metadata (x86_64 in {BASE})"]
    assert f"{BASE}:{image_id}" not in result.unprotected
    assert history.old.release_id not in result.retired
    assert f"kept, named by the stream metadata since the plan: {BASE}:{image_id}: named by the stream metadata " \
           f"(x86_64 in {BASE})" in result.lines()


def test_a_dry_run_says_which_image_loses_its_protection_and_leaves_it_on(history):
    image_id, snapshot_id = history.old.images["x86_64", BASE], history.old.snapshots["x86_64", BASE]
    protect(BASE, image_id)

    run = retention.run(STREAM, dry_run=True, now=NOW)

    assert (f"retire {history.old.release_id} ({history.old.version}): {BASE} {image_id} + {snapshot_id} "
            "(its deregistration protection turned off first)") in run.lines()
    assert client("ec2", BASE).describe_images(ImageIds=[image_id])["Images"][0]["DeregistrationProtection"] == \
        "enabled"


def test_an_image_whose_protection_cannot_be_turned_off_stays_with_its_snapshot(history, monkeypatch):
    image_id, snapshot_id = history.old.images["x86_64", BASE], history.old.snapshots["x86_64", BASE]
    protect(BASE, image_id)
    refuse_in(monkeypatch, BASE, "disable_image_deregistration_protection")

    run = retention.run(STREAM, dry_run=False, now=NOW)

    assert (BASE, image_id) in images() and (BASE, snapshot_id) in snapshots()
    assert run.result.errors[BASE] == [f"{image_id}: UnauthorizedOperation: refused here"]
    assert history.old.release_id not in run.result.retired


def test_kept_images_of_a_stream_shared_and_not_public_are_not_made_public(history, streams_config):
    streams_config(lambda raw: raw["streams"][STREAM].update(
        retention={"keep_releases": 2, "keep_months": 3}, sharing={"public": False, "accounts": ["210987654321"]}))
    image_id = history.newer.images["x86_64", COPY]
    client("ec2", COPY).modify_image_attribute(ImageId=image_id, LaunchPermission={"Remove": [{"Group": "all"}]})

    run = retention.run(STREAM, dry_run=False, now=NOW)

    assert run.plan.restore == [] and run.result.made_public == []
    assert not public(COPY, image_id)


# -- failures and repeats ---------------------------------------------------------------------

def test_a_region_that_refuses_is_reported_and_the_others_proceed(history, monkeypatch):
    refuse_in(monkeypatch, COPY, "deregister_image")

    run = retention.run(STREAM, dry_run=False, now=NOW)

    refused = {history.old.images["x86_64", COPY], history.old.images["arm64", COPY],
               history.oldest.images["x86_64", COPY]}
    assert set(run.result.errors) == {COPY}
    assert sorted(run.result.errors[COPY]) == sorted(f"{i}: UnauthorizedOperation: refused here" for i in refused)
    assert f"failed in {COPY}: {sorted(refused)[0]}: UnauthorizedOperation: refused here" in run.lines()
    base_gone = {i for p in (history.old, history.oldest) for (_, r), i in p.images.items() if r == BASE}
    assert own_image_ids(BASE).isdisjoint(base_gone)
    assert refused <= own_image_ids(COPY)
    assert {history.old.snapshots[arch, COPY] for arch in BOTH} <= own_snapshot_ids(COPY)
    assert run.result.retired == [] and statuses()[history.old.release_id] == "SUCCEEDED"

    monkeypatch.setattr(aws_ec2, "client", client)  # the region answers again
    again = retention.run(STREAM, dry_run=False, now=NOW)

    assert again.result.errors == {} and set(again.result.deregistered) == {f"{COPY}:{i}" for i in refused}
    assert again.result.retired == [history.old.release_id]


def test_a_region_that_cannot_be_inspected_is_reported_and_nothing_is_recorded_retired(history, monkeypatch):
    refuse_in(monkeypatch, COPY, "get_paginator")

    run = retention.run(STREAM, dry_run=False, now=NOW)

    assert run.plan.errors == {COPY: "UnauthorizedOperation: refused here"}
    in_base = {i for p in (history.old, history.oldest) for (_, region), i in p.images.items() if region == BASE}
    in_copy = {i for p in (history.old, history.oldest) for (_, region), i in p.images.items() if region == COPY}
    assert set(run.result.deregistered) == {f"{BASE}:{i}" for i in in_base}
    assert own_image_ids(BASE).isdisjoint(in_base) and in_copy <= own_image_ids(COPY)
    assert run.result.retired == [] and statuses()[history.old.release_id] == "SUCCEEDED"
    assert f"cannot inspect {COPY}: UnauthorizedOperation: refused here; nothing there is retired or restored, " \
           "no release is recorded as retired" in run.lines()


def test_the_daily_schedule_fails_naming_the_stream_it_could_not_finish(history, monkeypatch, capsys):
    refuse_in(monkeypatch, COPY, "get_paginator")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the local runtime turns them off

    with Client(app, project_dir=str(Path(__file__).resolve().parents[2])) as chalice, \
            pytest.raises(PartlyFailed, match=f"{STREAM}: cannot inspect {COPY}: UnauthorizedOperation"):
        chalice.lambda_.invoke("retire_old_releases", chalice.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))

    assert counts(capsys.readouterr().out, RETENTION_ERRORS) == [({"service": "atomic-release", "stream": STREAM},
                                                                  1.0)]


def test_applying_a_plan_twice_is_harmless(history):
    plan = retention.plan(STREAM, NOW)
    first = retention.apply(plan)
    after_first = everything()

    second = retention.apply(plan)

    assert without_times(everything()) == without_times(after_first)
    assert second.errors == {} and second.deregistered == second.deleted_snapshots == second.deleted_parameters == []
    assert first.retired == [history.old.release_id] and second.retired == []
    planned = next(r for r in plan.retire if r.release_id == history.old.release_id)
    assert second.skipped == [f"{history.old.release_id}: RETIRED since the plan ({planned.status})"]


# -- months -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("when", "months", "expected"), [
    ("2026-12-01T00:00:00+00:00", 3, "2026-09-01T00:00:00+00:00"),
    ("2026-05-31T12:30:00+00:00", 3, "2026-02-28T12:30:00+00:00"),
    ("2028-05-31T00:00:00+00:00", 3, "2028-02-29T00:00:00+00:00"),
    ("2026-01-15T00:00:00+00:00", 1, "2025-12-15T00:00:00+00:00"),
    ("2026-03-10T00:00:00+00:00", 26, "2024-01-10T00:00:00+00:00"),
    ("2026-03-10T00:00:00+00:00", 0, "2026-03-10T00:00:00+00:00"),
])
def test_months_before_counts_calendar_months(when, months, expected):
    assert retention.months_before(datetime.fromisoformat(when), months) == datetime.fromisoformat(expected)


def test_the_daily_schedule_only_reports_its_plan_unless_told_otherwise(history, redeploy):
    before = everything()
    with Client(app, project_dir=str(Path(__file__).resolve().parents[2])) as chalice:
        event = chalice.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                 resources=[])
        dry = chalice.lambda_.invoke("retire_old_releases", event).payload
        assert everything() == before
        redeploy("RETENTION_DRY_RUN", "false")
        done = chalice.lambda_.invoke("retire_old_releases", event).payload

    assert any(line.startswith(f"{STREAM}: retire {history.oldest.release_id}") for line in dry["lines"])
    assert f"{STREAM}: dry run: nothing was changed" in dry["lines"]
    assert f"{STREAM}: dry run: nothing was changed" not in done["lines"]
    assert everything() != before


def test_a_release_that_failed_after_publication_is_retired_but_for_what_latest_names(history):
    late = release("43.20261121.dev.0", both_arches("2026-11-21T08:00:00Z"), status="FAILED",
                   where={"x86_64": REGIONS})
    named = late.images["x86_64", COPY]
    client("ssm", COPY).put_parameter(Name=f"/atomic-release/{STREAM}/x86_64/latest", Value=named, Type="String",
                                      DataType="aws:ec2:image")

    run = retention.run(STREAM, dry_run=False, now=NOW)

    assert [k.release_id for k in run.plan.kept][:2] == [history.newest.release_id, history.newer.release_id]
    assert images() & located(late, "images") == {(COPY, named)}
    assert f"named by /atomic-release/{STREAM}/x86_64/latest in {COPY}" in "\n".join(run.lines())
    assert history.failed.release_id not in [r.release_id for r in run.plan.retire]


def marketplace_change(planted: Planted, arch: str, status: str, intent: str = "APPLY") -> dict:
    return {"arch": arch, "product_id": f"prod-{arch.replace('_', '')}", "image_id": planted.images[arch, BASE],
            "intent": intent, "change_set_name": f"{planted.release_id}.{arch}.0", "change_set_id": "cs1",
            "status": status}


@pytest.mark.parametrize(("status", "intent", "kept"), [
    ("SUCCEEDED", "APPLY", True), ("APPLYING", "APPLY", True), ("OVERDUE", "APPLY", True),
    ("FAILED", "APPLY", False), ("SUCCEEDED", "VALIDATE", False)])
def test_the_image_a_marketplace_version_names_stays_though_its_release_is_old(history, status, intent, kept):
    records.mark_marketplace(history.old.release_id, {"x86_64": marketplace_change(history.old, "x86_64", status,
                                                                                    intent)})
    image_id = history.old.images["x86_64", BASE]

    run = retention.run(STREAM, dry_run=False, now=NOW)

    old = next(r for r in run.plan.retire if r.release_id == history.old.release_id)
    assert (image_id in own_image_ids(BASE)) is kept
    if kept:
        assert [(p.region, p.image_id) for p in old.protected] == [(BASE, image_id)]
        assert old.protected[0].reason.startswith(f"named by Marketplace: x86_64 prod-x8664: {status}")


# -- downloadable files -----------------------------------------------------------------------

def plant_files(planted: Planted) -> list[str]:
    """A published version's files and signatures under its builds prefix."""
    prefix = builds_prefix(STREAM, planted.version)
    keys = [f"{prefix}{arch}/fedora-coreos-{planted.version}-{platform}.{arch}.{fmt}{suffix}"
            for arch in ("x86_64", "aarch64") for platform, fmt in (("metal", "raw.xz"), ("qemu", "qcow2.xz"))
            for suffix in ("", ".sig")]
    for key in keys:
        client("s3").put_object(Bucket=os.environ["METADATA_BUCKET"], Key=key, Body=b"published")
    return sorted(keys)


def files_of(planted: Planted) -> list[str]:
    return sorted(found["Key"] for found in s3.objects_under(os.environ["METADATA_BUCKET"],
                                                             builds_prefix(STREAM, planted.version)))


def test_a_retired_release_s_files_go_with_its_images_every_version_of_them_and_are_recorded(history):
    bucket = os.environ["METADATA_BUCKET"]
    client("s3").put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})  # as deployed
    plant_files(history.old)
    old, newer = plant_files(history.old), plant_files(history.newer)  # the old ones twice: two versions each

    run = retention.run(STREAM, dry_run=False, now=NOW)

    assert files_of(history.old) == [] and files_of(history.newer) == newer
    assert s3.versions_under(bucket, builds_prefix(STREAM, history.old.version)) == []
    assert len(s3.versions_under(bucket, builds_prefix(STREAM, history.newer.version))) == len(newer)
    assert sorted(run.result.deleted_files) == old
    assert run.result.retired == [history.old.release_id]
    item = client("dynamodb").get_item(TableName=records.table_name(),
                                       Key={"release_id": {"S": history.old.release_id}})["Item"]
    assert sorted(TypeDeserializer().deserialize(item["retired"])["files"]) == old
    assert any(line.startswith("done: ") and f"{len(old)} files deleted" in line for line in run.lines())


def test_a_dry_run_names_the_files_and_keeps_them(history):
    old = plant_files(history.old)

    run = retention.run(STREAM, dry_run=True, now=NOW)

    assert files_of(history.old) == old
    head = f"retire {history.old.release_id} ({history.old.version})"
    assert {line for line in run.lines() if line.startswith(f"{head}: file ")} == {f"{head}: file {k}" for k in old}


def test_the_files_the_stream_metadata_offers_stay_and_keep_their_release_unretired(history):
    old = plant_files(history.old)
    metadata = json.loads(client("s3").get_object(Bucket=os.environ["METADATA_BUCKET"],
                                                  Key=stream_metadata_key(STREAM))["Body"].read())
    metadata["architectures"]["x86_64"]["artifacts"] = {"metal": {"release": history.old.version, "formats": {}}}
    write_document(stream_metadata_key(STREAM), metadata)

    run = retention.run(STREAM, dry_run=False, now=NOW)

    assert files_of(history.old) == old
    assert run.result.retired == [] and statuses()[history.old.release_id] == "SUCCEEDED"
    assert f"keep the files of {history.old.release_id} ({history.old.version}): named by the stream metadata " \
           "(x86_64 metal); the release stays recorded as it is" in run.lines()


def test_a_release_that_failed_leaving_only_files_is_retired_with_them(history):
    files = plant_files(history.failed)

    run = retention.run(STREAM, dry_run=False, now=NOW)

    assert files_of(history.failed) == []
    assert set(files) <= set(run.result.deleted_files)
    assert history.failed.release_id in run.result.retired


def test_files_s3_refuses_to_delete_are_reported_and_the_release_stays(history, monkeypatch):
    old = plant_files(history.old)

    def refuse(bucket: str, versions: list[tuple[str, str]]) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "refused here"}}, "DeleteObjects")

    monkeypatch.setattr(s3, "delete_versions", refuse)
    run = retention.run(STREAM, dry_run=False, now=NOW)

    assert files_of(history.old) == old
    assert run.result.errors[retention.DOWNLOADS] == [f"{history.old.release_id}: AccessDenied: refused here"]
    assert run.result.retired == []
