"""The guests' roles, as the packaged template makes them: each guest its own role through its own
instance profile. The QA guest boots the new image, content the pipeline does not control, so its
role has no S3 permission at all; the builder's writes only under ``staging/`` of the bucket."""

import botocore.session
import pytest

from tests.infra.iam import Requirement, decide
from tests.infra.policies import references, resolve

BUCKET_ARN = "arn:aws:s3:::the-metadata-bucket"
STAGED_FILE = f"{BUCKET_ARN}/staging/r-1/x86_64/fedora-coreos-41.1-metal.x86_64.raw.xz"
# Everything an S3 permission could name: the bucket, its public and other keys, a key beside
# staging/ sharing its first letters, and another bucket's staging/.
S3_RESOURCES = [BUCKET_ARN, STAGED_FILE, f"{BUCKET_ARN}/streams/stable.json", f"{BUCKET_ARN}/streams/x/builds/1/a.raw.xz",
                f"{BUCKET_ARN}/staging-other/a", f"{BUCKET_ARN}/other", "arn:aws:s3:::another-bucket/staging/r-1/a"]
# IAM's S3 actions that are named after no operation of S3's API.
IAM_ONLY_S3_ACTIONS = {"s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:ListMultipartUploadParts",
                       "s3:GetObjectVersion", "s3:DeleteObjectVersion", "s3:PutObjectVersionAcl", "s3:ReplicateObject"}
# What may grant a role something besides its own inline policies.
GRANTS_TO_A_ROLE = {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy", "AWS::S3::BucketPolicy"}
GUESTS = {"BuilderInstanceProfile": "BuilderRole", "QaInstanceProfile": "QaRole"}


def s3_actions() -> set[str]:
    operations = botocore.session.get_session().get_service_model("s3").operation_names
    return {f"s3:{operation}" for operation in operations} | IAM_ONLY_S3_ACTIONS


def role_policy(template: dict, role: str) -> dict:
    """Every statement the role's inline policies hold, with the bucket's ARN put in."""
    properties = template["Resources"][role]["Properties"]
    found = [statement for policy in properties["Policies"] for statement in policy["PolicyDocument"]["Statement"]]
    return {"Statement": resolve(found, {"MetadataBucket.Arn": BUCKET_ARN})}


def s3_allowed(template: dict, role: str) -> set[tuple[str, str]]:
    policy = role_policy(template, role)
    return {(action, resource) for action in s3_actions() for resource in S3_RESOURCES
            if decide(policy, Requirement.of(action, resource)).allowed}


def test_each_guest_has_its_own_role_that_only_ec2_assumes(sam_template):
    resources = sam_template["Resources"]
    assert {profile: resources[profile]["Properties"]["Roles"] for profile in GUESTS} == \
        {profile: [{"Ref": role}] for profile, role in GUESTS.items()}
    for role in GUESTS.values():
        (trust,) = resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert (trust["Principal"], trust["Action"]) == ({"Service": "ec2.amazonaws.com"}, "sts:AssumeRole")


@pytest.mark.parametrize("role", sorted(GUESTS.values()))
def test_a_guest_s_role_holds_only_its_inline_policies(sam_template, role):
    resources = sam_template["Resources"]
    assert set(resources[role]["Properties"]) == {"AssumeRolePolicyDocument", "Policies"}
    granting = [name for name, resource in resources.items()
                if resource["Type"] in GRANTS_TO_A_ROLE and role in references(resource)]
    assert granting == []


@pytest.mark.parametrize("role", sorted(GUESTS.values()))
def test_both_guests_report_through_their_task_tokens(sam_template, role):
    policy = role_policy(sam_template, role)
    for action in ("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"):
        assert decide(policy, Requirement.of(action, "*")).allowed, action


def test_the_qa_guest_has_no_s3_permission(sam_template):
    assert s3_allowed(sam_template, "QaRole") == set()


def test_the_builder_may_only_upload_and_abort_uploads_under_staging(sam_template):
    assert s3_allowed(sam_template, "BuilderRole") == {("s3:PutObject", STAGED_FILE),
                                                        ("s3:AbortMultipartUpload", STAGED_FILE)}
