"""The functions' IAM policy files (.chalice/policy-<function>.json) and the template names they
may use. `chalice package` copies each file into the CloudFormation template verbatim, so a
policy may hold intrinsics: ``Ref``, ``Fn::GetAtt`` and ``Fn::Sub``."""

import json
import re
from pathlib import Path

from chalice.utils import to_cfn_resource_name

from atomic_release.local.runtime import read_template

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = ROOT / ".chalice"
API_HANDLER = "api_handler"
# What the template defines for the policies to name; each function also names its own log group.
TEMPLATE_NAMES = {"ReleasesTable", "StateTable", "IdempotencyTable", "MetadataBucket", "ReleaseTopic", "BuilderRole",
                  "QaRole", "BuilderInstanceProfile", "QaInstanceProfile", "WebhookSecret", "SsmPrefix",
                  "MarketplaceAccessRoleName"}
PSEUDO_PARAMETERS = {"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition", "AWS::Region",
                     "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}
_SUBSTITUTION = re.compile(r"\$\{([^}!][^}]*)\}")


def template_definitions() -> set[str]:
    """The parameters and resources infra/release.yaml defines (only the names matter here)."""
    template = read_template()
    return {*template.get("Parameters", {}), *template.get("Resources", {})}


def function_names() -> list[str]:
    """Every Lambda function of app.py: the task Lambdas, the event sources, and the one that
    serves every route."""
    from app import app

    return sorted({*(f.name for f in app.pure_lambda_functions), *(e.name for e in app.event_sources), API_HANDLER})


def logical_id(function: str) -> str:
    """The function's resource in the template, as chalice names it."""
    return "APIHandler" if function == API_HANDLER else to_cfn_resource_name(function)


def log_group(function: str) -> str:
    return f"{logical_id(function)}Logs"


def policy_path(function: str) -> Path:
    return POLICY_DIR / f"policy-{function}.json"


def load_policy(function: str) -> dict:
    return json.loads(policy_path(function).read_text())


def policy_files() -> dict[str, Path]:
    """function name -> its policy file, for every policy file there is."""
    return {path.name.removeprefix("policy-").removesuffix(".json"): path
            for path in sorted(POLICY_DIR.glob("policy-*.json"))}


def statements(policy: dict) -> list[dict]:
    found = policy["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def references(node, found: set[str] | None = None) -> set[str]:
    """Every name a Ref, a GetAtt or a ``${...}`` of a Sub names (``X.Arn`` counts as ``X``;
    a Sub's own variables are not names of the template)."""
    found = set() if found is None else found
    if isinstance(node, list):
        for item in node:
            references(item, found)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value.split(".", 1)[0] if isinstance(value, str) else value[0])
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                found |= {name.split(".", 1)[0] for name in _SUBSTITUTION.findall(text)} - set(variables)
                references(variables, found)
            else:
                references(value, found)
    return found


def resolve(node, names: dict[str, str]):
    """The policy with each intrinsic replaced by its value in ``names`` (``X`` for a Ref and
    ``${X}``, ``X.Arn`` for a GetAtt and ``${X.Arn}``); KeyError names one that is missing."""
    if isinstance(node, list):
        return [resolve(item, names) for item in node]
    if not isinstance(node, dict):
        return node
    if "Ref" in node:
        return names[node["Ref"]]
    if "Fn::GetAtt" in node:
        return names[".".join(node["Fn::GetAtt"])]
    if "Fn::Sub" in node:
        return _SUBSTITUTION.sub(lambda match: names[match.group(1)], node["Fn::Sub"])
    return {key: resolve(value, names) for key, value in node.items()}
