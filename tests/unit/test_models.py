import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.core.arch import ec2_arch, ostree_arch
from chalicelib.core.config import load_streams
from chalicelib.core.errors import InvalidReleaseInput
from chalicelib.models.build import ArchOutcome, BuiltImage, BuiltImages
from chalicelib.models.failure import Caught, CaughtInStage, ErrorToRaise, Failure
from chalicelib.models.marketplace import MarketplaceProgress, ProductChange
from chalicelib.models.poll import PollState
from chalicelib.models.prepare import ReleasePlan
from chalicelib.models.record import ReleaseRecord, ReleaseStatus
from chalicelib.models.release import PlannedArch, ReleaseInput, execution_name
from chalicelib.models.signature import SignatureCheck, status_of, summary_of
from chalicelib.store import records

CHECKSUM = "a" * 64
NOW = datetime(2026, 11, 25, tzinfo=UTC)


def release(**changes) -> ReleaseInput:
    data = {"stream": "developer", "version": "43.20261125.dev.1", "commits": {
        "x86_64": {"ref": "fedora/x86_64/coreos/testing-devel", "checksum": CHECKSUM, "timestamp": NOW},
        "arm64": {"ref": "fedora/aarch64/coreos/testing-devel", "checksum": "b" * 64, "timestamp": NOW}}}
    data.update(changes)
    return ReleaseInput.model_validate(data)


@pytest.mark.parametrize(("checksum", "ok"), [
    ("a" * 64, True), ("A" * 64, False), ("a" * 63, False), ("g" * 64, False), ("", False)])
def test_checksum_must_be_64_lowercase_hex(checksum, ok):
    commits = {"x86_64": {"ref": "r", "checksum": checksum, "timestamp": NOW}}
    if ok:
        release(commits=commits)
    else:
        with pytest.raises(ValidationError, match=r"commits\.x86_64\.checksum"):
            release(commits=commits)


@pytest.mark.parametrize(("change", "field"), [
    ({"version": None}, "version"),
    ({"version": "has space"}, "version"),
    ({"commits": {}}, "commits"),
    ({"commits": {"ppc64le": {"ref": "r", "checksum": CHECKSUM, "timestamp": NOW}}}, "commits.ppc64le.[key]"),
    ({"commits": {"x86_64": {"ref": "r", "checksum": CHECKSUM}}}, "commits.x86_64.timestamp"),
    ({"trigger": "cron"}, "trigger"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_release_input_names_the_field(change, field):
    data = {"stream": "developer", "version": "1", "commits": {
        "x86_64": {"ref": "r", "checksum": CHECKSUM, "timestamp": NOW}}}
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ValidationError) as raised:
        ReleaseInput.model_validate(data)
    assert {".".join(map(str, e["loc"])) for e in raised.value.errors()} == {field}


def test_release_input_is_checked_against_its_stream():
    stream = load_streams().stream("developer")
    release().check_against(stream)
    wrong_ref = release(commits={"x86_64": {"ref": "fedora/x86_64/coreos/stable", "checksum": CHECKSUM,
                                            "timestamp": NOW}})
    with pytest.raises(InvalidReleaseInput, match=r"commits.x86_64.ref: 'fedora/x86_64/coreos/stable' is not"):
        wrong_ref.check_against(stream)
    with pytest.raises(InvalidReleaseInput, match="must start with the stream's base region 'us-east-1'"):
        release(regions=["us-west-2", "us-east-1"]).check_against(stream)


def test_execution_name_is_stable_and_changes_with_any_checksum():
    name = release().release_id
    assert name == release().release_id
    assert name.startswith("developer-43_20261125_dev_1-")
    other = release(commits={**release().model_dump()["commits"],
                             "arm64": {"ref": "fedora/aarch64/coreos/testing-devel", "checksum": "c" * 64,
                                       "timestamp": NOW}})
    assert other.release_id != name


@given(stream=st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True),
       version=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True),
       checksums=st.dictionaries(st.sampled_from(["x86_64", "arm64"]),
                                 st.from_regex(r"[0-9a-f]{64}", fullmatch=True), min_size=1))
def test_execution_name_obeys_step_functions_rules(stream, version, checksums):
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", execution_name(stream, version, checksums))


def test_architecture_names_are_mapped_in_one_place():
    assert ostree_arch("arm64") == "aarch64"
    assert ostree_arch("x86_64") == "x86_64"
    assert ec2_arch("aarch64") == "arm64"
    assert ec2_arch("arm64") == "arm64"
    with pytest.raises(ValueError, match="unsupported architecture 'ppc64le'"):
        ec2_arch("ppc64le")


@pytest.mark.parametrize(("error", "rethrown"), [
    ("States.Timeout", "TaskTimedOut"), ("States.HeartbeatTimeout", "HeartbeatTimedOut"),
    ("States.Runtime", "Runtime"), ("QAFailed", "QAFailed")])
def test_a_fail_state_never_rethrows_a_reserved_error_name(error, rethrown):
    assert Failure(stage="qa", error=error).rethrowable_error == rethrown


def test_caught_accepts_a_missing_cause():
    assert Caught.model_validate({"Error": "States.Timeout"}).Cause is None


def test_missing_arches_must_be_built_by_the_stream_and_absent_from_commits():
    stream = load_streams().stream("developer")
    x86_only = {"x86_64": release().model_dump()["commits"]["x86_64"]}
    release(commits=x86_only, missing_arches=["arm64"]).check_against(stream)
    with pytest.raises(InvalidReleaseInput, match="missing_arches: x86_64 is in commits"):
        release(missing_arches=["x86_64"]).check_against(stream)


# The release record, as DynamoDB holds it: an item a fill-in run of a partial release reads.
STORED_ITEM = {
    "release_id": {"S": "developer-43_20261125_dev_1-0123456789ab"},
    "stream": {"S": "developer"}, "version": {"S": "43.20261125.dev.1"}, "trigger": {"S": "poller"},
    "status": {"S": "PARTIAL"},
    "execution_arn": {"S": "arn:aws:states:us-east-1:123456789012:execution:release:developer-43_20261125_dev_1-0123"},
    "commits": {"M": {
        "x86_64": {"M": {"ref": {"S": "fedora/x86_64/coreos/testing-devel"}, "checksum": {"S": CHECKSUM},
                         "timestamp": {"S": "2026-11-25T00:00:00Z"}}},
        "arm64": {"M": {"ref": {"S": "fedora/aarch64/coreos/testing-devel"}, "checksum": {"S": "b" * 64},
                        "timestamp": {"S": "2026-11-24T23:59:30.250000Z"}}}}},
    "regions": {"L": [{"S": "us-east-1"}, {"S": "us-east-2"}]},
    "created_at": {"S": "2026-11-25T08:00:00+00:00"}, "updated_at": {"S": "2026-11-25T09:00:00+00:00"},
    "images": {"M": {"x86_64": {"M": {"us-east-1": {"S": "ami-0a"}}}, "arm64": {"M": {"us-east-1": {"S": "ami-0b"}}}}},
    "missing_arches": {"L": []},
    "metadata_url": {"S": "s3://metadata/streams/developer.json"},
    "failed_stage": {"S": "copy"}, "failure": {"S": "copy failed: CopyFailed: no"},
    "built_images": {"L": [
        {"M": {"arch": {"S": "x86_64"}, "image_id": {"S": "ami-0a"}, "snapshot_id": {"S": "snap-0a"},
               "name": {"S": "atomic-developer-43.20261125.dev.1-x86_64"}}},
        {"M": {"arch": {"S": "arm64"}, "image_id": {"S": "ami-0b"}, "snapshot_id": {"S": "snap-0b"},
               "name": {"S": "atomic-developer-43.20261125.dev.1-arm64"}}}]},
    "region_states": {"M": {
        "us-east-1": {"M": {"region": {"S": "us-east-1"}, "status": {"S": "validated"}, "stage": {"S": "validate"},
                            "images": {"L": [{"M": {"arch": {"S": "x86_64"}, "image_id": {"S": "ami-0a"},
                                                    "state": {"S": "available"}, "public": {"BOOL": True},
                                                    "parameters": {"L": [{"S": "/atomic/developer/x86_64/43"}]}}}]},
                            "reason": {"S": ""}, "requested_at": {"S": "2026-11-25T08:30:00.123456Z"}}},
        "us-east-2": {"M": {"region": {"S": "us-east-2"}, "status": {"S": "failed"}, "stage": {"S": "copy"},
                            "images": {"L": []}, "reason": {"S": "CopyFailed: no"}}}}},
    "attempt": {"N": "1"}, "rerun": {"N": "0"},
    "notified": {"M": {"0": {"M": {"message_id": {"S": "m-1"}, "event_id": {"S": "e-1"}}}}},
    "marketplace": {"M": {"x86_64": {"M": {
        "arch": {"S": "x86_64"}, "product_id": {"S": "prod-x8664"}, "image_id": {"S": "ami-0a"},
        "intent": {"S": "APPLY"}, "attempt": {"N": "0"}, "change_set_name": {"S": "developer.x86_64.0"},
        "change_set_id": {"S": "cs-1"}, "status": {"S": "SUCCEEDED"}, "reason": {"S": ""},
        "sent_at": {"S": "2026-11-25T08:40:00Z"}, "ended_at": {"S": "2026-11-25T08:50:00Z"}}}}},
    "marketplace_arches": {"L": [{"S": "x86_64"}]},
    "retired": {"M": {}},
}


def test_a_record_item_as_stored_loads_typed_and_stores_back_unchanged():
    record = ReleaseRecord.model_validate(records._from_item(STORED_ITEM))

    assert record.status == ReleaseStatus.PARTIAL and record.status in ReleaseStatus.FILLABLE
    assert record.commits["arm64"].timestamp == datetime(2026, 11, 24, 23, 59, 30, 250000, tzinfo=UTC)
    assert record.built_images[1] == BuiltImage(arch="arm64", image_id="ami-0b", snapshot_id="snap-0b",
                                                name="atomic-developer-43.20261125.dev.1-arm64")
    assert record.region_states["us-east-1"].images[0].public is True
    assert record.missing_regions == {"us-east-2": "copy: CopyFailed: no"}
    assert record.marketplace["x86_64"].settled
    stored = {key: value for key, value in STORED_ITEM.items() if key != "retired"}  # not a field of the record
    assert records._to_item(record.model_dump(mode="json", exclude_none=True)) == stored


def test_the_release_status_groups_are_statuses_and_nest():
    groups = [ReleaseStatus.FILLABLE, ReleaseStatus.ENDED_UNRELEASED, ReleaseStatus.RELEASED, ReleaseStatus.OUT,
              ReleaseStatus.UNSETTLED]
    assert all(status in list(ReleaseStatus) for group in groups for status in group)
    assert {*ReleaseStatus.FILLABLE} < {*ReleaseStatus.RELEASED} < {*ReleaseStatus.OUT}
    assert not {*ReleaseStatus.OUT} & {*ReleaseStatus.ENDED_UNRELEASED}
    assert {*ReleaseStatus.OUT} - {*ReleaseStatus.RELEASED} == {ReleaseStatus.PUBLISHED}
    assert ReleaseStatus.RETIRED not in {*ReleaseStatus.OUT, *ReleaseStatus.ENDED_UNRELEASED, *ReleaseStatus.UNSETTLED}


def plan(**changes) -> ReleasePlan:
    arches = [PlannedArch(arch=arch, commit=commit) for arch, commit in sorted(release().commits.items())]
    return ReleasePlan(release_id="r", stream="developer", version="1", attempt=0, base_region="us-east-1",
                       copy_concurrency=10, arches=arches, regions=["us-east-1"],
                       marketplace=MarketplaceProgress(arches=["x86_64"], pending=True, products=[ProductChange(
                           arch="x86_64", product_id="p", image_id="ami-0a", intent="APPLY", change_set_name="c")]),
                       **changes)


def test_the_plan_leaves_out_what_a_run_lacks_for_the_state_machine_to_test():
    dumped = plan().model_dump(mode="json")

    assert "images" not in dumped  # AlreadyBuilt: $.images IsPresent
    assert dumped["marketplace"] == {"arches": ["x86_64"], "pending": True, "wait_seconds": 600, "products": [
        {"arch": "x86_64", "product_id": "p", "image_id": "ami-0a", "intent": "APPLY", "attempt": 0,
         "change_set_name": "c", "status": "NOT_SENT", "reason": ""}]}  # MarketplaceSettled: started_at IsPresent
    assert dumped["arches"][0] == {"arch": "arm64", "commit": {
        "ref": "fedora/aarch64/coreos/testing-devel", "checksum": "b" * 64, "timestamp": "2026-11-25T00:00:00Z"}}
    image = BuiltImage(arch="x86_64", image_id="ami-0a", snapshot_id="snap-0a", name="n")
    assert plan(images=[image]).model_dump(mode="json")["images"] == [image.model_dump(exclude_none=True)]


@pytest.mark.parametrize(("failed", "kind"), [
    ({"error": "QAFailed", "cause": "{}"}, ErrorToRaise),
    ({"stage": "qa", "caught": {"Error": "States.Timeout", "Cause": None}}, CaughtInStage)])
def test_an_arch_outcome_fails_with_cleanup_arch_s_error_or_with_what_was_caught(failed, kind):
    assert isinstance(ArchOutcome.model_validate({"arch": "x86_64", "failed": failed}).failed, kind)


def test_built_images_are_handed_on_as_a_list():
    image = BuiltImage(arch="x86_64", image_id="ami-0a", snapshot_id="snap-0a", name="n")
    assert BuiltImages([image]).model_dump(mode="json") == [image.model_dump()]


def test_a_poll_state_document_keeps_its_shape_and_takes_defaults_for_keys_it_lacks():
    document = {"etag": "\"e\"", "last_modified": None, "pending": None, "released": "r",
                "heads": {"ref": {"checksum": CHECKSUM, "version": "43.1", "timestamp": "2026-11-25T00:00:00+00:00"}}}

    state = PollState.model_validate({**document, "generation": 3})

    assert (state.generation, state.released_version, state.released_arches) == (3, None, [])
    assert state.heads["ref"].timestamp == NOW
    head = {**document["heads"]["ref"], "signature": None, "trust_digest": None}
    assert state.model_dump(mode="json") == {**document, "heads": {"ref": head}, "released_version": None,
                                             "released_arches": []}


FINGERPRINT = "0123456789ABCDEF0123456789ABCDEF01234567"


@pytest.mark.parametrize("check, status, summary", [
    (SignatureCheck(verified=True, signers=[FINGERPRINT], signed_by=FINGERPRINT, reason=f"signed by {FINGERPRINT}"),
     "signed", f"signed by {FINGERPRINT}"),
    (SignatureCheck(verified=False, signers=[FINGERPRINT], reason="signature 1 is by X, which is not trusted"),
     "not-verified", "not verified: signature 1 is by X, which is not trusted"),
    (SignatureCheck(verified=False, reason="the commit has no detached metadata: it is not signed"),
     "unsigned", "unsigned: the commit has no detached metadata: it is not signed"),
    (None, "not-checked", "not checked: the signature was not read when the release started"),
])
def test_a_signature_says_in_one_line_who_signed_or_why_not(check, status, summary):
    assert (status_of(check), summary_of(check)) == (status, summary)
