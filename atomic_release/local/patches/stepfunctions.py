"""Step Functions: local time (waits and retries take none, a task-token wait ends with what the
guest said), a new task token for each attempt, SendTaskFailure's cause, stop and start reported
to the runtime, an aborted execution staying ABORTED, cached JSONPath parsing, the state
machine CloudFormation makes, and an execution's history read a page at a time."""

import functools
import json
import logging
import types

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
    HeartbeatEndpoint,
)
from moto.stepfunctions.responses import StepFunctionResponse

from atomic_release.local import patches


def _no_wait(self, env, wait_seconds):
    """Wait states take no real time: the local clock jumps to the end of the wait."""


def _still_working() -> bool:
    return patches.current is not None and patches.current.guests_working()


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


def _stopped_stays_stopped(original):
    """An aborted execution stays ABORTED: moto lets an error raised after the stop (by the
    task the stop interrupted) turn it into FAILED."""
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    def set_error(self, error):
        if not isinstance(self._program_state, ProgramStopped):
            original(self, error)

    return set_error


def _cache_json_path_parsing() -> None:
    """moto's interpreter parses every JSONPath anew, building a ply parser each time: most of
    a local release's CPU went there. Parsed paths are immutable, so they are cached."""
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)


def _reported_stop(original):
    """A stopped execution's held guests stop working, whoever stopped it (the API, a test), and
    its end reaches the rule on it, as EventBridge delivers it on AWS."""

    def report(self):
        response = original(self)
        if patches.current is not None:
            patches.current.stopped(self._get_param("executionArn"))
        return response

    return report


def _before(original, event: str):
    """The guests of an execution about to start (a retry) are held again, before its first task
    can wait on one of them."""

    def report(self):
        if patches.current is not None:
            getattr(patches.current, event)()
        return original(self)

    return report


def _new_token_per_attempt(original):
    """A retried ``.waitForTaskToken`` task gets a new task token, as on AWS: moto makes one
    when the state is entered and keeps it through its retries, so a guest launched by a failed
    attempt could still answer the attempt after it."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition

    def eval_execution(self, env):
        retried = env.states.context_object.context_object_data["State"].get("RetryCount", 0) > 0
        if retried and self._is_integration_pattern() \
                and ResourceCondition.WaitForTaskToken in self._supported_integration_patterns:
            env.callback_pool_manager.add(env.states.context_object.update_task_token())
        original(self, env)

    return eval_execution


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
        if stored is None:
            raise ValueError(f"DefinitionS3Location: no object s3://{location['Bucket']}/{location['Key']}")
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


HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX = 100, 1000


def _paged_history(self):
    """GetExecutionHistory pages as on AWS: maxResults (100 unless given, at most 1000),
    reverseOrder, and a nextToken to the next page (moto answers every event, oldest first)."""
    from moto.stepfunctions.responses import ActionResult

    events = self.stepfunction_backend.get_execution_history(self._get_param("executionArn"))["events"]
    if self._get_param("reverseOrder"):
        events = events[::-1]
    size = min(int(self._get_param("maxResults") or HISTORY_PAGE_DEFAULT), HISTORY_PAGE_MAX)
    start = int(self._get_param("nextToken") or 0)
    page: dict = {"events": events[start:start + size]}
    if start + size < len(events):
        page["nextToken"] = str(start + size)
    return ActionResult(page)


def _lower_keys(value):
    """CloudFormation's ``LogGroupArn`` is the API's ``logGroupArn``."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _lower_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_lower_keys(item) for item in value]
    return value


def install() -> None:
    WaitFunction._wait_interval = _no_wait
    # the retrier reads only time.sleep: a namespace whose sleep returns at once stands in for the module
    retrier_decl.time = types.SimpleNamespace(sleep=lambda seconds: None)  # type: ignore[assignment]
    CallbackEndpoint.wait = _callback_outcome_now
    HeartbeatEndpoint.clear_and_wait = _heartbeat_now
    CallbackEndpoint.setup_heartbeat_endpoint = _heartbeat_counts_early_outcome(
        CallbackEndpoint.setup_heartbeat_endpoint)
    StepFunctionResponse.send_task_failure = _send_task_failure_with_cause
    StepFunctionResponse.get_execution_history = _paged_history
    StepFunctionResponse.stop_execution = _reported_stop(StepFunctionResponse.stop_execution)
    StepFunctionResponse.start_execution = _before(StepFunctionResponse.start_execution, "started")
    _cache_json_path_parsing()
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    Environment.set_error = _stopped_stays_stopped(Environment.set_error)
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )

    StateTaskServiceCallback._eval_execution = _new_token_per_attempt(StateTaskServiceCallback._eval_execution)
    from moto.stepfunctions.models import StateMachine

    StateMachine.create_from_cloudformation_json = classmethod(  # type: ignore[assignment]
        _state_machine_from_cloudformation)
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
