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
    assert variables == {"RELEASES_TABLE": {"Ref": "ReleasesTable"}, "METADATA_BUCKET": {"Ref": "MetadataBucket"},
                         "RELEASE_TOPIC_ARN": {"Ref": "ReleaseTopic"}}
    for resource in ("ReleasesTable", "MetadataBucket", "ReleaseTopic"):
        assert resource in TEMPLATE["Resources"]
