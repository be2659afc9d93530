"""Records every AWS call each Lambda function makes while local releases run.

A call belongs to the function whose handler is running in the calling thread: the handler sets
a context variable, which ThreadPoolExecutor workers inherit here (chalicelib fans out to
regions with them). Calls made outside any handler (moto's Step Functions interpreter invoking a
Lambda, the instance simulator playing a guest, a test's own setup) belong to no function and
are not recorded, and neither are calls moto makes while it serves a function's call."""

import contextvars
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.core.tags import as_dict
from tests.infra.policies import as_list

current_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_function", default=None)
_serving: contextvars.ContextVar[bool] = contextvars.ContextVar("serving", default=False)

# EC2 operations that act on existing resources: operation -> the parameter naming them, their kind.
EC2_ON_EXISTING = {
    "TerminateInstances": ("InstanceIds", "instance"), "DeleteVolume": ("VolumeId", "volume"),
    "DeregisterImage": ("ImageId", "image"), "ModifyImageAttribute": ("ImageId", "image"),
    "EnableImageDeprecation": ("ImageId", "image"), "DeleteSnapshot": ("SnapshotId", "snapshot"),
    "ModifySnapshotAttribute": ("SnapshotId", "snapshot"), "DescribeSnapshotAttribute": ("SnapshotId", "snapshot"),
    "DescribeImageAttribute": ("ImageId", "image"), "EnableImageDeregistrationProtection": ("ImageId", "image"),
    "DisableImageDeregistrationProtection": ("ImageId", "image"),
}
# Those and the existing resources of calls that create others: the policies' conditions name
# their tags, which are read before the call changes them.
_READ_TAGS_OF = {**EC2_ON_EXISTING, "CreateSnapshot": ("VolumeId", "volume"), "RunInstances": ("ImageId", "image")}
# kind -> (describe operation, its ids parameter, what the answer lists them in, their id field)
_DESCRIBE = {
    "instance": ("describe_instances", "InstanceIds", "Reservations", "InstanceId"),
    "volume": ("describe_volumes", "VolumeIds", "Volumes", "VolumeId"),
    "image": ("describe_images", "ImageIds", "Images", "ImageId"),
    "snapshot": ("describe_snapshots", "SnapshotIds", "Snapshots", "SnapshotId"),
}


@dataclass
class Call:
    function: str
    service: str  # botocore's name: "ec2", "stepfunctions", "marketplace-catalog", ...
    operation: str  # "RunInstances"
    region: str
    params: dict
    error: str | None  # AWS's error code when the call failed
    tags: dict[str, dict[str, str] | None] = field(default_factory=dict)  # resource id -> tags; None: gone

    def __str__(self) -> str:
        return f"{self.function}: {self.service} {self.operation} in {self.region}"


@dataclass
class CallRecorder:
    calls: list[Call] = field(default_factory=list)
    invoked: set[str] = field(default_factory=set)
    running: int = 0  # handlers running now
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        """What runs inside is ``function``'s handler."""
        with self._lock:
            self.invoked.add(function)
            self.running += 1
        token = current_function.set(function)
        try:
            yield
        finally:
            current_function.reset(token)
            with self._lock:
                self.running -= 1

    def handler(self, function: str, handler: Callable) -> Callable:
        def recorded(event, context):
            with self.acting_as(function):
                return handler(event, context)

        return recorded

    @contextmanager
    def recording(self) -> Iterator["CallRecorder"]:
        """Patch botocore (every client's calls) and ThreadPoolExecutor for the duration."""
        original_call, original_submit = BaseClient._make_api_call, ThreadPoolExecutor.submit
        recorder = self

        def make_api_call(aws_client, operation, params):
            return recorder._call(original_call, aws_client, operation, params)

        def submit(pool, fn, /, *args, **kwargs):
            return original_submit(pool, contextvars.copy_context().run, fn, *args, **kwargs)

        BaseClient._make_api_call, ThreadPoolExecutor.submit = make_api_call, submit
        try:
            yield self
        finally:
            BaseClient._make_api_call, ThreadPoolExecutor.submit = original_call, original_submit

    def _call(self, original: Callable, aws_client: BaseClient, operation: str, params: dict):
        function = current_function.get()
        if function is None or _serving.get():
            return original(aws_client, operation, params)
        token = _serving.set(True)
        try:
            call = Call(function, aws_client.meta.service_model.service_name, operation,
                        aws_client.meta.region_name, dict(params), None)
            call.tags = _tags_before(call)
            try:
                return original(aws_client, operation, params)
            except ClientError as error:
                call.error = error.response["Error"]["Code"]
                raise
            finally:
                with self._lock:
                    self.calls.append(call)
        finally:
            _serving.reset(token)

    def functions_calling(self) -> set[str]:
        return {call.function for call in self.calls}


def _tags_before(call: Call) -> dict[str, dict[str, str] | None]:
    """The tags of the existing EC2 resources the call names, read before it changes them."""
    if call.service != "ec2":
        return {}
    named: list[tuple[str, str, str]] = []  # (region, kind, id)
    if call.operation in _READ_TAGS_OF:
        parameter, kind = _READ_TAGS_OF[call.operation]
        named += [(call.region, kind, resource_id) for resource_id in as_list(call.params.get(parameter) or [])]
    if call.operation == "RegisterImage":
        named += [(call.region, "snapshot", mapping["Ebs"]["SnapshotId"])
                  for mapping in call.params.get("BlockDeviceMappings", []) if mapping.get("Ebs", {}).get("SnapshotId")]
    if call.operation == "CopyImage":
        named.append((call.params["SourceRegion"], "image", call.params["SourceImageId"]))
    return {resource_id: _tags_of(region, kind, resource_id) for region, kind, resource_id in named}


def _tags_of(region: str, kind: str, resource_id: str) -> dict[str, str] | None:
    """The resource's tags; None when it does not exist (any more)."""
    describe, ids, listing, id_field = _DESCRIBE[kind]
    try:
        answer = getattr(client("ec2", region), describe)(**{ids: [resource_id]})
    except ClientError:
        return None
    items = [i for r in answer[listing] for i in r["Instances"]] if kind == "instance" else answer[listing]
    found = [item for item in items if item[id_field] == resource_id]
    return as_dict(found[0].get("Tags")) if found else None
