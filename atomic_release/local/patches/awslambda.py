"""Lambda: a task Lambda the runtime registered runs in-process, as its deployed function."""

import json
import traceback
import uuid
from dataclasses import dataclass

from moto.awslambda_simple.models import LambdaSimpleBackend

from atomic_release.local import patches


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
    dispatch = patches.current
    handler = dispatch.handlers.get(function.function_name) if dispatch else None
    if dispatch is None or handler is None:
        return _original_invoke(self, function_name, qualifier, body, headers, response_headers)
    dispatch.invocations += 1
    event = json.loads(body) if body else {}
    dispatch.invoking(function.function_name, event)   # the runtime's own error, never the task's
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


def install() -> None:
    LambdaSimpleBackend.invoke = _invoke
