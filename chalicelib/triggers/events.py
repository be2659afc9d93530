"""Commit events on EventBridge: Fedora's messages for new ostree commits (pungi), and Fedora
CoreOS build state changes. An event that does not fit is logged with the reason and dropped."""

from typing import Literal, get_args

from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.core.arch import ec2_arch
from chalicelib.core.config import describe_validation_error, load_streams
from chalicelib.core.errors import ReleaseError
from chalicelib.core.observability import logger
from chalicelib.models.base import Sha256
from chalicelib.triggers import detect

# What the rules route (app.py) and the handlers check again: an event of another detail-type
# given to a handler is dropped, not read as the one it expects.
Source = Literal["org.fedoraproject"]
PungiOstreeType = Literal["org.fedoraproject.prod.pungi.compose.ostree"]
CoreosBuildStateType = Literal["org.fedoraproject.prod.coreos.build.state.change"]
SOURCE: str = get_args(Source)[0]
PUNGI_OSTREE: str = get_args(PungiOstreeType)[0]
COREOS_BUILD_STATE: str = get_args(CoreosBuildStateType)[0]


class _Event(EventBridgeModel):
    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value):
        return str(value)  # EventBridge sends "0"; some emitters (chalice's test client) send 0


class PungiOstree(BaseModel):
    model_config = ConfigDict(extra="allow")
    ref: str
    commitid: Sha256
    arch: str
    compose_id: str | None = None
    release_version: str | None = None


class PungiOstreeEvent(_Event):
    """The rule routes only these; the handler checks again what it was given."""

    source: Source
    detail_type: PungiOstreeType = Field(alias="detail-type")
    detail: PungiOstree


class CoreosBuildState(BaseModel):
    model_config = ConfigDict(extra="allow")
    build_id: str
    basearch: str
    stream: str
    state: str
    result: str | None = None


class CoreosBuildStateEvent(_Event):
    source: Source
    detail_type: CoreosBuildStateType = Field(alias="detail-type")
    detail: CoreosBuildState


class Handled(BaseModel):
    outcome: Literal["considered", "dropped"]
    reason: str
    decision: detect.Decision | None = None


def _dropped(reason: str, event: dict) -> Handled:
    logger.warning("event dropped", extra={"reason": reason, "event_id": event.get("id")})
    return Handled(outcome="dropped", reason=reason)


def _consider(stream: str, announced: dict | None, event: dict) -> Handled:
    try:
        decision = detect.consider(stream, "event", announced)
    except ReleaseError as error:
        return _dropped(f"{type(error).__name__}: {error}", event)
    return Handled(outcome="considered", reason=decision.reason, decision=decision)


def on_pungi_ostree(event: dict) -> Handled:
    try:
        message = parse(event=event, model=PungiOstreeEvent).detail
    except ValidationError as error:
        return _dropped(describe_validation_error(error, "pungi.compose.ostree"), event)
    try:
        arch = ec2_arch(message.arch)
    except ValueError as error:
        return _dropped(str(error), event)
    streams = [s for s in load_streams().streams.values() if s.refs.get(arch) == message.ref]
    if not streams:
        return _dropped(f"no stream builds ref {message.ref!r}", event)
    return _consider(streams[0].name, {arch: message.commitid}, event)


def on_coreos_build_state(event: dict) -> Handled:
    try:
        message = parse(event=event, model=CoreosBuildStateEvent).detail
    except ValidationError as error:
        return _dropped(describe_validation_error(error, "coreos.build.state.change"), event)
    if message.state != "FINISHED" or message.result != "SUCCESS":
        return _dropped(f"build {message.build_id} is {message.state}/{message.result}, not FINISHED/SUCCESS", event)
    try:
        ec2_arch(message.basearch)
    except ValueError as error:
        return _dropped(str(error), event)
    if message.stream not in load_streams().streams:
        return _dropped(f"stream {message.stream!r} is not configured", event)
    return _consider(message.stream, None, event)
