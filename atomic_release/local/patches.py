"""Where moto 5.2.5 differs from AWS in ways the release depends on, made right in-process.

Installed once per process and inert until a LocalRuntime registers handlers; every patch
names the moto internal it replaces, which is why moto is pinned to one version."""

import copy
import functools
import json
import logging
import threading
import traceback
import types
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.utils import convert_tag_spec
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
    HeartbeatEndpoint,
)
from moto.stepfunctions.responses import StepFunctionResponse

from atomic_release.local import cloudformation_models, ec2_emulation, marketplace_catalog

_installed = False
_lock = threading.Lock()


@dataclass
class Dispatch:
    """Task Lambdas by their deployed name, what to run after each invocation, and whether a
    guest is still working (then a task-token wait really waits)."""

    handlers: dict[str, Callable]
    after_invoke: Callable[[], None]
    guests_working: Callable[[], bool] = lambda: False
    launched: Callable[[str, list[str]], None] = lambda region, instance_ids: None
    copied: Callable[[str, object], None] = lambda region, ami: None
    invoked: Callable[[str, dict], None] = lambda function_name, event: None
    stopped: Callable[[], None] = lambda: None
    started: Callable[[], None] = lambda: None
    invocations: int = 0


current: Dispatch | None = None


@dataclass
class LambdaContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def __post_init__(self):
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def _invoke(self, function_name, qualifier, body, headers, response_headers):
    """Run the registered handler in-process. A missing function is still ResourceNotFound, and
    an exception becomes Lambda's error document, whose errorType the ASL matches on."""
    function = self.get_function(function_name, qualifier)
    dispatch = current
    handler = dispatch.handlers.get(function.function_name) if dispatch else None
    if handler is None:
        return _original_invoke(self, function_name, qualifier, body, headers, response_headers)
    dispatch.invocations += 1
    event = json.loads(body) if body else {}
    try:
        result = handler(event, LambdaContext(function.function_name, function.function_arn))
        payload = json.dumps(result)
        dispatch.invoked(function.function_name, event)
    except Exception as error:  # noqa: BLE001 - every error is the function's error payload
        response_headers["x-amz-function-error"] = "Unhandled"
        payload = json.dumps({"errorType": type(error).__name__, "errorMessage": str(error),
                              "stackTrace": traceback.format_tb(error.__traceback__)})
    finally:
        dispatch.after_invoke()
    return payload.encode()


_original_invoke = LambdaSimpleBackend.invoke


def _no_wait(self, env, wait_seconds):
    """Wait states take no real time: the local clock jumps to the end of the wait."""


def _still_working() -> bool:
    return current is not None and current.guests_working()


def _callback_outcome_now(self, timeout=None):
    """Locally every guest acts while its launch Lambda runs, so whatever a task token will
    ever receive has arrived before the wait begins: no answer means the deadline passed.
    The exception is a guest held to be seen at work (``builder-hangs``): that wait is real."""
    while self._outcome is None and _still_working():
        self._notify_event.wait(0.05)
    return self._outcome


def _heartbeat_now(self):
    while not self._next_heartbeat_event.is_set() and _still_working():
        self._next_heartbeat_event.wait(0.05)
    with self._mutex:
        received = self._next_heartbeat_event.is_set()
        self._next_heartbeat_event.clear()
    return received


def _heartbeat_counts_early_outcome(original):
    """The heartbeat endpoint is made after the launch Lambda returns; an outcome the guest sent
    during that Lambda counts as the heartbeat the waiter looks for."""

    def setup_heartbeat_endpoint(self, heartbeat_seconds):
        endpoint = original(self, heartbeat_seconds)
        if self._outcome is not None:
            endpoint.notify()
        return endpoint

    return setup_heartbeat_endpoint


def _send_task_failure_with_cause(self):
    """moto drops SendTaskFailure's cause; the guest's log lines travel in it."""
    from moto.core.responses import EmptyResult

    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause"))
    return EmptyResult()


def _keep_registered_attributes(original):
    """register_image keeps what real EC2 keeps (moto keeps only Name and Description)."""

    def register_image(self):
        result = original(self)
        ami = self.ec2_backend.amis[result.result["ImageId"]]
        ami.architecture = self._get_param("Architecture", "x86_64")
        ami.boot_mode = self._get_param("BootMode")
        ami.ena_support = self._get_param("EnaSupport", False)
        ami.sriov = self._get_param("SriovNetSupport", "simple")
        ami.virtualization_type = self._get_param("VirtualizationType", "hvm")
        ami.root_device_name = self._get_param("RootDeviceName", ami.root_device_name)
        ami.root_device_type = "ebs"
        ami.imds_support = self._get_param("ImdsSupport")
        mappings = self._get_param("BlockDeviceMappings", [])
        root = next((m for m in mappings if m.get("DeviceName") == ami.root_device_name and "Ebs" in m), None)
        if root and root["Ebs"].get("SnapshotId"):
            moto_snapshot = ami.ebs_snapshot
            ami.ebs_snapshot = self.ec2_backend.get_snapshot(root["Ebs"]["SnapshotId"])
            ami.ebs_snapshot.from_ami = ami.id
            self.ec2_backend.snapshots.pop(moto_snapshot.id, None)
        ami.kept_block_device_mappings = _mappings(ami, mappings)
        for key, value in convert_tag_spec(self._get_param("TagSpecifications", [])).get("image", {}).items():
            ami.add_tag(key, value)
        return result

    return register_image


def _mappings(ami, requested: list[dict]) -> list[dict]:
    kept = []
    for mapping in requested:
        ebs = dict(mapping.get("Ebs", {}))
        if mapping.get("DeviceName") == ami.root_device_name:
            ebs["SnapshotId"] = ami.ebs_snapshot.id
        ebs.setdefault("VolumeSize", ami.ebs_snapshot.volume.size)
        ebs.setdefault("DeleteOnTermination", True)
        ebs.setdefault("VolumeType", "gp3")
        ebs.setdefault("Encrypted", False)
        kept.append({"DeviceName": mapping["DeviceName"], "Ebs": ebs})
    return kept


_COPIED_ATTRIBUTES = ("architecture", "boot_mode", "ena_support", "sriov", "virtualization_type",
                      "root_device_name", "root_device_type", "imds_support")


def _keep_copied_attributes(original):
    """copy_image keeps the source's boot attributes, and applies CopyImageTags and
    TagSpecifications (to the image and to the snapshot the copy creates)."""

    def copy_image(self):
        result = original(self)
        ami = self.ec2_backend.amis[result.result["ImageId"]]
        from moto.ec2.models import ec2_backends

        source_backend = ec2_backends[self.current_account][self._get_param("SourceRegion")]
        source = source_backend.amis[self._get_param("SourceImageId")]
        for name in _COPIED_ATTRIBUTES:
            if hasattr(source, name):
                setattr(ami, name, getattr(source, name))
        if hasattr(source, "kept_block_device_mappings"):
            ami.kept_block_device_mappings = [
                {**m, "Ebs": {**m["Ebs"], "SnapshotId": ami.ebs_snapshot.id}} if "SnapshotId" in m["Ebs"] else m
                for m in source.kept_block_device_mappings
            ]
        ami.ebs_snapshot.from_ami = ami.id
        if self._get_param("CopyImageTags", False):
            for tag in source.get_tags():
                if not tag["key"].startswith("aws:"):
                    ami.add_tag(tag["key"], tag["value"])
        specs = convert_tag_spec(self._get_param("TagSpecifications", []))
        for key, value in specs.get("image", {}).items():
            ami.add_tag(key, value)
        for key, value in specs.get("snapshot", {}).items():
            ami.ebs_snapshot.add_tag(key, value)
        if current is not None:
            current.copied(self.region, ami)
        return result

    return copy_image


def _block_device_mappings(original_property):
    def getter(self):
        return getattr(self, "kept_block_device_mappings", None) or original_property.fget(self)

    return property(getter)


def _stopped_stays_stopped(original):
    """An aborted execution stays ABORTED: moto lets an error raised after the stop (by the
    task the stop interrupted) turn it into FAILED."""
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    def set_error(self, error):
        if not isinstance(self._program_state, ProgramStopped):
            original(self, error)

    return set_error


def _report_launches(original):
    """Tell the runtime which instances a RunInstances call made, once it has returned: moto
    registers a reservation before its instances have their tags and disks."""

    def run_instances(self, *args, **kwargs):
        reservation = original(self, *args, **kwargs)
        if current is not None:
            current.launched(self.region_name, [instance.id for instance in reservation.instances])
        return reservation

    return run_instances


def _cache_json_path_parsing() -> None:
    """moto's interpreter parses every JSONPath anew, building a ply parser each time: most of
    a local release's CPU went there. Parsed paths are immutable, so they are cached."""
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)


def _after(original, event: str):
    """A stopped execution's held guests stop working, whoever stopped it (the API, a test)."""

    def report(self):
        response = original(self)
        if current is not None:
            getattr(current, event)()
        return response

    return report


def _before(original, event: str):
    """The guests of an execution about to start (a retry) are held again, before its first task
    can wait on one of them."""

    def report(self):
        if current is not None:
            getattr(current, event)()
        return original(self)

    return report


def _state_machine_from_cloudformation(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    """AWS::StepFunctions::StateMachine as CloudFormation makes it (moto reads DefinitionString
    only): the definition from DefinitionString, Definition or DefinitionS3Location, with its
    DefinitionSubstitutions applied; logging and tracing kept."""
    from moto.s3.models import s3_backends
    from moto.stepfunctions.responses import get_backend

    properties = cloudformation_json["Properties"]
    if "DefinitionS3Location" in properties:
        location = properties["DefinitionS3Location"]
        stored = s3_backends[account_id]["aws"].get_object(location["Bucket"], location["Key"])
        definition = stored.value.decode()
    elif "Definition" in properties:
        definition = json.dumps(properties["Definition"])
    else:
        definition = properties.get("DefinitionString", "")
    for name, value in properties.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + name + "}", str(value))
    return get_backend(account_id, region_name).create_state_machine(
        properties.get("StateMachineName", resource_name), definition, properties.get("RoleArn", ""),
        loggingConfiguration=_lower_keys(properties.get("LoggingConfiguration")),
        tracingConfiguration=_lower_keys(properties.get("TracingConfiguration")),
        sm_type=properties.get("StateMachineType"))


def _rest_api_from_its_body(original):
    """A RestApi made from an OpenAPI Body takes its name from the body's title and its routes
    from its paths (moto needs Name, and imports only OpenAPI 3 bodies: chalice writes Swagger 2,
    whose paths read the same for this)."""

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.apigateway.models import apigateway_backends

        properties = cloudformation_json["Properties"]
        body = properties.get("Body") or {}
        properties.setdefault("Name", body.get("info", {}).get("title", resource_name))
        api = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        if body.get("paths"):
            routes = {key: value for key, value in body.items() if key != "swagger"}
            apigateway_backends[account_id][region_name].put_rest_api(api.id, routes, fail_on_warnings=False)
        return api

    return classmethod(create)


def _rule_delivers_to_lambda(original):
    """EventBridge as it is for this stack's rules: a schedule rule (no pattern) receives no
    events (moto matches it to every event), and a matching rule's Lambda target is invoked with
    the event (moto raises NotImplementedError). Delivery is asynchronous on AWS: a function's
    error stays with the function."""

    def send_to_targets(self, original_event, transform_input=True):
        if self.scheduled_expression and not self.event_pattern._pattern:
            return
        if not self.event_pattern.matches_event(original_event):
            return
        lambdas = [t for t in self.targets if t["Arn"].split(":")[2] == "lambda"]
        others = copy.copy(self)  # rules are shared by every thread that puts events
        others.targets = [t for t in self.targets if t not in lambdas]
        original(others, original_event, transform_input)
        for target in lambdas:
            _invoke_target(target["Arn"], original_event)

    return send_to_targets


def _invoke_target(function_arn: str, event: dict) -> None:
    from moto.awslambda.models import lambda_backends

    _, _, _, region, account, _, name = function_arn.split(":")[:7]
    lambda_backends[account][region].invoke(name, None, json.dumps(event), {}, {})


def _goes_with_its_instance(attachment) -> bool:
    """DescribeVolumes' DeleteOnTermination of an attachment (moto leaves it out)."""
    mapping = attachment.instance.block_device_mapping.get(attachment.device)
    return bool(mapping and mapping.delete_on_termination)


def _lower_keys(value):
    """CloudFormation's ``LogGroupArn`` is the API's ``logGroupArn``."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _lower_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_lower_keys(item) for item in value]
    return value


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        LambdaSimpleBackend.invoke = _invoke
        WaitFunction._wait_interval = _no_wait
        retrier_decl.time = types.SimpleNamespace(sleep=lambda seconds: None)
        CallbackEndpoint.wait = _callback_outcome_now
        HeartbeatEndpoint.clear_and_wait = _heartbeat_now
        CallbackEndpoint.setup_heartbeat_endpoint = _heartbeat_counts_early_outcome(
            CallbackEndpoint.setup_heartbeat_endpoint)
        StepFunctionResponse.send_task_failure = _send_task_failure_with_cause
        StepFunctionResponse.stop_execution = _after(StepFunctionResponse.stop_execution, "stopped")
        StepFunctionResponse.start_execution = _before(StepFunctionResponse.start_execution, "started")
        AmisResponse.register_image = _keep_registered_attributes(AmisResponse.register_image)
        AmisResponse.copy_image = _keep_copied_attributes(AmisResponse.copy_image)
        from moto.ec2.models.amis import Ami

        Ami.block_device_mappings = _block_device_mappings(Ami.block_device_mappings)
        from moto.ec2.models.elastic_block_store import VolumeAttachment

        VolumeAttachment.delete_on_termination = property(_goes_with_its_instance)
        _cache_json_path_parsing()
        ec2_emulation.install()
        marketplace_catalog.install()
        from moto.ec2.models.instances import InstanceBackend

        InstanceBackend.run_instances = _report_launches(InstanceBackend.run_instances)
        from moto.stepfunctions.parser.asl.eval.environment import Environment

        Environment.set_error = _stopped_stays_stopped(Environment.set_error)
        from moto.stepfunctions.models import StateMachine

        StateMachine.create_from_cloudformation_json = classmethod(_state_machine_from_cloudformation)
        from moto.apigateway.models import RestAPI

        RestAPI.create_from_cloudformation_json = _rest_api_from_its_body(RestAPI.create_from_cloudformation_json)
        cloudformation_models.install()
        from moto.events.models import Rule

        Rule.send_to_targets = _rule_delivers_to_lambda(Rule.send_to_targets)
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        _installed = True
