"""validate: every promise FollowCopies made when it published about a region's images is checked against what
EC2 and SSM say before anything points at them; a region that fails a check is failed with
what is wrong, and a release with no validated region fails."""

import re

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.core.errors import NothingPublished
from functions import copy_to_region, follow_copies, validate
from tests.integration.support import (
    ARCHES,
    BASE,
    COPY,
    RELEASE_ID,
    STREAM,
    VERSION,
    caught,
    copies_of,
    image,
    invoke,
    make_private,
    outcome,
    parameter,
    region_task,
    ssm_name,
)

FAR = "us-west-2"
FARTHER = "ca-central-1"
CHECKS_PER_IMAGE = 9
ALL_CORRECT = {"correct": 2 * CHECKS_PER_IMAGE, "incorrect": 0, "missing": 0}
BLOCKED_REASON = "image block public access is block-new-sharing: images cannot be made public there"
REMOVED = f"version parameters removed: {ssm_name('x86_64', VERSION)}, {ssm_name('arm64', VERSION)}"


def validate_task(published: list[dict], skipped: list[dict] = (), copy_failed: list[dict] = ()) -> dict:
    return {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION, "published": list(published),
            "skipped": list(skipped), "copy_failed": list(copy_failed)}


def validated(region: dict) -> dict:
    return {**region, "status": "validated", "stage": "validate"}


def failed(region: dict, reason: str) -> dict:
    return {**region, "status": "failed", "stage": "validate", "reason": reason}


def problem(region: str, arch: str, check: str, expected: str, actual: str, verdict: str) -> dict:
    return {"region": region, "arch": arch, "check": check, "expected": expected, "actual": actual,
            "verdict": verdict}


@pytest.fixture
def published(built, copied) -> dict[str, dict]:
    """The base region and COPY, each copied and published, as FollowCopies hands them on."""
    base = invoke(copy_to_region, region_task(BASE, list(built.values())))
    copies = invoke(follow_copies, {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION,
                                    "copies": [base, copied]})
    return {region["region"]: region for region in copies["published"]}


def test_regions_whose_promises_hold_are_validated(published):
    result = invoke(validate, validate_task([published[COPY], published[BASE]]))

    assert result == {"regions": [validated(published[BASE]), validated(published[COPY])], "problems": [],
                      "verdicts": {BASE: ALL_CORRECT, COPY: ALL_CORRECT}}


def test_an_image_made_private_fails_its_region_only(published):
    x86_64 = copies_of(published[COPY])["x86_64"]
    make_private(COPY, x86_64)

    result = invoke(validate, validate_task([published[BASE], published[COPY]]))

    as_seen = {**published[COPY], "images": [{**image, "public": image["arch"] != "x86_64", "parameters": []}
                                             for image in published[COPY]["images"]]}
    assert result["regions"] == [validated(published[BASE]),
                                 failed(as_seen, f"x86_64 public is False, expected True; {REMOVED}")]
    assert result["problems"] == [problem(COPY, "x86_64", "public", "True", "False", "incorrect")]
    assert result["verdicts"] == {BASE: ALL_CORRECT, COPY: {"correct": 17, "incorrect": 1, "missing": 0}}


def test_a_region_made_private_loses_its_version_parameters_whatever_retention_s_dry_run(published):
    make_private(COPY, copies_of(published[COPY])["x86_64"])

    invoke(validate, validate_task([published[BASE], published[COPY]]))

    assert all(parameter(COPY, ssm_name(arch, VERSION)) is None for arch in ARCHES)
    assert all(parameter(BASE, ssm_name(arch, VERSION))["Value"] == copies_of(published[BASE])[arch]
               for arch in ARCHES)


def test_a_region_failing_another_check_keeps_its_version_parameters(published):
    client("ec2", COPY).disable_image_deprecation(ImageId=copies_of(published[COPY])["arm64"])

    invoke(validate, validate_task([published[BASE], published[COPY]]))

    assert all(parameter(COPY, ssm_name(arch, VERSION))["Value"] == copies_of(published[COPY])[arch]
               for arch in ARCHES)


def test_version_parameters_that_cannot_be_removed_are_named_in_the_region_s_reason(published, monkeypatch):
    make_private(COPY, copies_of(published[COPY])["x86_64"])

    def refuse(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "DeleteParameter")

    monkeypatch.setattr(client("ssm", COPY), "delete_parameter", refuse)

    result = invoke(validate, validate_task([published[BASE], published[COPY]]))

    assert result["regions"][1]["status"] == "failed"
    assert result["regions"][1]["reason"] == ("x86_64 public is False, expected True; its version parameters could "
                                              "not be removed: AccessDeniedException: not allowed")
    assert parameter(COPY, ssm_name("x86_64", VERSION)) is not None


def test_an_ssm_parameter_naming_another_image_fails_the_region(published):
    images = copies_of(published[COPY])
    client("ssm", COPY).put_parameter(Name=ssm_name("x86_64", VERSION), Value=images["arm64"], Type="String",
                                      DataType="aws:ec2:image", Overwrite=True)

    result = invoke(validate, validate_task([published[COPY], published[BASE]]))

    assert result["regions"][1] == failed(
        published[COPY], f"x86_64 ssm parameter is {images['arm64']}, expected {images['x86_64']}")
    assert result["problems"] == [problem(COPY, "x86_64", "ssm parameter", images["x86_64"], images["arm64"],
                                          "incorrect")]


def test_a_missing_ssm_parameter_fails_the_region(published):
    images = copies_of(published[COPY])
    client("ssm", COPY).delete_parameter(Name=ssm_name("arm64", VERSION))

    result = invoke(validate, validate_task([published[COPY], published[BASE]]))

    assert result["regions"][1]["reason"] == f"arm64 ssm parameter is missing, expected {images['arm64']}"
    assert [p["verdict"] for p in result["problems"]] == ["missing"]
    assert result["verdicts"][COPY] == {"correct": 17, "incorrect": 0, "missing": 1}


def test_an_image_without_a_deprecation_time_fails_the_region(published):
    client("ec2", COPY).disable_image_deprecation(ImageId=copies_of(published[COPY])["arm64"])

    result = invoke(validate, validate_task([published[COPY], published[BASE]]))

    assert result["regions"][1] == failed(published[COPY], "arm64 deprecation is missing, expected set")
    assert result["problems"] == [problem(COPY, "arm64", "deprecation", "set", "missing", "missing")]
    assert result["verdicts"][COPY] == {"correct": 17, "incorrect": 0, "missing": 1}


def test_an_image_gone_from_the_region_fails_every_check_of_the_image(published):
    gone = copies_of(published[COPY])["x86_64"]
    client("ec2", COPY).deregister_image(ImageId=gone)

    result = invoke(validate, validate_task([published[COPY], published[BASE]]))

    assert result["regions"][0]["status"] == "validated"
    assert result["regions"][1]["status"] == "failed"
    assert result["regions"][1]["reason"].startswith(
        "x86_64 state is missing, expected available; x86_64 public is missing, expected True; "
        "x86_64 snapshots public is missing, expected True; x86_64 architecture is missing, expected x86_64; x86_64 ena is missing, expected True; "
        "x86_64 boot mode is missing, expected uefi-preferred; x86_64 imds is missing, expected v2.0; "
        "x86_64 deprecation is missing, expected set")
    assert {(p["arch"], p["verdict"]) for p in result["problems"]} == {("x86_64", "missing")}


def test_an_image_gone_from_the_region_does_not_make_its_parameter_missing(published):
    images = copies_of(published[COPY])
    client("ec2", COPY).deregister_image(ImageId=images["x86_64"])

    result = invoke(validate, validate_task([published[COPY], published[BASE]]))

    assert "ssm parameter" not in {p["check"] for p in result["problems"]}
    assert result["verdicts"][COPY] == {"correct": 10, "incorrect": 0, "missing": 8}


def test_a_region_that_failed_to_publish_passes_through(published):
    message = f"{FAR}: OperationNotPermitted: blocked"

    result = invoke(validate, validate_task([published[BASE], caught(FAR, "publish", "PublishFailed", message),
                                             published[COPY]]))

    assert result["regions"] == [
        validated(published[BASE]), validated(published[COPY]),
        {"region": FAR, "status": "failed", "stage": "publish", "images": [], "reason": f"PublishFailed: {message}",
         "requested_at": None},
    ]
    assert result["problems"] == []
    assert result["verdicts"] == {BASE: ALL_CORRECT, COPY: ALL_CORRECT}


def test_no_validated_region_fails_naming_every_regions_reason(published):
    make_private(COPY, copies_of(published[COPY])["x86_64"])
    blocked = outcome(FAR, "skipped", "preflight", reason=BLOCKED_REASON)
    copy_failed = caught(FARTHER, "copy", "CopyFailed", f"x86_64 ami-0123456789abcdef0 to {FARTHER}: InvalidRequest")
    publish_failed = caught(BASE, "publish", "PublishFailed", f"{BASE}: OperationNotPermitted: blocked")

    with pytest.raises(NothingPublished) as nothing:
        invoke(validate, validate_task([publish_failed, published[COPY]], [blocked], [copy_failed]))

    assert str(nothing.value) == (
        f"no region was published and validated: {FAR}: preflight: {BLOCKED_REASON}; "
        f"{FARTHER}: copy: CopyFailed: x86_64 ami-0123456789abcdef0 to {FARTHER}: InvalidRequest; "
        f"{BASE}: publish: PublishFailed: {BASE}: OperationNotPermitted: blocked; "
        f"{COPY}: validate: x86_64 public is False, expected True; {REMOVED}")


def test_no_region_published_at_all_fails_naming_the_skipped_ones(runtime):
    blocked = [outcome(region, "skipped", "preflight", reason=BLOCKED_REASON) for region in (BASE, COPY)]

    with pytest.raises(NothingPublished, match=re.escape(
            f"no region was published and validated: {BASE}: preflight: {BLOCKED_REASON}; "
            f"{COPY}: preflight: {BLOCKED_REASON}")):
        invoke(validate, validate_task([], blocked))


def test_validation_changes_nothing_it_checks(published):
    before = {region: client("ec2", region).describe_images(Owners=["self"])["Images"] for region in (BASE, COPY)}

    invoke(validate, validate_task(list(published.values())))

    after = {region: client("ec2", region).describe_images(Owners=["self"])["Images"] for region in (BASE, COPY)}
    assert after == before
    for region in (BASE, COPY):
        assert all(client("ssm", region).get_parameter(Name=ssm_name(arch, VERSION))["Parameter"]["Value"]
                   == copies_of(published[region])[arch] for arch in ARCHES)


def test_a_snapshot_no_longer_shared_publicly_fails_its_region(published):
    snapshot_id = image(COPY, copies_of(published[COPY])["x86_64"])["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    client("ec2", COPY).modify_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission",
                                                  OperationType="remove", GroupNames=["all"])

    result = invoke(validate, validate_task([published[COPY], published[BASE]]))

    failed = next(r for r in result["regions"] if r["region"] == COPY)
    assert (failed["status"], failed["reason"]) == ("failed", f"x86_64 snapshots public is False, expected True; {REMOVED}")
    assert all(parameter(COPY, ssm_name(arch, VERSION)) is None for arch in ARCHES)


def test_a_fill_in_run_whose_regions_fail_again_leaves_them_missing_and_goes_on(runtime):
    """Its other work (a Marketplace version to send again) must not wait for those regions."""
    blocked = [outcome(region, "skipped", "preflight", reason=BLOCKED_REASON) for region in (COPY,)]

    result = invoke(validate, {**validate_task([], blocked), "attempt": 1})

    assert result["regions"] == [] and result["problems"] == []


def test_a_stream_shared_and_not_public_is_validated_with_its_images_not_public(built, copied, streams_config):
    streams_config(lambda raw: raw["streams"][STREAM].update(sharing={"public": False, "accounts": ["210987654321"]}))
    [shared] = invoke(follow_copies, {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION,
                                      "copies": [copied]})["published"]

    result = invoke(validate, validate_task([shared]))

    assert result["regions"] == [validated(shared)] and result["problems"] == []
    assert not any(image(COPY, image_id)["Public"] for image_id in copies_of(copied).values())
