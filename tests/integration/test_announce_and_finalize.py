"""announce: ``latest`` moved to the validated images, the stream metadata, the release index and
the release's own document in S3, an SNS message and an EventBridge event; finalize: the
release record says complete, or partial with what each missing region lacks."""

import hashlib
import json
import os
import re

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

import chalicelib.stages.announce
from chalicelib.aws.clients import client
from chalicelib.core.arch import ostree_arch
from chalicelib.core.config import load_streams
from chalicelib.core.errors import AnnouncedThenFailed, AnnounceFailed, InvalidReleaseInput
from chalicelib.core.observability import MISSING_REGIONS
from chalicelib.models.announce import AnnounceTask
from chalicelib.models.artifacts import staging_prefix
from chalicelib.models.build import BuiltImage
from chalicelib.models.documents import AtomicRelease, AtomicReleaseIndex, AtomicStream
from chalicelib.models.regions import RegionOutcome
from chalicelib.models.stream_metadata import Release, ReleaseIndex, Stream
from chalicelib.models.stream_metadata import document as published
from chalicelib.store import records
from functions import announce, fail_release, finalize, prepare
from tests.emf import counts
from tests.integration.support import (
    ARCHES,
    BASE,
    CHECKSUMS,
    COPY,
    EXECUTION_ARN,
    IMAGE_NAMES,
    OTHER_TIMESTAMP,
    OTHER_VERSION,
    RELEASE_ID,
    STREAM,
    TIMESTAMP,
    VERSION,
    caught,
    invoke,
    outcome,
    parameter,
    plan_arches,
    release_id_of,
    release_input,
    ssm_name,
)

FAR = "us-west-2"
BASE_URL = "https://releases.example.org/atomic/"
METADATA_KEY = f"streams/{STREAM}.json"
INDEX_KEY = f"streams/{STREAM}/releases.json"
RELEASE_KEY = f"streams/{STREAM}/releases/{VERSION}.json"
IMAGES = {"x86_64": {BASE: "ami-00000000000e1a86", COPY: "ami-00000000000e2a86"},
          "arm64": {BASE: "ami-00000000000e1a64", COPY: "ami-00000000000e2a64"}}
OTHER_IMAGES = {"x86_64": {BASE: "ami-0000000000fe1a86", COPY: "ami-0000000000fe2a86"},
                "arm64": {BASE: "ami-0000000000fe1a64", COPY: "ami-0000000000fe2a64"}}
NOT_PUBLIC = "x86_64 public is False, expected True"
BLOCKED = "image block public access is block-new-sharing: images cannot be made public there"


def region_images(images: dict[str, dict[str, str]], region: str) -> dict[str, str]:
    return {arch: by_region[region] for arch, by_region in images.items() if region in by_region}


def validated(region: str, images: dict[str, dict[str, str]] = IMAGES) -> dict:
    """A region as Validate hands it on: each image available, public and named by its version's parameter."""
    region_outcome = outcome(region, "validated", "validate", region_images(images, region))
    for image in region_outcome["images"]:
        image.update(state="available", public=True, parameters=[ssm_name(image["arch"], VERSION)])
    return region_outcome


def announce_task(regions: list[dict] | None = None, version: str = VERSION, timestamp: str = TIMESTAMP,
                  skipped: list[dict] = (), copy_failed: list[dict] = ()) -> dict:
    """Announce's input as the state machine builds it from Prepare's plan and Validate's result."""
    return {"release_id": release_id_of(version), "stream": STREAM, "version": version,
            "arches": plan_arches(timestamp),
            "regions": [validated(BASE), validated(COPY)] if regions is None else regions,
            "skipped": list(skipped), "copy_failed": list(copy_failed)}


def other_release() -> dict:
    """The next release of the stream: another version, a day newer."""
    return announce_task([validated(BASE, OTHER_IMAGES), validated(COPY, OTHER_IMAGES)], OTHER_VERSION,
                         OTHER_TIMESTAMP)


def s3_object(key: str) -> dict:
    return client("s3").get_object(Bucket=os.environ["METADATA_BUCKET"], Key=key)


def document(key: str) -> dict:
    return json.loads(s3_object(key)["Body"].read())


def put_document(key: str, body: dict) -> None:
    client("s3").put_object(Bucket=os.environ["METADATA_BUCKET"], Key=key, Body=json.dumps(body))


LAST_MODIFIED = {"last-modified": "2026-01-01T00:00:00Z"}


def platform_artifacts(version: str, coreos_arch: str, artifact_format: str) -> dict:
    """A platform's downloads as the stream document lists them (one format)."""
    location = f"{BASE_URL}streams/{STREAM}/builds/{version}/{coreos_arch}/disk.{artifact_format}"
    return {"release": version, "formats": {artifact_format: {"disk": {
        "location": location, "sha256": "1" * 64, "uncompressed-sha256": "2" * 64}}}}


def aws_regions(arch: str) -> dict:
    return document(METADATA_KEY)["architectures"][arch]["images"]["aws"]["regions"]


def latest(region: str, arch: str) -> str | None:
    found = parameter(region, ssm_name(arch, "latest"))
    return found["Value"] if found else None


def received(queue_url: str) -> list[dict]:
    return client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])


@pytest.fixture
def runtime(runtime, redeploy):
    """The local runtime with its functions publishing under an https base URL, as deployed."""
    redeploy("PUBLIC_BASE_URL", BASE_URL)
    return runtime


@pytest.fixture
def event_queue(runtime) -> str:
    """An SQS queue that a rule on the default event bus sends atomic-release's events to."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="release-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client("events").put_rule(Name="releases", EventPattern=json.dumps({"source": ["atomic-release"]}))
    client("events").put_targets(Rule="releases", Targets=[{"Id": "queue", "Arn": arn}])
    return url


# announce: the stream metadata


def test_announce_writes_stream_metadata_in_coreos_format(runtime):
    announcement = invoke(announce, announce_task())

    assert announcement["metadata_url"] == BASE_URL + METADATA_KEY
    assert announcement["latest_moved"] is True
    assert announcement["message_id"] and announcement["event_id"]
    metadata = document(METADATA_KEY)
    assert metadata["stream"] == STREAM
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", metadata["metadata"]["last-modified"])
    assert set(metadata["architectures"]) == {"x86_64", "aarch64"}
    for coreos_arch, arch in (("x86_64", "x86_64"), ("aarch64", "arm64")):
        assert aws_regions(coreos_arch) == {
            region: {"release": VERSION, "image": image_id} for region, image_id in IMAGES[arch].items()}


def test_only_validated_regions_enter_the_stream_metadata(runtime):
    failed = outcome(COPY, "failed", "validate", region_images(IMAGES, COPY), reason=NOT_PUBLIC)

    invoke(announce, announce_task([validated(BASE), failed], skipped=[outcome(FAR, "skipped", "preflight",
                                                                               reason=BLOCKED)]))

    assert aws_regions("x86_64") == {BASE: {"release": VERSION, "image": IMAGES["x86_64"][BASE]}}
    assert aws_regions("aarch64") == {BASE: {"release": VERSION, "image": IMAGES["arm64"][BASE]}}


def test_stream_metadata_is_served_as_json_with_a_short_cache(runtime):
    invoke(announce, announce_task())

    for key in (METADATA_KEY, INDEX_KEY, RELEASE_KEY):
        stored = s3_object(key)
        assert (stored["ContentType"], stored["CacheControl"]) == ("application/json", "public, max-age=60"), key


def test_announce_keeps_the_architectures_this_release_did_not_build(runtime):
    earlier = {"stream": STREAM, "metadata": {"last-modified": "2026-01-01T00:00:00Z"}, "architectures": {
        "aarch64": {"artifacts": {"metal": platform_artifacts("42.1", "aarch64", "raw.xz")}, "images": {
            "aws": {"regions": {BASE: {"release": "42.1", "image": "ami-00000000000042a6"}}}}},
        "ppc64le": {"artifacts": {"metal": platform_artifacts("42.1", "ppc64le", "raw.xz")}}}}
    put_document(METADATA_KEY, earlier)
    x86_64_only = [outcome(region, "validated", "validate", {"x86_64": IMAGES["x86_64"][region]})
                   for region in (BASE, COPY)]

    invoke(announce, announce_task(x86_64_only))

    metadata = document(METADATA_KEY)
    assert metadata["architectures"]["aarch64"] == earlier["architectures"]["aarch64"]
    assert metadata["architectures"]["ppc64le"] == earlier["architectures"]["ppc64le"]
    assert aws_regions("x86_64")[BASE] == {"release": VERSION, "image": IMAGES["x86_64"][BASE]}
    assert metadata["metadata"]["last-modified"] != "2026-01-01T00:00:00Z"


def test_announce_keeps_other_artifacts_of_a_built_architecture(runtime):
    gcp = {"project": "fedora-coreos-cloud", "name": "fedora-coreos-42-1"}
    qemu = platform_artifacts("42.1", "x86_64", "qcow2.xz")
    put_document(METADATA_KEY, {"stream": STREAM, "metadata": LAST_MODIFIED, "architectures": {"x86_64": {
        "artifacts": {"qemu": qemu}, "images": {"gcp": gcp}}}})

    invoke(announce, announce_task())

    x86_64 = document(METADATA_KEY)["architectures"]["x86_64"]
    assert x86_64["artifacts"] == {"qemu": qemu}
    assert x86_64["images"]["gcp"] == gcp
    assert x86_64["images"]["aws"]["regions"][COPY] == {"release": VERSION, "image": IMAGES["x86_64"][COPY]}


def test_a_release_over_fewer_regions_keeps_the_other_regions_images(runtime):
    put_document(METADATA_KEY, {"stream": STREAM, "metadata": LAST_MODIFIED, "architectures": {"x86_64": {
        "artifacts": {}, "images": {"aws": {"regions": {
            BASE: {"release": "42.1", "image": "ami-000000000042e1a8"},
            FAR: {"release": "42.1", "image": "ami-000000000042f1a8"}}}}}}})

    invoke(announce, announce_task([validated(BASE)]))

    assert aws_regions("x86_64") == {BASE: {"release": VERSION, "image": IMAGES["x86_64"][BASE]},
                                     FAR: {"release": "42.1", "image": "ami-000000000042f1a8"}}


# announce: latest


def test_latest_moves_to_the_images_of_validated_regions_only(runtime):
    failed = outcome(COPY, "failed", "validate", region_images(IMAGES, COPY), reason=NOT_PUBLIC)

    invoke(announce, announce_task([validated(BASE), failed]))

    for arch in ARCHES:
        named = parameter(BASE, ssm_name(arch, "latest"))
        assert (named["Value"], named["DataType"]) == (IMAGES[arch][BASE], "aws:ec2:image")
        assert latest(COPY, arch) is None


def test_latest_moves_from_the_previous_release(runtime):
    invoke(announce, announce_task())

    invoke(announce, other_release())

    assert {(arch, region): latest(region, arch) for arch in ARCHES for region in (BASE, COPY)} == {
        (arch, region): OTHER_IMAGES[arch][region] for arch in ARCHES for region in (BASE, COPY)}


# announce: deregistration protection


def registered_images(label: str) -> dict[str, dict[str, str]]:
    """arch -> region -> a real image id, registered in each region as a release leaves it."""
    return {arch: {region: client("ec2", region).register_image(Name=f"atomic-{label}-{arch}")["ImageId"]
                   for region in (BASE, COPY)} for arch in ARCHES}


def protection(region: str, image_id: str) -> str:
    return client("ec2", region).describe_images(ImageIds=[image_id])["Images"][0].get("DeregistrationProtection",
                                                                                      "disabled")


def test_announce_protects_every_image_it_names_from_deregistration(runtime):
    images = registered_images("first")
    failed = outcome(COPY, "failed", "validate", region_images(images, COPY), reason=NOT_PUBLIC)

    invoke(announce, announce_task([validated(BASE, images), failed]))

    for arch in ARCHES:
        assert (protection(BASE, images[arch][BASE]), protection(COPY, images[arch][COPY])) == ("enabled", "disabled")
        with pytest.raises(ClientError, match="OperationNotPermitted"):
            client("ec2", BASE).deregister_image(ImageId=images[arch][BASE])


def test_images_the_metadata_named_before_are_protected_and_stay_so_once_replaced(runtime):
    earlier, newer = registered_images("earlier"), registered_images("newer")
    put_document(METADATA_KEY, {"stream": STREAM, "metadata": LAST_MODIFIED, "architectures": {
        ostree_arch(arch): {"images": {"aws": {"regions": {
            region: {"release": "42.0", "image": image_id} for region, image_id in by_region.items()}}}}
        for arch, by_region in earlier.items()}})

    invoke(announce, announce_task([validated(BASE, newer), validated(COPY, newer)]))

    for arch in ARCHES:
        for region in (BASE, COPY):
            assert latest(region, arch) == newer[arch][region]
            assert (protection(region, earlier[arch][region]), protection(region, newer[arch][region])) == (
                "enabled", "enabled")


def test_an_image_that_cannot_be_protected_is_named_nowhere(runtime, monkeypatch):
    images = registered_images("unprotectable")

    def refuse(**_):
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "refused here"}},
                          "EnableImageDeregistrationProtection")

    monkeypatch.setattr(client("ec2", COPY), "enable_image_deregistration_protection", refuse)

    with pytest.raises(AnnounceFailed, match="refused here"):
        invoke(announce, announce_task([validated(BASE, images), validated(COPY, images)]))
    for key in (METADATA_KEY, INDEX_KEY, RELEASE_KEY):
        with pytest.raises(ClientError, match="NoSuchKey"):
            s3_object(key)
    assert all(latest(region, arch) is None for region in (BASE, COPY) for arch in ARCHES)


# announce: the release index and the release's document


def index_entry(version: str, timestamp: str) -> dict:
    return {"version": version, "commit-time": timestamp,
            "commits": [{"architecture": "aarch64", "checksum": CHECKSUMS["arm64"]},
                        {"architecture": "x86_64", "checksum": CHECKSUMS["x86_64"]}],
            "metadata": f"{BASE_URL}streams/{STREAM}/releases/{version}.json"}


def test_the_release_index_lists_releases_by_commit_time(runtime):
    invoke(announce, announce_task())
    invoke(announce, other_release())

    index = document(INDEX_KEY)

    assert index["stream"] == STREAM
    assert index["releases"] == [index_entry(VERSION, TIMESTAMP), index_entry(OTHER_VERSION, OTHER_TIMESTAMP)]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", index["metadata"]["last-modified"])


def test_announcing_a_release_again_keeps_one_index_entry(runtime):
    invoke(announce, announce_task())
    invoke(announce, announce_task())

    assert document(INDEX_KEY)["releases"] == [index_entry(VERSION, TIMESTAMP)]


def test_the_release_document_names_its_commits_images_and_missing_regions(runtime):
    skipped = outcome(FAR, "skipped", "preflight", reason=BLOCKED)

    invoke(announce, announce_task(skipped=[skipped]))

    assert document(RELEASE_KEY) == {
        "release": VERSION, "stream": STREAM,
        "architectures": {
            "x86_64": {"commit": CHECKSUMS["x86_64"], "media": {"aws": {"artifacts": {}, "images": {
                BASE: {"image": IMAGES["x86_64"][BASE]}, COPY: {"image": IMAGES["x86_64"][COPY]}}}}},
            "aarch64": {"commit": CHECKSUMS["arm64"], "media": {"aws": {"artifacts": {}, "images": {
                BASE: {"image": IMAGES["arm64"][BASE]}, COPY: {"image": IMAGES["arm64"][COPY]}}}}}},
        "missing-regions": {FAR: f"preflight: {BLOCKED}"},
    }


FINGERPRINT = "0123456789ABCDEF0123456789ABCDEF01234567"
SIGNED = {"verified": True, "signers": [FINGERPRINT, "89ABCDEF0123456789ABCDEF0123456789ABCDEF"],
          "signed_by": FINGERPRINT, "reason": f"signed by {FINGERPRINT}"}
UNSIGNED = {"verified": False, "signers": [], "signed_by": None,
            "reason": "the commit has no detached metadata: it is not signed"}


def test_the_release_document_says_who_signed_each_commit(runtime):
    task = announce_task()
    task["arches"][0]["commit"]["signature"] = UNSIGNED   # arm64, of a stream that does not require signatures
    task["arches"][1]["commit"]["signature"] = SIGNED     # x86_64

    invoke(announce, task)

    architectures = document(RELEASE_KEY)["architectures"]
    assert architectures["x86_64"]["commit-signature"] == {
        "verified": True, "signed-by": FINGERPRINT, "signers": SIGNED["signers"], "reason": SIGNED["reason"]}
    assert architectures["aarch64"]["commit-signature"] == {
        "verified": False, "signed-by": None, "signers": [], "reason": UNSIGNED["reason"]}
    # Fedora CoreOS's stream metadata has no field for it: the stream document is unchanged in shape
    assert "commit-signature" not in json.dumps(document(METADATA_KEY))


def test_an_older_release_announced_later_is_indexed_but_moves_nothing(runtime):
    invoke(announce, other_release())
    metadata = document(METADATA_KEY)

    announcement = invoke(announce, announce_task())

    assert announcement["latest_moved"] is False
    assert document(METADATA_KEY) == metadata
    assert all(latest(region, arch) == OTHER_IMAGES[arch][region] for arch in ARCHES for region in (BASE, COPY))
    assert document(INDEX_KEY)["releases"] == [index_entry(VERSION, TIMESTAMP),
                                               index_entry(OTHER_VERSION, OTHER_TIMESTAMP)]
    assert document(RELEASE_KEY)["release"] == VERSION


def test_an_older_release_the_metadata_does_not_name_fails_its_announcement_as_announce_failed(runtime):
    """Nothing points at it: a refused message after its metadata write fails it as before Announce."""
    invoke(announce, other_release())
    client("sns").delete_topic(TopicArn=os.environ["RELEASE_TOPIC_ARN"])

    with pytest.raises(AnnounceFailed, match=f"^{STREAM} {VERSION}: "):
        invoke(announce, announce_task())


def test_the_commit_time_in_the_index_is_utc_whatever_offset_the_commit_was_given_in(runtime):
    invoke(announce, announce_task(timestamp="2026-11-25T10:00:00+02:00"))

    assert document(INDEX_KEY)["releases"][0]["commit-time"] == "2026-11-25T08:00:00Z"


def test_a_fill_in_runs_announcement_keeps_the_releases_earlier_regions(runtime):
    failed = caught(COPY, "copy", "CopyFailed", "x86_64 to us-east-2: InvalidRequest")
    invoke(announce, announce_task([validated(BASE)], copy_failed=[failed]))

    invoke(announce, announce_task([validated(COPY)]))

    images = document(RELEASE_KEY)["architectures"]["x86_64"]["media"]["aws"]["images"]
    assert images == {BASE: {"image": IMAGES["x86_64"][BASE]}, COPY: {"image": IMAGES["x86_64"][COPY]}}
    assert document(RELEASE_KEY)["missing-regions"] == {}


# announce: the downloads

BODIES = {"raw.xz": b"the raw disk, compressed", "qcow2.xz": b"the qcow2 disk, compressed"}
SUMS = {fmt: (hashlib.sha256(body).hexdigest(), hashlib.sha256(body + b" uncompressed").hexdigest())
        for fmt, body in BODIES.items()}
PLATFORMS = {"raw.xz": "metal", "qcow2.xz": "qemu"}


def with_downloads(task: dict) -> dict:
    """Announce's task with the images the release built and the downloads staged for each."""
    images = []
    for n, arch in enumerate(ARCHES):
        staged = []
        for fmt, (sha256, uncompressed) in SUMS.items():
            key = f"{staging_prefix(task['release_id'], arch)}disk.{fmt}"
            client("s3").put_object(Bucket=os.environ["METADATA_BUCKET"], Key=key, Body=BODIES[fmt])
            staged.append({"format": fmt, "key": key, "size": len(BODIES[fmt]), "sha256": sha256,
                           "uncompressed_sha256": uncompressed})
        images.append({"arch": arch, "image_id": IMAGES[arch][BASE], "snapshot_id": f"snap-00000000000e1{n}",
                       "name": f"atomic-{STREAM}-{task['version']}-{arch}", "artifacts": staged})
    return {**task, "images": images}


def disk(version: str, coreos_arch: str, artifact_format: str, signed: bool = False) -> dict:
    osname = load_streams().stream(STREAM).osname
    location = (f"{BASE_URL}streams/{STREAM}/builds/{version}/{coreos_arch}/"
                f"{osname}-{version}-{PLATFORMS[artifact_format]}.{coreos_arch}.{artifact_format}")
    sha256, uncompressed = SUMS[artifact_format]
    return {"disk": {"location": location, **({"signature": location + ".sig"} if signed else {}),
                     "sha256": sha256, "uncompressed-sha256": uncompressed}}


def stream_downloads(version: str, coreos_arch: str, signed: bool = False) -> dict:
    return {platform: {"release": version, "formats": {fmt: disk(version, coreos_arch, fmt, signed)}}
            for fmt, platform in PLATFORMS.items()}


def without_extensions(raw: dict) -> dict:
    """A document of ours as stream-metadata-go reads it: the keys its types lack are ignored."""
    extensions = ("commit-signature", "artifacts-signature", "missing-regions", "commit-time")
    if isinstance(raw, dict):
        return {key: without_extensions(value) for key, value in raw.items() if key not in extensions}
    return [without_extensions(item) for item in raw] if isinstance(raw, list) else raw


def test_each_architecture_s_downloads_are_listed_under_the_public_base_url_unsigned(runtime):
    invoke(announce, with_downloads(announce_task()))

    stream = document(METADATA_KEY)
    release = document(RELEASE_KEY)
    for coreos_arch in ("x86_64", "aarch64"):
        assert stream["architectures"][coreos_arch]["artifacts"] == stream_downloads(VERSION, coreos_arch)
        media = release["architectures"][coreos_arch]["media"]
        assert media["metal"] == {"artifacts": {"raw.xz": disk(VERSION, coreos_arch, "raw.xz")}}
        assert media["qemu"] == {"artifacts": {"qcow2.xz": disk(VERSION, coreos_arch, "qcow2.xz")}}
        for entry in (stream["architectures"][coreos_arch], release["architectures"][coreos_arch]):
            assert entry["artifacts-signature"] == "none: the stream has no artifact signing key"


def test_a_stream_that_signs_its_downloads_lists_each_signature_beside_it(signing, signs_with_the_secret):
    invoke(announce, with_downloads(announce_task()))

    x86_64 = document(METADATA_KEY)["architectures"]["x86_64"]
    assert x86_64["artifacts"] == stream_downloads(VERSION, "x86_64", signed=True)
    assert "artifacts-signature" not in x86_64
    assert document(RELEASE_KEY)["architectures"]["x86_64"]["media"]["metal"]["artifacts"]["raw.xz"] == disk(
        VERSION, "x86_64", "raw.xz", signed=True)


@pytest.mark.parametrize(("key", "models"), [
    (METADATA_KEY, (AtomicStream, Stream)), (INDEX_KEY, (AtomicReleaseIndex, ReleaseIndex)),
    (RELEASE_KEY, (AtomicRelease, Release))])
def test_the_documents_are_ours_strictly_and_fedora_coreos_s_without_our_extensions(runtime, key, models):
    task = with_downloads(announce_task(skipped=[outcome(FAR, "skipped", "preflight", reason=BLOCKED)]))
    task["arches"][0]["commit"]["signature"] = UNSIGNED

    invoke(announce, task)

    ours, fedora_coreos = models
    written = document(key)
    assert published(ours.model_validate(written)) == written
    assert published(fedora_coreos.model_validate(without_extensions(written))) == without_extensions(written)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):  # our extensions are there
        fedora_coreos.model_validate(written)


def test_a_run_without_downloads_keeps_those_the_documents_list(runtime):
    invoke(announce, with_downloads(announce_task([validated(BASE)])))

    invoke(announce, announce_task([validated(COPY)]) | {"attempt": 1})

    assert document(METADATA_KEY)["architectures"]["x86_64"]["artifacts"] == stream_downloads(VERSION, "x86_64")
    assert aws_regions("x86_64")[COPY] == {"release": VERSION, "image": IMAGES["x86_64"][COPY]}
    release = document(RELEASE_KEY)["architectures"]["x86_64"]
    assert release["media"]["metal"]["artifacts"] == {"raw.xz": disk(VERSION, "x86_64", "raw.xz")}
    assert set(release["media"]["aws"]["images"]) == {BASE, COPY}


def test_an_older_release_announced_later_does_not_take_the_downloads_of_a_newer_one(runtime):
    invoke(announce, with_downloads(other_release() | {"regions": [validated(BASE, OTHER_IMAGES)]}))

    invoke(announce, with_downloads(announce_task()))

    x86_64 = document(METADATA_KEY)["architectures"]["x86_64"]
    assert x86_64["artifacts"] == stream_downloads(OTHER_VERSION, "x86_64")
    assert x86_64["images"]["aws"]["regions"][COPY]["release"] == VERSION
    assert document(RELEASE_KEY)["architectures"]["x86_64"]["media"]["metal"]["artifacts"]["raw.xz"] == disk(
        VERSION, "x86_64", "raw.xz")


def test_a_published_document_not_in_its_model_s_shape_is_replaced_with_a_warning(runtime, monkeypatch):
    warnings = []
    monkeypatch.setattr(chalicelib.stages.announce.logger, "warning",
                        lambda message, extra: warnings.append((message, extra["key"])))
    put_document(METADATA_KEY, {"stream": STREAM, "architectures": {"ppc64le": {"artifacts": {"metal": {}}}}})

    invoke(announce, announce_task())

    assert set(document(METADATA_KEY)["architectures"]) == {"x86_64", "aarch64"}
    AtomicStream.model_validate(document(METADATA_KEY))
    assert warnings == [("a published document is not in its model's shape: it is replaced", METADATA_KEY)]


def test_the_site_is_written_last_and_a_failure_to_write_it_is_a_warning(runtime, monkeypatch):
    stage = chalicelib.stages.announce
    calls, warnings = [], []
    notify_once = stage.notify_once

    def notify_and_say_so(task, body):
        calls.append("notified")
        return notify_once(task, body)

    def refuse_the_pages(stream):
        calls.append("site")
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")

    monkeypatch.setattr(stage, "notify_once", notify_and_say_so)
    monkeypatch.setattr(stage, "publish_site", refuse_the_pages)
    monkeypatch.setattr(stage.logger, "warning", lambda message, extra: warnings.append((message, extra)))

    announcement = invoke(announce, announce_task())

    assert calls == ["notified", "site"]
    assert announcement["message_id"] and announcement["latest_moved"]
    assert warnings == [("the site's pages were not written: the next Announce writes them",
                         {"stream": STREAM, "error": "no"})]
    assert document(METADATA_KEY)["architectures"]


def test_an_index_linking_its_releases_elsewhere_is_linked_anew(runtime):
    invoke(announce, other_release())
    index = document(INDEX_KEY)
    index["releases"][0]["metadata"] = f"s3://{os.environ['METADATA_BUCKET']}/streams/{STREAM}/releases/1.json"
    put_document(INDEX_KEY, index)

    invoke(announce, announce_task())

    assert [r["metadata"] for r in document(INDEX_KEY)["releases"]] == [
        f"{BASE_URL}streams/{STREAM}/releases/{version}.json" for version in (VERSION, OTHER_VERSION)]


# announce: SNS and EventBridge


def message_of(envelope: dict) -> dict:
    return json.loads(envelope["Message"])


def test_announce_notifies_topic_subscribers_of_a_complete_release(release_queue):
    announcement = invoke(announce, announce_task())

    [delivered] = received(release_queue)
    envelope = json.loads(delivered["Body"])
    assert envelope["MessageId"] == announcement["message_id"]
    assert envelope["Subject"] == f"atomic-release: {STREAM} {VERSION} released"
    assert envelope["MessageAttributes"]["status"]["Value"] == "complete"
    assert envelope["MessageAttributes"]["stream"]["Value"] == STREAM
    assert message_of(envelope) == {
        "release_id": RELEASE_ID, "stream": STREAM, "version": VERSION, "status": "complete", "images": IMAGES,
        "missing_regions": {}, "stream_metadata": BASE_URL + METADATA_KEY, "release_metadata": BASE_URL + RELEASE_KEY}


def test_a_release_missing_regions_is_announced_partial_with_why(release_queue):
    failed = outcome(COPY, "failed", "validate", region_images(IMAGES, COPY), reason=NOT_PUBLIC)
    copy_failed = caught("ca-central-1", "copy", "CopyFailed", "x86_64 to ca-central-1: InvalidRequest: no")

    invoke(announce, announce_task([validated(BASE), failed], skipped=[outcome(FAR, "skipped", "preflight",
                                                                               reason=BLOCKED)],
                                   copy_failed=[copy_failed]))

    envelope = json.loads(received(release_queue)[0]["Body"])
    message = message_of(envelope)
    assert envelope["MessageAttributes"]["status"]["Value"] == "partial"
    assert message["status"] == "partial"
    assert message["images"] == {arch: {BASE: IMAGES[arch][BASE]} for arch in ARCHES}
    assert message["missing_regions"] == {
        FAR: f"preflight: {BLOCKED}",
        "ca-central-1": "copy: CopyFailed: x86_64 to ca-central-1: InvalidRequest: no",
        COPY: f"validate: {NOT_PUBLIC}"}


def test_announce_puts_a_release_published_event_on_the_default_bus(event_queue):
    announcement = invoke(announce, announce_task())

    [delivered] = received(event_queue)
    event = json.loads(delivered["Body"])
    assert (event["source"], event["detail-type"]) == ("atomic-release", "Release Published")
    assert event["id"] == announcement["event_id"]
    assert event["detail"]["release_id"] == RELEASE_ID
    assert (event["detail"]["status"], event["detail"]["images"]) == ("complete", IMAGES)


def test_a_deleted_release_topic_fails_the_announcement_after_the_metadata_names_the_release(event_queue):
    """The message goes out after the stream metadata and `latest` name the images: its failure is
    AnnouncedThenFailed, which the state machine records as published with errors."""
    client("sns").delete_topic(TopicArn=os.environ["RELEASE_TOPIC_ARN"])

    with pytest.raises(AnnouncedThenFailed, match=f"^{STREAM} {VERSION}: "):
        invoke(announce, announce_task())
    assert received(event_queue) == []
    regions = document(METADATA_KEY)["architectures"]
    assert {arch: {r: e["image"] for r, e in regions[ostree_arch(arch)]["images"]["aws"]["regions"].items()}
            for arch in ARCHES} == IMAGES
    assert all(latest(region, arch) == IMAGES[arch][region] for arch in ARCHES for region in (BASE, COPY))


def test_a_missing_metadata_bucket_fails_the_announcement_before_anything_moves(release_queue, redeploy):
    redeploy("METADATA_BUCKET", "atomic-release-no-such-bucket")

    with pytest.raises(AnnounceFailed, match=f"^{STREAM} {VERSION}: "):
        invoke(announce, announce_task())
    assert received(release_queue) == []
    assert all(latest(region, arch) is None for arch in ARCHES for region in (BASE, COPY))


# finalize

METADATA_URL = f"s3://atomic-release-metadata/{METADATA_KEY}"
BUILT = [{"arch": arch, "image_id": IMAGES[arch][BASE], "snapshot_id": f"snap-00000000000e1{n}",
          "name": IMAGE_NAMES[arch]} for n, arch in enumerate(ARCHES)]


NO_MARKETPLACE = {"arches": [], "pending": False}


def finalize_task(regions: list[dict] | None = None, attempt: int = 0, latest_moved: bool = True,
                  marketplace: dict = NO_MARKETPLACE, **changes) -> dict:
    announcement = {"metadata_url": METADATA_URL, "message_id": "m-1", "event_id": "e-1",
                    "latest_moved": latest_moved}
    return {**announce_task(regions, **changes), "attempt": attempt, "images": BUILT, "announcement": announcement,
            "marketplace": marketplace}


def product_change(arch: str, status: str, attempt: int = 0, reason: str = "") -> dict:
    return {"arch": arch, "product_id": f"prod-{arch.replace('_', '')}", "image_id": IMAGES[arch][BASE],
            "intent": "APPLY", "attempt": attempt, "change_set_name": f"{RELEASE_ID}.{arch}.{attempt}",
            "change_set_id": f"cs{attempt}{arch[0]}", "status": status, "reason": reason}


def marketplace_progress(*changes: dict, caught: dict | None = None) -> dict:
    return {"arches": list(ARCHES), "pending": False, "products": list(changes),
            **({"caught": caught} if caught else {})}


def state(region_outcome: dict) -> RegionOutcome:
    """A region outcome as the record keeps it."""
    return RegionOutcome.model_validate(region_outcome)


@pytest.fixture
def partial(prepared) -> dict:
    """The release finalized partial: COPY's copy failed."""
    failed = caught(COPY, "copy", "CopyFailed", "x86_64 to us-east-2: InvalidRequest: no")
    return invoke(finalize, finalize_task([validated(BASE)], copy_failed=[failed]))


def test_finalize_marks_the_release_succeeded_with_its_images(prepared):
    result = invoke(finalize, finalize_task())

    assert result == {"release_id": RELEASE_ID, "status": "SUCCEEDED", "images": IMAGES, "missing": {},
                      "marketplace": {}, "marketplace_failed": [], "metadata_url": METADATA_URL,
                      "latest_moved": True}
    record = records.get(RELEASE_ID)
    assert record.status == "SUCCEEDED"
    assert record.images == IMAGES
    assert record.metadata_url == METADATA_URL
    assert record.built_images == [BuiltImage.model_validate(image) for image in BUILT]
    assert record.region_states == {BASE: state(validated(BASE)), COPY: state(validated(COPY))}
    assert record.missing_regions == {}


def test_finalize_says_whether_latest_moved(prepared):
    assert invoke(finalize, finalize_task(latest_moved=False))["latest_moved"] is False


def test_finalize_marks_a_release_missing_regions_partial_with_why(partial):
    assert partial == {"release_id": RELEASE_ID, "status": "PARTIAL",
                       "images": {arch: {BASE: IMAGES[arch][BASE]} for arch in ARCHES},
                       "missing": {COPY: "copy: CopyFailed: x86_64 to us-east-2: InvalidRequest: no"},
                       "marketplace": {}, "marketplace_failed": [], "metadata_url": METADATA_URL,
                       "latest_moved": True}
    record = records.get(RELEASE_ID)
    assert record.status == "PARTIAL"
    assert record.missing_regions == partial["missing"]
    assert record.region_states[COPY] == state({"region": COPY, "status": "failed", "stage": "copy", "images": [],
                                                "reason": "CopyFailed: x86_64 to us-east-2: InvalidRequest: no"})
    assert record.region_states[BASE] == state(validated(BASE))
    assert record.built_images == [BuiltImage.model_validate(image) for image in BUILT]


def test_a_release_settled_without_a_region_counts_it_for_its_stream(prepared, monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the local runtime turns them off
    failed = caught(COPY, "copy", "CopyFailed", "x86_64 to us-east-2: InvalidRequest: no")

    invoke(finalize, finalize_task([validated(BASE)], copy_failed=[failed]))

    assert counts(capsys.readouterr().out, MISSING_REGIONS) == [({"service": "atomic-release", "stream": STREAM},
                                                                 1.0)]


def test_a_fill_in_run_merges_its_regions_into_the_release(partial):
    fill_in = EXECUTION_ARN.replace(":first", ":first-fill1")
    invoke(prepare, {"release": release_input(attempt=1), "execution_arn": fill_in})

    result = invoke(finalize, finalize_task([validated(COPY)], attempt=1))

    assert result["status"] == "SUCCEEDED"
    assert result["images"] == IMAGES
    assert result["missing"] == {}
    record = records.get(RELEASE_ID)
    assert (record.status, record.attempt, record.execution_arn) == ("SUCCEEDED", 1, fill_in)
    assert record.images == IMAGES
    assert record.region_states == {BASE: state(validated(BASE)), COPY: state(validated(COPY))}


def test_a_fill_in_run_missing_the_region_again_leaves_the_release_partial(partial):
    invoke(prepare, {"release": release_input(attempt=1), "execution_arn": EXECUTION_ARN + "-fill1"})
    failed = outcome(COPY, "failed", "validate", region_images(IMAGES, COPY), reason=NOT_PUBLIC)

    result = invoke(finalize, finalize_task([failed], attempt=1))

    assert result["status"] == "PARTIAL"
    assert result["missing"] == {COPY: f"validate: {NOT_PUBLIC}"}
    assert result["images"] == {arch: {BASE: IMAGES[arch][BASE]} for arch in ARCHES}
    record = records.get(RELEASE_ID)
    assert record.region_states[BASE] == state(validated(BASE))
    assert record.region_states[COPY].stage == "validate"


def test_a_first_run_finalized_again_does_not_keep_earlier_region_states(partial):
    result = invoke(finalize, finalize_task([validated(BASE), validated(COPY)]))

    assert result["status"] == "SUCCEEDED"
    assert records.get(RELEASE_ID).region_states[COPY].status == "validated"


def test_a_failed_marketplace_version_marks_the_release_published_marketplace_failed(prepared):
    rejected = product_change("x86_64", "FAILED", reason="CLIENT_ERROR; AMI_SCAN_FAILED: a vulnerability")
    progress = marketplace_progress(rejected, product_change("arm64", "SUCCEEDED"))

    result = invoke(finalize, finalize_task(marketplace=progress))

    assert result["status"] == "MARKETPLACE_FAILED"
    assert result["marketplace"] == {"x86_64": "FAILED", "arm64": "SUCCEEDED"}
    assert result["marketplace_failed"] == ["x86_64 prod-x8664: FAILED (change set cs0x): CLIENT_ERROR; "
                                            "AMI_SCAN_FAILED: a vulnerability"]
    record = records.get(RELEASE_ID)
    assert (record.status, record.images, record.missing_regions) == ("MARKETPLACE_FAILED", IMAGES, {})
    assert record.marketplace["x86_64"].reason == rejected["reason"]


def test_a_marketplace_task_that_failed_is_recorded_against_the_products_it_left_unsettled(prepared):
    caught = {"Error": "AccessDeniedException", "Cause": "not authorized to perform StartChangeSet"}
    progress = marketplace_progress(product_change("arm64", "SUCCEEDED"), caught=caught)

    result = invoke(finalize, finalize_task(marketplace=progress))

    assert result["status"] == "PUBLISHED_WITH_ERRORS"
    assert result["marketplace_failed"] == ["x86_64: not sent (the Marketplace task failed: not authorized to "
                                            "perform StartChangeSet)"]
    record = records.get(RELEASE_ID)
    assert (record.status, record.failed_stage, record.images) == ("PUBLISHED_WITH_ERRORS", "marketplace", IMAGES)
    assert record.failure == ("marketplace failed: AccessDeniedException: not authorized to perform StartChangeSet; "
                              "the release is out: its images stay public and announced")


def test_a_fill_in_run_failing_after_announce_records_what_it_published_with_the_failure(partial):
    """The fill-in run announced COPY, then failing to record it must neither put the release
    back to PARTIAL (the documents name COPY's images now) nor remove anything."""
    invoke(prepare, {"release": release_input(attempt=1), "execution_arn": EXECUTION_ARN + "-fill1"})
    failed = {"release_id": RELEASE_ID, "stream": STREAM, "regions": [COPY], "attempt": 1, "stage": "finalize",
              "caught": {"Error": "ClientError", "Cause": "ProvisionedThroughputExceededException"},
              "execution_arn": EXECUTION_ARN + "-fill1", "published": finalize_task([validated(COPY)], attempt=1)}

    result = invoke(fail_release, failed)

    assert result["error"] == "ClientError"
    record = records.get(RELEASE_ID)
    assert (record.status, record.failed_stage) == ("PUBLISHED_WITH_ERRORS", "finalize")
    assert record.failure == ("finalize failed: ClientError: ProvisionedThroughputExceededException; the release is "
                              "out: its images stay public and announced")
    assert (record.images, record.missing_regions, record.status_before_fill_in) == (IMAGES, {}, None)


def test_a_fill_in_run_that_only_retried_marketplace_failing_after_announce_is_published_with_errors(prepared):
    """Such a run plans no region, and FailPublishedRelease still records its failure."""
    first = marketplace_progress(product_change("x86_64", "FAILED", reason="no"), product_change("arm64", "SUCCEEDED"))
    invoke(finalize, finalize_task(marketplace=first))
    fill_in = EXECUTION_ARN + "-fill1"
    invoke(prepare, {"release": release_input(attempt=1), "execution_arn": fill_in})
    resent = {**marketplace_progress(product_change("x86_64", "APPLYING", attempt=1)), "arches": ["x86_64"]}
    failed = {"release_id": RELEASE_ID, "stream": STREAM, "regions": [], "attempt": 1, "stage": "finalize",
              "caught": {"Error": "ClientError", "Cause": "ProvisionedThroughputExceededException"},
              "execution_arn": fill_in, "published": finalize_task([], attempt=1, marketplace=resent)}

    result = invoke(fail_release, failed)

    assert result["error"] == "ClientError"
    record = records.get(RELEASE_ID)
    assert (record.status, record.failed_stage, record.images) == ("PUBLISHED_WITH_ERRORS", "finalize", IMAGES)
    assert record.marketplace["x86_64"].attempt == 1 and record.marketplace["arm64"].status == "SUCCEEDED"


def test_a_retry_that_sends_the_failed_version_completes_the_release(prepared):
    first = marketplace_progress(product_change("x86_64", "FAILED", reason="no"), product_change("arm64", "SUCCEEDED"))
    invoke(finalize, finalize_task(marketplace=first))
    invoke(prepare, {"release": release_input(attempt=1), "execution_arn": EXECUTION_ARN + "-fill1"})
    resent = {**marketplace_progress(product_change("x86_64", "SUCCEEDED", attempt=1)), "arches": ["x86_64"]}

    result = invoke(finalize, finalize_task([], attempt=1, marketplace=resent))

    assert result["status"] == "SUCCEEDED" and result["missing"] == {}
    assert result["marketplace"] == {"x86_64": "SUCCEEDED", "arm64": "SUCCEEDED"}
    record = records.get(RELEASE_ID)
    assert record.marketplace["x86_64"].attempt == 1 and record.images == IMAGES


def test_finalize_without_a_release_record_creates_none(runtime):
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        invoke(finalize, finalize_task())
    assert records.get(RELEASE_ID) is None


def test_finalize_without_an_announcement_is_invalid_input(prepared):
    task = finalize_task()
    del task["announcement"]

    with pytest.raises(InvalidReleaseInput, match="announcement: Field required"):
        invoke(finalize, task)
    assert records.get(RELEASE_ID).status == "RUNNING"


def test_an_older_release_takes_the_regions_no_newer_release_reached(runtime):
    invoke(announce, other_release() | {"regions": [validated(BASE, OTHER_IMAGES)]})

    announcement = invoke(announce, announce_task())

    assert announcement["latest_moved"] is True
    for arch in ARCHES:
        assert latest(BASE, arch) == OTHER_IMAGES[arch][BASE]
        assert latest(COPY, arch) == IMAGES[arch][COPY]
    regions = document(METADATA_KEY)["architectures"]["x86_64"]["images"]["aws"]["regions"]
    assert regions == {BASE: {"release": OTHER_VERSION, "image": OTHER_IMAGES["x86_64"][BASE]},
                       COPY: {"release": VERSION, "image": IMAGES["x86_64"][COPY]}}


def test_latest_follows_a_newer_release_that_took_the_region_while_an_older_one_moved_it(runtime):
    """Two releases announcing at once: the older one wrote the metadata first and moves latest
    after the newer one has written its own; latest ends at the newer release."""
    older = AnnounceTask.model_validate(announce_task())
    stale = {"architectures": {ostree_arch(arch): {"images": {"aws": {"regions": {
        region: {"release": VERSION, "image": IMAGES[arch][region]} for region in (BASE, COPY)}}}}
        for arch in ARCHES}}
    invoke(announce, other_release())

    chalicelib.stages.announce.move_latest(older, stale)

    assert all(latest(region, arch) == OTHER_IMAGES[arch][region] for arch in ARCHES for region in (BASE, COPY))


def test_a_retried_announce_sends_its_message_and_event_once(prepared, release_queue, event_queue):
    first = invoke(announce, announce_task())

    again = invoke(announce, announce_task())

    assert (again["message_id"], again["event_id"]) == (first["message_id"], first["event_id"])
    assert len(received(release_queue)) == 1
    assert len(received(event_queue)) == 1
    assert records.get(RELEASE_ID).notified == {"0": {"message_id": first["message_id"],
                                                      "event_id": first["event_id"]}}


def test_a_fill_in_run_announces_its_own_regions_anew(prepared, release_queue):
    first = invoke(announce, announce_task([validated(BASE)]))

    fill_in = invoke(announce, announce_task([validated(COPY)]) | {"attempt": 1})

    assert fill_in["message_id"] != first["message_id"]
    assert len(received(release_queue)) == 2


def test_a_fill_in_run_that_adds_no_region_announces_nothing(prepared, release_queue):
    announcement = invoke(announce, announce_task([]) | {"attempt": 1})

    assert announcement == {"metadata_url": BASE_URL + METADATA_KEY, "message_id": "",
                            "event_id": "", "latest_moved": False}
    assert received(release_queue) == []
    assert records.get(RELEASE_ID).notified == {}


def test_the_release_is_recorded_published_before_marketplace_is_followed(prepared):
    following = {"arches": list(ARCHES), "pending": True, "products": [product_change("x86_64", "PREPARING")]}

    result = invoke(finalize, finalize_task(marketplace=following))

    assert result["status"] == "PUBLISHED" and result["marketplace_failed"] != []
    record = records.get(RELEASE_ID)
    assert (record.status, record.images, record.missing_regions) == ("PUBLISHED", IMAGES, {})
    assert record.marketplace["x86_64"].status == "PREPARING"
    settled = marketplace_progress(product_change("x86_64", "SUCCEEDED"), product_change("arm64", "SUCCEEDED"))
    assert invoke(finalize, finalize_task(marketplace=settled))["status"] == "SUCCEEDED"
