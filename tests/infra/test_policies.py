"""The functions' IAM policies, read as files: one per function of app.py and no other, each a
whole policy document, no action granted wholesale, ``Resource: "*"`` only where AWS allows
nothing narrower, and only names the template defines. That they suffice is the business of
test_policies_suffice.py, which runs releases and checks every call against them."""

import json
import re

import pytest

from tests.infra.policies import (
    POLICY_DIR,
    PSEUDO_PARAMETERS,
    TEMPLATE_NAMES,
    as_list,
    function_names,
    load_policy,
    log_group,
    policy_files,
    references,
    statements,
    template_definitions,
)

# The only actions a policy may grant on every resource, each with why nothing narrower exists
# (AWS's Service Authorization Reference lists no resource type for them).
ANY_RESOURCE = {
    "ec2:DescribeInstances": "EC2's Describe actions take no resource",
    "ec2:DescribeVolumes": "EC2's Describe actions take no resource",
    "ec2:DescribeImages": "EC2's Describe actions take no resource; SSM also checks aws:ec2:image values with it",
    "ec2:DescribeSnapshots": "EC2's Describe actions take no resource",
    "ec2:DescribeRegions": "EC2's Describe actions take no resource; the account's regions are no resource either",
    "ec2:GetImageBlockPublicAccessState": "an account setting of the region, not a resource",
    "servicequotas:GetAWSDefaultServiceQuota": "AWS's default values belong to no resource",
    "aws-marketplace:ListChangeSets": "a List action of the Catalog API: no resource type",
    "pricing:GetProducts": "the Price List API defines no resource type",
    "xray:PutTraceSegments": "X-Ray's write actions take no resource",
    "xray:PutTelemetryRecords": "X-Ray's write actions take no resource",
}
# EC2 actions that change or remove what exists: only on what carries a release's tags.
CHANGES_EXISTING_EC2 = {"ec2:TerminateInstances", "ec2:DeleteVolume", "ec2:DeregisterImage", "ec2:DeleteSnapshot",
                        "ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute", "ec2:EnableImageDeprecation",
                        "ec2:EnableImageDeregistrationProtection", "ec2:DisableImageDeregistrationProtection"}
# Each function that launches a guest, and the one role it may hand that guest.
LAUNCH_INSTANCES = {"launch_builder": ["BuilderRole"], "launch_qa": ["QaRole"]}
GUEST_ROLES = {"BuilderRole", "QaRole"}
FUNCTIONS = function_names()


def condition_keys(statement: dict) -> set[str]:
    return {key for keys in statement.get("Condition", {}).values() for key in keys}


def allows(function: str):
    return [s for s in statements(load_policy(function)) if s["Effect"] == "Allow"]


def test_there_is_one_policy_file_per_function_and_no_other():
    assert sorted(policy_files()) == FUNCTIONS


def test_chalice_builds_each_function_s_role_from_its_own_file():
    config = json.loads((POLICY_DIR / "config.json").read_text())
    assert config["autogen_policy"] is False
    assert {name: settings.get("iam_policy_file") for name, settings in config["lambda_functions"].items()} == \
        {name: f"policy-{name}.json" for name in FUNCTIONS}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_policy_is_a_whole_document_whose_statements_say_what_they_are_for(function):
    policy = load_policy(function)

    assert policy["Version"] == "2012-10-17"
    sids = [statement.get("Sid", "") for statement in statements(policy)]
    assert all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids), sids
    assert len(set(sids)) == len(sids), sids
    for statement in statements(policy):
        assert statement["Effect"] in ("Allow", "Deny")
        assert {"Action", "Resource"} <= statement.keys() and not {"NotAction", "NotResource"} & statement.keys()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_action_is_named_none_granted_by_wildcard(function):
    """Not "*", not "service:*", not even "ec2:Describe*": each action the function uses, by name."""
    wildcards = [action for statement in allows(function) for action in as_list(statement["Action"])
                 if "*" in action or "?" in action]
    assert wildcards == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_any_resource_only_for_actions_that_take_no_resource(function):
    on_anything = {action for statement in allows(function) if "*" in as_list(statement["Resource"])
                   for action in as_list(statement["Action"])}
    assert on_anything - ANY_RESOURCE.keys() == set()


def resource_texts(statement: dict) -> list[str]:
    """Each Resource as written: a string, or the text of its Fn::Sub (a GetAtt or Ref names one resource)."""
    texts = []
    for resource in as_list(statement["Resource"]):
        if isinstance(resource, str):
            texts.append(resource)
        elif "Fn::Sub" in resource:
            texts.append(resource["Fn::Sub"] if isinstance(resource["Fn::Sub"], str) else resource["Fn::Sub"][0])
    return texts


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_resource_arn_leaves_its_service_account_or_resource_type_open(function):
    """A wildcard may stand for a region (copies go everywhere) or a resource's id, never for the
    service, the account or the kind of resource: ``arn:aws:*:*:*:*`` is "*" in other words."""
    open_arns = []
    for statement in allows(function):
        for text in resource_texts(statement):
            if text == "*":
                continue
            # ${X.Arn} is one resource of the template; other ${...} are names.
            text = re.sub(r"\$\{[A-Za-z0-9]+\.Arn\}", "arn:aws:resource:region:account:of-the-template", text)
            parts = re.sub(r"\$\{[^}]+\}", "X", text).split(":", 5)
            kind = re.split(r"[/:]", parts[5], maxsplit=1)[0] if len(parts) == 6 else ""
            if len(parts) != 6 or "*" in parts[2] or "*" in parts[4] or "*" in kind or not kind:
                open_arns.append(f"{statement['Sid']}: {text}")
    assert open_arns == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_tag_guard_requires_the_tag_and_never_its_absence(function):
    """``Null: {tag: "true"}`` would allow acting on everything untagged."""
    absent = [s["Sid"] for s in statements(load_policy(function)) if s["Effect"] == "Allow"
              for key, value in s.get("Condition", {}).get("Null", {}).items() if value != "false"]
    assert absent == []


def test_every_action_allowed_on_any_resource_is_needed_by_some_function():
    used = {action for function in FUNCTIONS for statement in allows(function)
            if "*" in as_list(statement["Resource"]) for action in as_list(statement["Action"])}
    assert set(ANY_RESOURCE) - used == set()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_policy_names_only_what_the_template_defines_and_its_own_log_group(function):
    named = references(load_policy(function))

    assert named - TEMPLATE_NAMES - PSEUDO_PARAMETERS - {log_group(function)} == set()
    assert log_group(function) in named


def test_every_template_name_a_policy_uses_is_defined_in_infra_release_yaml():
    used = {name for function in FUNCTIONS for name in references(load_policy(function))} - PSEUDO_PARAMETERS
    assert used - template_definitions() == set()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_writes_its_own_log_group_only_and_sends_its_traces(function):
    writes_logs = [s for s in allows(function) if any(a.startswith("logs:") for a in as_list(s["Action"]))]

    assert [(sorted(as_list(s["Action"])), s["Resource"]) for s in writes_logs] == [
        (["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": [log_group(function), "Arn"]})]
    assert any({"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= set(as_list(s["Action"]))
               for s in allows(function))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_ec2_changes_only_what_carries_a_release_s_tags(function):
    unguarded = [s["Sid"] for s in allows(function) if CHANGES_EXISTING_EC2 & set(as_list(s["Action"]))
                 and not {k for k in condition_keys(s) if k.startswith("ec2:ResourceTag/atomic-release:")}]
    assert unguarded == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_tags_are_written_only_by_the_call_that_creates_the_resource(function):
    unguarded = [s["Sid"] for s in allows(function)
                 if "ec2:CreateTags" in as_list(s["Action"]) and "ec2:CreateAction" not in condition_keys(s)]
    assert unguarded == []


def test_only_the_functions_that_launch_instances_may_pass_a_guest_s_role_and_each_only_its_own():
    passing = {function: sorted(references(load_policy(function)) & GUEST_ROLES) for function in FUNCTIONS}
    assert {function: roles for function, roles in passing.items() if roles} == LAUNCH_INSTANCES


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_role_is_passed_only_to_the_service_it_is_for(function):
    unguarded = [s["Sid"] for s in allows(function)
                 if "iam:PassRole" in as_list(s["Action"]) and "iam:PassedToService" not in condition_keys(s)]
    assert unguarded == []
