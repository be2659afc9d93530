"""The packaged stack, deployed into moto's CloudFormation the way a release engineer deploys it
into an account: `aws cloudformation package` (upload the code and the ASL, point the template
at them), the AWS::Serverless transform (aws-sam-translator, as CloudFormation runs it), then
`aws cloudformation deploy`. A ``StackRuntime`` then runs releases on what the stack made."""

import hashlib
import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from atomic_release.local.runtime import APP_NAME, LocalRuntime
from chalicelib.aws.clients import client

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
TEMPLATE_BODY_LIMIT = 51_200  # bytes CreateStack takes inline
TEMPLATE_URL_LIMIT = 1_000_000  # bytes of a template in S3


class StackFailed(RuntimeError):
    pass


def upload_artifacts(package_dir: Path, bucket: str) -> dict:
    """What `aws cloudformation package` does to the template: each local CodeUri and
    DefinitionUri is uploaded to ``bucket`` (under its content's MD5) and replaced by where it went."""
    template = yaml.safe_load((package_dir / "sam.yaml").read_text())
    uploaded: dict[Path, str] = {}

    def upload(relative: str) -> str:
        path = (package_dir / relative).resolve()
        if path not in uploaded:
            body = path.read_bytes()
            uploaded[path] = hashlib.md5(body).hexdigest()  # the CLI's key, not for security
            client("s3").put_object(Bucket=bucket, Key=uploaded[path], Body=body)
        return uploaded[path]

    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and isinstance(properties.get("CodeUri"), str):
            properties["CodeUri"] = f"s3://{bucket}/{upload(properties['CodeUri'])}"
        if resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(properties.get("DefinitionUri"), str):
            properties["DefinitionUri"] = {"Bucket": bucket, "Key": upload(properties["DefinitionUri"])}
    return template


def serverless_transform(template: dict, parameters: dict[str, str]) -> dict:
    """The AWS::Serverless-2016-10-31 transform, as CloudFormation applies it."""
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    return transform(template, parameters, ManagedPolicyLoader(client("iam")))


def deploy(template: dict, parameters: dict[str, str], stack_name: str, bucket: str) -> dict[str, dict]:
    """Create the stack from a template uploaded to ``bucket`` (`deploy --s3-bucket`: it is
    larger than the 51,200 bytes CreateStack takes inline); returns each resource's summary
    (type, physical id) by its logical id."""
    body = json.dumps(template)
    if len(body) > TEMPLATE_URL_LIMIT:
        raise StackFailed(f"the template is {len(body)} bytes, over CloudFormation's {TEMPLATE_URL_LIMIT}")
    template_key = f"{stack_name}.template.json"
    client("s3").put_object(Bucket=bucket, Key=template_key, Body=body.encode())
    cloudformation = client("cloudformation")
    cloudformation.create_stack(
        StackName=stack_name, TemplateURL=f"https://{bucket}.s3.amazonaws.com/{template_key}", Capabilities=CAPABILITIES,
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()])
    status = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        reasons = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
                   for e in cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
                   if e["ResourceStatus"].endswith("FAILED")]
        raise StackFailed(f"stack {stack_name} is {status}: {'; '.join(reasons)}")
    paginator = cloudformation.get_paginator("list_stack_resources")
    return {r["LogicalResourceId"]: r for page in paginator.paginate(StackName=stack_name)
            for r in page["StackResourceSummaries"]}


@dataclass
class StackRuntime(LocalRuntime):
    """A local runtime whose tables, bucket, topic, functions and state machine are the ones the
    packaged stack made: the functions' environment is what the template gave them, and each
    invocation runs the handler its deployed configuration names."""

    package_dir: Path | None = None
    stack_name: str = APP_NAME
    artifacts_bucket: str = f"{APP_NAME}-artifacts"
    resources: dict[str, dict] = field(default_factory=dict)

    @property
    def parameters(self) -> dict[str, str]:
        return {"AlarmEmail": "", "RetentionDryRun": "true"}

    def _create_resources(self) -> None:
        if self.package_dir is None:
            raise ValueError("StackRuntime needs the folder `make package` wrote (package_dir)")
        client("s3").create_bucket(Bucket=self.artifacts_bucket)
        template = serverless_transform(upload_artifacts(Path(self.package_dir), self.artifacts_bucket),
                                        self.parameters)
        self.resources = deploy(template, self.parameters, self.stack_name, self.artifacts_bucket)
        functions = self.deployed_functions()
        environment = _one_environment(functions)
        for key in environment:
            self._saved_env.setdefault(key, os.environ.get(key))
        os.environ.update(environment)
        self._dispatch({name: _handler(configuration["Handler"]) for name, configuration in functions.items()})

    def deployed_functions(self) -> dict[str, dict]:
        """Each function the stack made, by its name: its configuration as Lambda reports it."""
        lambda_ = client("lambda")
        names = [r["PhysicalResourceId"] for r in self.resources.values() if r["ResourceType"] == "AWS::Lambda::Function"]
        return {name: lambda_.get_function_configuration(FunctionName=name) for name in names}


def _one_environment(functions: dict[str, dict]) -> dict[str, str]:
    """The functions share one process here, so they must share one environment (the
    template's Globals give them one)."""
    environments = {json.dumps(f.get("Environment", {}).get("Variables", {}), sort_keys=True)
                    for f in functions.values()}
    if len(environments) != 1:
        raise StackFailed(f"the deployed functions have {len(environments)} different environments")
    return json.loads(environments.pop())


def _handler(name: str):
    """``functions.launch_builder.handler`` -> that attribute of its module, as Lambda's runtime resolves it."""
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)
