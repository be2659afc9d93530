"""prepare: check the release input against its stream, claim the release record, plan the work;
for a fill-in run of a partial release, take the release over and plan the regions it misses."""

import re

import pytest

from chalicelib.aws.clients import client
from chalicelib.core.errors import ConfigError, InvalidReleaseInput, ReleaseExists, ReleaseNotPartial
from chalicelib.core.observability import logger
from chalicelib.models.build import BuiltImage
from chalicelib.models.marketplace import ProductChange
from chalicelib.models.regions import RegionOutcome
from chalicelib.models.signature import SignatureCheck
from chalicelib.store import records
from functions import prepare
from tests.integration.support import (
    ARCHES,
    BASE,
    CHECKSUMS,
    COPY,
    EXECUTION_ARN,
    IMAGE_NAMES,
    RELEASE_ID,
    STREAM,
    VERSION,
    commit,
    invoke,
    outcome,
    record_count,
    release_input,
)

FAR = "us-west-2"
FILL_IN_ARN = f"{EXECUTION_ARN}-fill1"
BUILT = [{"arch": arch, "image_id": f"ami-00000000000b1{n}", "snapshot_id": f"snap-00000000000b1{n}",
          "name": IMAGE_NAMES[arch]} for n, arch in enumerate(("x86_64", "arm64"))]
BUILT_IMAGES = [BuiltImage.model_validate(image) for image in BUILT]
COPY_FAILED = "copy: CopyFailed: x86_64 to us-east-2: InvalidRequest: no"


def prepare_event(release: dict | None = None, execution_arn: str = EXECUTION_ARN) -> dict:
    return {"release": release or release_input(), "execution_arn": execution_arn}


def test_prepare_records_a_running_release(runtime):
    invoke(prepare, prepare_event())

    record = records.get(RELEASE_ID)
    assert record.status == "RUNNING"
    assert record.execution_arn == EXECUTION_ARN
    assert (record.stream, record.version, record.trigger) == (STREAM, VERSION, "cli")
    assert {arch: c.checksum for arch, c in record.commits.items()} == CHECKSUMS
    assert record.regions == ["us-east-1", "us-east-2", "us-west-2"]


def test_prepare_plans_the_stream_regions_and_the_arches_sorted(runtime):
    plan = invoke(prepare, prepare_event())

    assert plan == {
        "release_id": RELEASE_ID, "stream": STREAM, "version": VERSION, "attempt": 0, "base_region": BASE,
        "copy_concurrency": 10, "regions": ["us-east-1", "us-east-2", "us-west-2"],
        "arches": [{"arch": "arm64", "commit": commit("arm64")}, {"arch": "x86_64", "commit": commit("x86_64")}],
        "marketplace": {"arches": ["x86_64", "arm64"], "pending": True, "wait_seconds": 600, "products": []},
    }


def test_a_release_has_no_images_until_it_builds_them(runtime):
    assert "images" not in invoke(prepare, prepare_event())


def test_prepare_plans_the_streams_copy_concurrency(runtime, streams_config):
    streams_config(lambda raw: raw["streams"][STREAM].update(copy_concurrency=3))

    assert invoke(prepare, prepare_event())["copy_concurrency"] == 3


def test_prepare_plans_the_regions_the_release_asks_for(runtime):
    plan = invoke(prepare, prepare_event(release_input(regions=[BASE, COPY])))

    assert plan["regions"] == [BASE, COPY]
    assert records.get(RELEASE_ID).regions == [BASE, COPY]


def test_prepare_again_by_the_same_execution_returns_the_same_plan(runtime):
    first = invoke(prepare, prepare_event())
    created = records.get(RELEASE_ID).created_at

    again = invoke(prepare, prepare_event())

    assert again == first
    assert record_count() == 1
    assert records.get(RELEASE_ID).created_at == created


def test_another_execution_of_the_same_release_is_refused(runtime):
    invoke(prepare, prepare_event())

    with pytest.raises(ReleaseExists, match=f"release {RELEASE_ID} is already recorded \\(RUNNING\\)"):
        invoke(prepare, prepare_event(execution_arn=EXECUTION_ARN.replace(":first", ":second")))
    assert records.get(RELEASE_ID).execution_arn == EXECUTION_ARN


def test_a_ref_the_stream_does_not_build_is_refused_before_any_record(runtime):
    release = release_input()
    release["commits"]["x86_64"]["ref"] = "fedora/x86_64/coreos/stable"

    with pytest.raises(InvalidReleaseInput, match=r"commits\.x86_64\.ref: 'fedora/x86_64/coreos/stable'"):
        invoke(prepare, prepare_event(release))
    assert record_count() == 0


@pytest.mark.parametrize(("remove", "field"), [
    (lambda event: event["release"].pop("version"), "release.version"),
    (lambda event: event["release"]["commits"]["arm64"].pop("checksum"), "release.commits.arm64.checksum"),
    (lambda event: event.pop("execution_arn"), "execution_arn"),
])
def test_a_missing_field_is_named(runtime, remove, field):
    event = prepare_event()
    remove(event)

    with pytest.raises(InvalidReleaseInput, match=rf"{field}: Field required"):
        invoke(prepare, event)
    assert record_count() == 0


def test_an_unknown_stream_is_a_configuration_error(runtime):
    with pytest.raises(ConfigError, match="unknown stream 'nightly'"):
        invoke(prepare, prepare_event(release_input(stream="nightly")))
    assert record_count() == 0


def test_a_region_override_outside_the_commercial_regions_is_refused(runtime):
    with pytest.raises(InvalidReleaseInput, match="moon-1"):
        invoke(prepare, prepare_event(release_input(regions=[BASE, "moon-1"])))
    assert record_count() == 0


# fill-in runs


def finish_partial(regions: list[str] = (BASE, COPY, FAR)) -> None:
    """The first run of the release, over ``regions``, finalized PARTIAL: the base region validated,
    the others missing (the last one listed first in the record's region states)."""
    invoke(prepare, prepare_event(release_input(regions=list(regions))))
    missing = {region: outcome(region, "failed", "copy", reason="CopyFailed: x86_64 to us-east-2: InvalidRequest: no")
               for region in reversed(regions[1:])}
    states = {**missing, BASE: outcome(BASE, "validated", "validate", {"x86_64": "ami-00000000000b10"})}
    records.mark_finished(RELEASE_ID, "PARTIAL", {"x86_64": {BASE: "ami-00000000000b10"}}, "s3://b/k", BUILT_IMAGES,
                          recorded(states))


def recorded(outcomes: dict[str, dict]) -> dict[str, RegionOutcome]:
    """Region outcomes, as the state machine carries them, for the record."""
    return {region: RegionOutcome.model_validate(o) for region, o in outcomes.items()}


def fill_in_event(attempt: int = 1, execution_arn: str = FILL_IN_ARN) -> dict:
    return prepare_event(release_input(attempt=attempt), execution_arn)


def test_a_fill_in_run_plans_the_regions_the_release_misses_with_the_images_it_built(runtime):
    finish_partial()

    plan = invoke(prepare, fill_in_event())

    assert plan == {
        "release_id": RELEASE_ID, "stream": STREAM, "version": VERSION, "attempt": 1, "base_region": BASE,
        "copy_concurrency": 10, "regions": [COPY, FAR], "images": BUILT,
        "arches": [{"arch": "arm64", "commit": commit("arm64")}, {"arch": "x86_64", "commit": commit("x86_64")}],
        "marketplace": {"arches": ["x86_64", "arm64"], "pending": True, "wait_seconds": 600, "products": []},
    }


def test_a_fill_in_run_takes_the_release_over(runtime):
    finish_partial()
    before = records.get(RELEASE_ID)

    invoke(prepare, fill_in_event())

    record = records.get(RELEASE_ID)
    assert (record.status, record.attempt, record.execution_arn) == ("RUNNING", 1, FILL_IN_ARN)
    assert record.region_states == before.region_states
    assert (record.regions, record.created_at, record_count()) == ([BASE, COPY, FAR], before.created_at, 1)


def test_a_fill_in_run_prepared_again_by_its_own_execution_gets_the_same_plan(runtime):
    finish_partial()
    first = invoke(prepare, fill_in_event())

    assert invoke(prepare, fill_in_event()) == first
    assert records.get(RELEASE_ID).attempt == 1


def test_the_next_fill_in_run_of_a_release_partial_again_is_planned(runtime):
    finish_partial()
    invoke(prepare, fill_in_event())
    records.mark_fill_in_failed(RELEASE_ID, FILL_IN_ARN, "copy", "copy failed: CopyFailed: again")

    plan = invoke(prepare, fill_in_event(2, f"{EXECUTION_ARN}-fill2"))

    assert (plan["attempt"], plan["regions"]) == (2, [COPY, FAR])
    assert records.get(RELEASE_ID).attempt == 2


@pytest.mark.parametrize("status", ["RUNNING", "SUCCEEDED", "FAILED"])
def test_a_fill_in_run_of_a_release_that_is_not_partial_is_refused(runtime, status):
    invoke(prepare, prepare_event())
    if status != "RUNNING":
        records.mark_finished(RELEASE_ID, status, {}, "s3://b/k", BUILT_IMAGES, {})

    with pytest.raises(ReleaseNotPartial, match=re.escape(
            f"release {RELEASE_ID} cannot take fill-in attempt 1: {status}, attempt 0")):
        invoke(prepare, fill_in_event())
    record = records.get(RELEASE_ID)
    assert (record.status, record.attempt, record.execution_arn) == (status, 0, EXECUTION_ARN)


@pytest.mark.parametrize("attempt", [2, 3])
def test_a_fill_in_run_after_runs_that_never_claimed_the_release_takes_it(runtime, attempt):
    """Runs numbered before it ended before they claimed the record (their Prepare failed)."""
    finish_partial()

    invoke(prepare, fill_in_event(attempt, f"{EXECUTION_ARN}-fill{attempt}"))

    record = records.get(RELEASE_ID)
    assert (record.status, record.attempt, record.execution_arn) == ("RUNNING", attempt,
                                                                     f"{EXECUTION_ARN}-fill{attempt}")


def test_a_second_fill_in_run_with_a_stale_attempt_is_refused(runtime):
    finish_partial()
    invoke(prepare, fill_in_event())
    records.mark_fill_in_failed(RELEASE_ID, FILL_IN_ARN, "copy", "copy failed: CopyFailed: again")

    with pytest.raises(ReleaseNotPartial, match=re.escape("cannot take fill-in attempt 1: PARTIAL, attempt 1")):
        invoke(prepare, fill_in_event(1, f"{EXECUTION_ARN}-fill1-again"))
    assert records.get(RELEASE_ID).execution_arn == FILL_IN_ARN


def test_a_fill_in_run_of_a_release_never_recorded_is_refused(runtime):
    with pytest.raises(ReleaseNotPartial, match=re.escape(f"release {RELEASE_ID} cannot take fill-in attempt 1: "
                                                          "not recorded")):
        invoke(prepare, fill_in_event())
    assert record_count() == 0


def test_a_fill_in_run_of_a_partial_release_missing_nothing_is_refused_and_claims_nothing(runtime):
    invoke(prepare, prepare_event())
    records.mark_finished(RELEASE_ID, "PARTIAL", {}, "s3://b/k", BUILT_IMAGES,
                          recorded({BASE: outcome(BASE, "validated", "validate")}),
                          {arch: ProductChange.model_validate(change(arch, "SUCCEEDED")) for arch in ARCHES})

    with pytest.raises(ReleaseNotPartial, match="misses no region and no Marketplace version: nothing to fill in"):
        invoke(prepare, fill_in_event())
    assert (records.get(RELEASE_ID).status, records.get(RELEASE_ID).execution_arn) == ("PARTIAL", EXECUTION_ARN)


def change(arch: str, status: str, attempt: int = 0, change_set_id: str | None = "cs-1") -> dict:
    """A product's change set as the record keeps it."""
    return {"arch": arch, "product_id": f"prod-{arch.replace('_', '')}", "image_id": f"ami-0000000000000{arch[0]}",
            "intent": "VALIDATE", "attempt": attempt, "change_set_name": f"{RELEASE_ID}.{arch}.{attempt}.validate",
            "change_set_id": change_set_id, "status": status, "reason": ""}


def finish_marketplace_failed() -> None:
    """The release published everywhere, its x86_64 change set failed, its arm64 one succeeded."""
    invoke(prepare, prepare_event())
    states = {region: outcome(region, "validated", "validate") for region in (BASE, COPY)}
    changes = {"x86_64": change("x86_64", "FAILED"), "arm64": change("arm64", "SUCCEEDED")}
    records.mark_finished(RELEASE_ID, "MARKETPLACE_FAILED", {}, "s3://b/k", BUILT_IMAGES, recorded(states),
                          {arch: ProductChange.model_validate(c) for arch, c in changes.items()})


def test_a_fill_in_run_of_a_release_whose_marketplace_version_failed_resends_only_that(runtime):
    finish_marketplace_failed()

    plan = invoke(prepare, fill_in_event())

    assert plan["regions"] == [] and plan["images"] == BUILT
    assert plan["marketplace"] == {"arches": ["x86_64"], "pending": True, "wait_seconds": 600,
                                   "products": [change("x86_64", "FAILED")]}
    assert records.get(RELEASE_ID).status_before_fill_in == "MARKETPLACE_FAILED"


def test_a_failed_fill_in_run_leaves_the_release_as_it_found_it(runtime):
    finish_marketplace_failed()
    invoke(prepare, fill_in_event())

    for _ in range(2):  # FailRelease retried, or the cleanup event delivered twice
        assert records.mark_fill_in_failed(RELEASE_ID, FILL_IN_ARN, "announce", "announce failed: AnnounceFailed: no")
    record = records.get(RELEASE_ID)
    assert (record.status, record.failed_stage) == ("MARKETPLACE_FAILED", "announce")


def test_a_release_records_whose_marketplace_products_it_sends_to(runtime):
    invoke(prepare, prepare_event())

    assert records.get(RELEASE_ID).marketplace_arches == ["x86_64", "arm64"]


def test_a_release_recorded_before_marketplace_is_not_offered_to_it_by_a_fill_in_run(runtime):
    finish_partial()
    client("dynamodb").update_item(TableName=records.table_name(), Key={"release_id": {"S": RELEASE_ID}},
                                   UpdateExpression="REMOVE marketplace, marketplace_arches")

    plan = invoke(prepare, fill_in_event())

    assert plan["regions"] == [COPY, FAR]
    assert plan["marketplace"] == {"arches": [], "pending": False, "wait_seconds": 600, "products": []}
    assert records.get(RELEASE_ID).marketplace == {}


# signatures: the record says who signed each commit

FINGERPRINT = "0123456789ABCDEF0123456789ABCDEF01234567"
SIGNED = {"verified": True, "signers": [FINGERPRINT], "signed_by": FINGERPRINT, "reason": f"signed by {FINGERPRINT}"}
UNSIGNED = {"verified": False, "signers": [], "signed_by": None,
            "reason": "the commit has no detached metadata: it is not signed"}


@pytest.fixture
def warnings_logged(runtime):
    """The local runtime silences the tasks' logs; these tests read the warnings."""
    silenced = logger.log_level
    logger.setLevel("WARNING")
    yield
    logger.setLevel(silenced)


def signed_input(signatures: dict[str, dict]) -> dict:
    release = release_input()
    for arch, signature in signatures.items():
        release["commits"][arch]["signature"] = signature
    return release


def test_the_record_keeps_each_commits_signature_as_detection_found_it(runtime):
    invoke(prepare, prepare_event(signed_input({"x86_64": SIGNED, "arm64": SIGNED})))

    record = records.get(RELEASE_ID)
    assert {arch: c.signature for arch, c in record.commits.items()} == {a: SignatureCheck(**SIGNED) for a in ARCHES}
    assert record.signatures_required is True
    assert record.signature_note("x86_64") == f"signed by {FINGERPRINT}"


def test_a_stream_without_required_signatures_records_and_logs_why_a_commit_went_unsigned(
        runtime, streams_config, caplog, warnings_logged):
    streams_config(lambda raw: raw["streams"][STREAM].update(signatures={"required": False, "keys": []}))

    invoke(prepare, prepare_event(signed_input({"x86_64": SIGNED, "arm64": UNSIGNED})))

    record = records.get(RELEASE_ID)
    assert record.signatures_required is False
    assert record.commits["arm64"].signature.reason == UNSIGNED["reason"]
    assert record.signature_note("arm64") == (f"unsigned: {UNSIGNED['reason']} "
                                              f"(released unsigned: stream {STREAM} does not require signatures)")
    assert record.signature_note("x86_64") == f"signed by {FINGERPRINT}"
    unsigned = [entry for entry in caplog.records if entry.getMessage().startswith("releasing an unsigned commit")]
    assert [(entry.arch, entry.reason) for entry in unsigned] == [("arm64", UNSIGNED["reason"])]


def test_a_commit_whose_signature_nobody_checked_says_so(runtime):
    invoke(prepare, prepare_event())

    assert records.get(RELEASE_ID).signature_note("arm64").startswith("not checked: ")
