"""Failures as the state machine carries them: what a Catch hands on, the failure with the stage
it happened in, and the error a Fail state raises."""

import json

from pydantic import BaseModel, ConfigDict

from chalicelib.core.arch import Arch
from chalicelib.models.base import Model


def readable_cause(cause: str) -> str:
    """A Catch hands on a Lambda error document as the cause: keep its type and message."""
    if cause.startswith("{"):
        try:
            document = json.loads(cause)
        except ValueError:
            return cause
        if isinstance(document, dict) and "errorMessage" in document:
            return f"{document.get('errorType', 'Error')}: {document['errorMessage']}"
    return cause


_RESERVED_ERRORS = {"States.Timeout": "TaskTimedOut", "States.HeartbeatTimeout": "HeartbeatTimedOut"}


class Failure(Model):
    """A caught error with the stage (and architecture) it happened in."""

    stage: str
    arch: Arch | None = None
    error: str
    cause: str = ""

    @property
    def rethrowable_error(self) -> str:
        """The error name a Fail state may raise: names beginning ``States.`` are reserved."""
        return _RESERVED_ERRORS.get(self.error, self.error.removeprefix("States."))


class Caught(BaseModel):
    """What a Catch hands on: Step Functions' own field names."""

    model_config = ConfigDict(extra="ignore")
    Error: str
    Cause: str | None = None

    def in_stage(self, stage: str, arch: Arch | None = None) -> Failure:
        return Failure(stage=stage, arch=arch, error=self.Error, cause=self.Cause or "")


class CaughtInStage(Model):
    """What a failure Pass state makes of a Catch: the stage, and what was caught."""

    stage: str = "build"
    caught: Caught


class ErrorToRaise(Model):
    """A failure handed on to a Fail state, which raises ``error`` with ``cause`` (its ErrorPath
    and CausePath)."""

    error: str
    cause: str
