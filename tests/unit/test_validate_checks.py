"""Validate's comparisons, without AWS: what Publish promised against what AWS described."""

from chalicelib.models.regions import RegionalImage, RegionOutcome
from chalicelib.stages.validate import Seen, compare, judged

REGION = "eu-west-1"
IMAGE = RegionalImage(arch="arm64", image_id="ami-a", state="available", public=True)
AS_PROMISED = {"ImageId": "ami-a", "State": "available", "Public": True, "Architecture": "arm64",
               "EnaSupport": True, "BootMode": "uefi", "ImdsSupport": "v2.0",
               "DeprecationTime": "2028-06-15T12:00:00Z"}


def verdicts(seen: Seen) -> dict[str, tuple[str, str, str]]:
    return {c.check: (c.verdict, c.expected, c.actual) for c in compare(REGION, IMAGE, seen)}


def test_an_image_as_promised_passes_every_check():
    found = compare(REGION, IMAGE, Seen(AS_PROMISED, True, "ami-a"))
    assert [c.check for c in found] == ["state", "public", "snapshots public", "architecture", "ena", "boot mode",
                                        "imds", "deprecation", "ssm parameter"]
    assert {(c.region, c.arch, c.verdict) for c in found} == {(REGION, "arm64", "correct")}


def test_what_differs_is_incorrect_and_what_aws_lacks_is_missing():
    differing = {**AS_PROMISED, "Public": False, "BootMode": "legacy-bios"}
    del differing["DeprecationTime"]
    found = verdicts(Seen(differing, False, "ami-other"))
    assert found["public"] == ("incorrect", "True", "False")
    assert found["snapshots public"] == ("incorrect", "True", "False")
    assert found["boot mode"] == ("incorrect", "uefi", "legacy-bios")
    assert found["deprecation"] == ("missing", "set", "missing")
    assert found["ssm parameter"] == ("incorrect", "ami-a", "ami-other")
    assert found["state"][0] == "correct"


def test_an_image_aws_does_not_have_is_missing_throughout():
    found = verdicts(Seen({}, None, None))
    assert {verdict for verdict, _, _ in found.values()} == {"missing"}


def test_a_stream_shared_and_not_public_expects_image_and_snapshots_not_public():
    shared = {c.check: (c.verdict, c.expected) for c in compare(REGION, IMAGE, Seen({**AS_PROMISED, "Public": False},
                                                                                   False, "ami-a"), public=False)}
    made_public = {c.check: c.verdict for c in compare(REGION, IMAGE, Seen(AS_PROMISED, True, "ami-a"), public=False)}

    assert shared["public"] == shared["snapshots public"] == ("correct", "False")
    assert made_public["public"] == made_public["snapshots public"] == "incorrect"


def published() -> RegionOutcome:
    return RegionOutcome(region=REGION, status="published", stage="publish", images=[IMAGE])


def test_a_region_whose_checks_all_pass_is_validated():
    outcome = judged(published(), compare(REGION, IMAGE, Seen(AS_PROMISED, True, "ami-a")))
    assert (outcome.status, outcome.stage, outcome.reason) == ("validated", "validate", "")


def test_a_region_with_a_wrong_check_fails_with_what_is_wrong_and_its_images_as_seen():
    outcome = judged(published(), compare(REGION, IMAGE, Seen({**AS_PROMISED, "State": "pending", "Public": False},
                                                              True, "ami-a")))
    assert (outcome.status, outcome.stage) == ("failed", "validate")
    assert outcome.reason == "arm64 state is pending, expected available; arm64 public is False, expected True"
    assert (outcome.images[0].state, outcome.images[0].public) == ("pending", False)
