"""The template merged into `chalice package` output names what the ASL and app.py name."""

import re
from pathlib import Path

import yaml

from app import app
from atomic_release.local.runtime import substitution_name

ROOT = Path(__file__).resolve().parents[2]


class _CloudFormationLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    value = loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else loader.construct_sequence(node)
    return {suffix: value}


_CloudFormationLoader.add_multi_constructor("!", _tag)
TEMPLATE = yaml.load((ROOT / "infra" / "release.yaml").read_text(), Loader=_CloudFormationLoader)


def test_every_asl_substitution_is_the_arn_of_the_chalice_function_it_names():
    machine = TEMPLATE["Resources"]["ReleaseStateMachine"]["Properties"]
    asl = (ROOT / "state_machines" / Path(machine["DefinitionUri"]).name).read_text()
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", asl))
    substitutions = machine["DefinitionSubstitutions"]
    assert set(substitutions) == placeholders
    for name, value in substitutions.items():
        assert value == {"GetAtt": f"{name.removesuffix('Arn')}.Arn"}
    # `chalice package` names the resource of function `launch_builder` `LaunchBuilder`.
    assert {substitution_name(f.name) for f in app.pure_lambda_functions} == placeholders


def test_the_state_machine_may_invoke_exactly_the_task_functions():
    machine = TEMPLATE["Resources"]["ReleaseStateMachine"]["Properties"]
    invoked = {p["LambdaInvokePolicy"]["FunctionName"]["Ref"] for p in machine["Policies"]}
    assert invoked == {name.removesuffix("Arn") for name in machine["DefinitionSubstitutions"]}


def test_every_function_gets_the_names_the_tasks_read_from_the_environment():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    refs = {name: value["Ref"] for name, value in variables.items() if "Ref" in value}
    assert refs == {"RELEASES_TABLE": "ReleasesTable", "STATE_TABLE": "StateTable", "METADATA_BUCKET": "MetadataBucket",
                    "RELEASE_TOPIC_ARN": "ReleaseTopic", "WEBHOOK_SECRET_PARAMETER": "WebhookSecretParameter",
                    "BUILDER_INSTANCE_PROFILE": "BuilderInstanceProfile", "QA_INSTANCE_PROFILE": "QaInstanceProfile"}
    for name in refs.values():
        assert name in TEMPLATE["Resources"] or name in TEMPLATE["Parameters"]


def test_the_state_machine_arn_the_triggers_use_is_the_state_machine_s_name():
    arn = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["RELEASE_STATE_MACHINE_ARN"]["Sub"]
    name = TEMPLATE["Resources"]["ReleaseStateMachine"]["Properties"]["Name"]["Sub"]
    assert arn.endswith(f":stateMachine:{name}")


def test_every_environment_variable_the_code_reads_is_set_by_the_template_or_chalice():
    source = "\n".join(path.read_text() for path in (ROOT / "chalicelib").glob("*.py"))
    names = set(re.findall(r"""environ(?:\.get\(|\[)["']([A-Z_]+)["']""", source))
    names |= {f"{role}_INSTANCE_PROFILE" for role in ("BUILDER", "QA")}  # read as f"{role.upper()}_INSTANCE_PROFILE"
    optional = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "STREAMS_CONFIG", "WEBHOOK_SECRET_ID"}
    assert {"RELEASES_TABLE", "RELEASE_TOPIC_ARN", "WEBHOOK_SECRET_PARAMETER"} <= names
    assert names - optional <= set(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
