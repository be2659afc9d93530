"""`make package` makes a stack a release engineer can deploy: the checkers find nothing, every
name the template uses exists, and the bundle runs the handlers the template names."""

import json
import re

import pytest
import yaml

from tests.infra.policies import PSEUDO_PARAMETERS, function_names, logical_id, references
from tests.infra.tools import CHECKOV, ROOT, python_without_site_packages, run_tool, tool_or_skip

# cfn-lint warnings kept, each with the reason it does not apply. None today: any warning fails.
ACCEPTED_CFN_LINT_WARNINGS: dict[str, str] = {}


def resources_of(template: dict, kind: str = "AWS::Serverless::Function") -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r.get("Type") == kind}


def registered_functions() -> list[str]:
    """Every Lambda function app.py registers, by the name chalice gives its resource."""
    return [logical_id(function) for function in function_names()]


# -- the checkers ---------------------------------------------------------------------------------

def test_cfn_lint_reports_no_error_and_no_unexplained_warning(package):
    done = run_tool(ROOT / ".venv" / "bin" / "cfn-lint", "--format", "json", "sam.yaml", cwd=package)
    findings = json.loads(done.stdout) if done.stdout.strip() else []
    assert done.returncode == 0 or findings, done.stderr
    unexplained = [f"{f['Rule']['Id']} {f['Message']} ({f['Location']['Path']})" for f in findings
                   if f["Level"] == "Error" or f["Rule"]["Id"] not in ACCEPTED_CFN_LINT_WARNINGS]
    assert unexplained == []


@pytest.mark.parametrize("which", ["sam", "transformed"])
def test_checkov_reports_no_failed_check(which, package, transformed_template, tmp_path):
    checkov = tool_or_skip(CHECKOV, "make installs checkov in .venv-checkov")
    if which == "sam":
        target = package / "sam.yaml"
    else:
        target = tmp_path / "template.json"
        target.write_text(json.dumps(transformed_template))
    done = run_tool(checkov, "--config-file", ROOT / "infra" / "checkov.yaml", "--output", "json", "-f", target)
    report = json.loads(done.stdout)
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 100 and report["summary"]["parsing_errors"] == 0, report["summary"]


def test_every_check_a_resource_skips_says_why(sam_template):
    for name, resource in sam_template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, f"{name} skips {skip['id']} without a reason"


# -- every name resolves ---------------------------------------------------------------------------

class _RejectDuplicateKeys(yaml.SafeLoader):
    """YAML keeps the last of two equal keys without a word; chalice's merge then loses the first."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        duplicates = {key for key in keys if keys.count(key) > 1}
        assert not duplicates, f"line {node.start_mark.line + 1}: {sorted(duplicates)} given twice"
        return super().construct_mapping(node, deep=deep)


_RejectDuplicateKeys.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_the_merge_template_names_each_key_once():
    yaml.load((ROOT / "infra" / "release.yaml").read_text(), Loader=_RejectDuplicateKeys)


def test_every_ref_getatt_and_sub_of_the_transformed_template_names_what_exists(transformed_template):
    known = set(transformed_template["Resources"]) | set(transformed_template.get("Parameters", {})) | PSEUDO_PARAMETERS
    assert references(transformed_template) - known == set()


def test_every_name_the_packaged_template_uses_exists_after_the_transform(sam_template, transformed_template):
    """cfn-lint misses a GetAtt to a name that merely starts with a SAM function's id."""
    known = (set(sam_template["Resources"]) | set(transformed_template["Resources"])
             | set(sam_template.get("Parameters", {})) | PSEUDO_PARAMETERS)
    assert references(sam_template) - known == set()


def test_every_asl_substitution_is_the_arn_of_a_function_of_the_template(package, sam_template):
    machine = sam_template["Resources"]["ReleaseStateMachine"]["Properties"]
    asl = (package / machine["DefinitionUri"]).read_text()
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", asl))
    substitutions = machine["DefinitionSubstitutions"]
    assert set(substitutions) == placeholders
    functions = resources_of(sam_template)
    for name, value in substitutions.items():
        function = value["Fn::GetAtt"][0]
        assert value == {"Fn::GetAtt": [function, "Arn"]} and function in functions, name
        assert function == name.removesuffix("Arn"), f"{name} is the ARN of {function}"
    assert {p["LambdaInvokePolicy"]["FunctionName"]["Ref"] for p in machine["Policies"] if "LambdaInvokePolicy" in p} \
        == {v["Fn::GetAtt"][0] for v in substitutions.values()}


def test_the_state_machine_logs_its_errors_and_is_traced(transformed_template):
    machine = transformed_template["Resources"]["ReleaseStateMachine"]["Properties"]
    assert machine["LoggingConfiguration"]["Level"] in ("ERROR", "ALL")
    assert machine["LoggingConfiguration"]["Destinations"]
    assert machine["TracingConfiguration"] == {"Enabled": True}


def test_every_function_app_py_registers_is_in_the_template_with_its_own_role_and_log_group(sam_template):
    functions = resources_of(sam_template)
    assert set(functions) == set(registered_functions())
    roles = {name: f["Properties"]["Role"]["Fn::GetAtt"][0] for name, f in functions.items()}
    assert len(set(roles.values())) == len(roles), "two functions share a role"
    for name, function in functions.items():
        assert function["Properties"]["Tracing"] == "Active", name
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert sam_template["Resources"][log_group]["Type"] == "AWS::Logs::LogGroup", name
        policy = json.dumps(sam_template["Resources"][roles[name]]["Properties"]["Policies"])
        assert f'"{log_group}"' in policy, f"{name}'s role does not name its own log group"
        assert not any(f'"{other}Logs"' in policy for other in functions if other != name), name


def test_every_function_gets_the_names_the_code_reads_from_the_environment(sam_template):
    variables = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    from chalicelib.core.settings import Locations, Settings

    # The functions read their environment through the settings models; app.py reads POLL_MINUTES.
    read = {name.upper() for name in Settings.model_fields}
    read |= {field.validation_alias for field in Locations.model_fields.values()}
    source = "\n".join(p.read_text() for p in [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")])
    read |= set(re.findall(r"""environ(?:\.get\(|\[)["']([A-Z_]+)["']""", source))
    # Region and endpoint come from Lambda; STREAMS_CONFIG (another configuration file) and
    # WEBHOOK_SECRET_PARAMETER (the secret in SSM instead) are alternatives a deployment may set;
    # POLL_MINUTES is read when packaging, not at run time.
    optional = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "STREAMS_CONFIG", "WEBHOOK_SECRET_PARAMETER",
                "POLL_MINUTES"}
    assert {"RELEASES_TABLE", "RELEASE_TOPIC_ARN", "RETENTION_DRY_RUN", "WEBHOOK_SECRET_ID"} <= read
    assert read - optional <= set(variables)


def test_the_state_machine_arn_the_functions_get_is_the_state_machine_s(sam_template):
    arn = sam_template["Globals"]["Function"]["Environment"]["Variables"]["RELEASE_STATE_MACHINE_ARN"]["Fn::Sub"]
    name = sam_template["Resources"]["ReleaseStateMachine"]["Properties"]["Name"]["Fn::Sub"]
    assert arn.endswith(f":stateMachine:{name}")


def test_the_metadata_bucket_is_private_and_only_the_distribution_reads_it_under_streams(sam_template):
    resources = sam_template["Resources"]
    bucket = resources["MetadataBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["CorsConfiguration"]["CorsRules"] == [
        {"AllowedMethods": ["GET", "HEAD"], "AllowedOrigins": ["*"], "AllowedHeaders": ["*"], "MaxAge": 3600}]
    statements = resources["MetadataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (allowed,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allowed["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert (allowed["Action"], allowed["Resource"]) == ("s3:GetObject", {"Fn::Sub": "${MetadataBucket.Arn}/streams/*"})
    source = allowed["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith(":distribution/${Distribution}")
    (tls,) = [s for s in statements if s["Effect"] == "Deny"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    from chalicelib.site.publish import INDEX_KEY
    from chalicelib.stages import announce

    assert all(key.startswith("streams/") for key in (announce.stream_metadata_key("stable"),
                                                      announce.release_key("stable", "1"), INDEX_KEY))


def test_the_distribution_serves_the_bucket_over_https_with_cors_and_the_site_s_policy(sam_template):
    resources = sam_template["Resources"]
    config = resources["Distribution"]["Properties"]["DistributionConfig"]
    from chalicelib.site.publish import INDEX_KEY

    assert config["DefaultRootObject"] == INDEX_KEY
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["MetadataBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["DistributionOriginAccess", "Id"]}
    access = resources["DistributionOriginAccess"]["Properties"]["OriginAccessControlConfig"]
    assert (access["OriginAccessControlOriginType"], access["SigningBehavior"]) == ("s3", "always")
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": "DistributionHeaders"}
    headers = resources["DistributionHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    assert headers["CorsConfig"]["AccessControlAllowMethods"] == {"Items": ["GET", "HEAD"]}
    assert headers["CorsConfig"]["AccessControlAllowOrigins"] == {"Items": ["*"]}
    policy = headers["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert "default-src 'none'" in policy and "style-src 'self'" in policy
    assert "script-src" not in policy and "http" not in policy
    variables = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["PUBLIC_BASE_URL"] == {"Fn::Sub": "https://${Distribution.DomainName}/"}
    assert sam_template["Outputs"]["StreamMetadataUrl"]["Value"] == {"Fn::Sub": "https://${Distribution.DomainName}/streams/"}


def test_only_the_webhook_and_the_page_are_open_every_other_route_needs_iam(sam_template):
    paths = sam_template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    open_routes = {(path, verb) for path, verbs in paths.items() for verb, spec in verbs.items()
                   if not any("sigv4" in s for s in spec.get("security", []))}
    assert open_routes == {("/hooks/ostree", "post"), ("/", "get"), ("/assets/{name}", "get")}


def watched(template: dict) -> dict[tuple[str, str, str], dict]:
    """Each alarm's properties by (namespace, metric, its dimensions' values as JSON)."""
    alarms = resources_of(template, "AWS::CloudWatch::Alarm").values()
    return {(a["Properties"]["Namespace"], a["Properties"]["MetricName"],
             json.dumps([d["Value"] for d in a["Properties"]["Dimensions"]])): a["Properties"] for a in alarms}


def test_alarms_watch_executions_refused_commits_the_pipeline_s_failures_and_every_function_s_errors(sam_template):
    from chalicelib.core.observability import (
        MISSING_REGIONS,
        NAMESPACE,
        POLL_ERRORS,
        RETENTION_ERRORS,
        SERVICE,
        SWEEP_ERRORS,
        TASK_FAILURES,
    )
    from chalicelib.triggers.trust import REFUSALS_METRIC

    alarms = watched(sam_template)
    ours = {(NAMESPACE, metric, json.dumps([SERVICE])) for metric in (
        REFUSALS_METRIC, POLL_ERRORS, TASK_FAILURES, MISSING_REGIONS, RETENTION_ERRORS, SWEEP_ERRORS)}
    errors = {("AWS/Lambda", "Errors", json.dumps([{"Ref": name}])) for name in resources_of(sam_template)}
    assert len(errors) == len(registered_functions())
    assert set(alarms) == {("AWS/States", "ExecutionsFailed", '[{"Ref": "ReleaseStateMachine"}]'),
                           ("AWS/States", "ExecutionsTimedOut", '[{"Ref": "ReleaseStateMachine"}]')} | ours | errors
    for key, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], key
        assert alarm["TreatMissingData"] == "notBreaching", key
        assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "Sum", 1, "GreaterThanOrEqualToThreshold"), key
        assert alarm["AlarmDescription"], key
    for _, _, dimensions in errors:
        assert [d["Name"] for d in alarms["AWS/Lambda", "Errors", dimensions]["Dimensions"]] == ["FunctionName"]


def test_the_ssm_prefix_parameter_covers_every_stream(sam_template):
    from chalicelib.core.config import load_streams

    prefix = sam_template["Parameters"]["SsmPrefix"]["Default"]
    assert all(s.ssm_prefix == prefix for s in load_streams().streams.values())


def test_the_marketplace_access_role_of_every_product_is_the_one_the_stack_makes_and_may_pass(sam_template):
    from chalicelib.core.config import load_streams

    name = sam_template["Parameters"]["MarketplaceAccessRoleName"]["Default"]
    products = [p for s in load_streams().streams.values() for p in s.marketplace.products.values()]
    assert products and all(p.role_arn("123456789012") == f"arn:aws:iam::123456789012:role/{name}" for p in products)


def test_the_readme_deploys_the_template_through_s3_when_it_is_too_big_to_send_inline(package):
    from atomic_release.local.stack import TEMPLATE_BODY_LIMIT

    lines = (ROOT / "README.md").read_text().splitlines()
    (deploy,) = [line for line in lines if line.strip().startswith("aws cloudformation deploy ")]
    assert (package / "sam.yaml").stat().st_size <= TEMPLATE_BODY_LIMIT or "--s3-bucket" in deploy


# -- the bundle ------------------------------------------------------------------------------------

def test_the_bundle_holds_the_app_its_library_and_the_task_modules(bundle):
    assert (bundle / "app.py").is_file()
    assert (bundle / "chalicelib" / "streams.json").is_file()
    assert {p.stem for p in (bundle / "functions").glob("*.py")} >= {"launch_builder", "prepare", "finalize"}
    assert not (bundle / "tests").exists() and not (bundle / "atomic_release").exists()


def test_each_handler_the_template_names_imports_from_the_unpacked_bundle(bundle, sam_template):
    handlers = sorted({f["Properties"]["Handler"] for f in resources_of(sam_template).values()})
    code = ("import importlib, json\n"
            f"for name in {handlers!r}:\n"
            "    module, _, attribute = name.rpartition('.')\n"
            "    assert callable(getattr(importlib.import_module(module), attribute)), name\n"
            "import app, chalicelib, pydantic, boto3\n"
            "print(json.dumps([m.__file__ for m in (app, chalicelib, pydantic, boto3)]))")
    done = python_without_site_packages(code, bundle)
    assert done.returncode == 0, done.stderr
    assert all(path.startswith(str(bundle)) for path in json.loads(done.stdout)), done.stdout
    assert len(handlers) == len(registered_functions())



def test_what_api_gateway_answers_itself_says_why_in_error(transformed_template):
    (api,) = [r for r in transformed_template["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    responses = api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]

    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        template = responses[kind]["responseTemplates"]["application/json"]
        assert template == '{"error": $context.error.messageString}', kind
