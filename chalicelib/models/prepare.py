"""Prepare: its task, and the plan it hands the state machine."""

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from chalicelib.models.base import Model
from chalicelib.models.build import BuiltImage
from chalicelib.models.marketplace import MarketplaceProgress
from chalicelib.models.release import PlannedArch, ReleaseInput


class PrepareTask(Model):
    release: ReleaseInput
    execution_arn: str


class ReleasePlan(Model):
    """Prepare's plan, the state every later state reads. What a run lacks is left out rather
    than null: AlreadyBuilt asks whether ``images`` is present, MarketplaceSettled whether
    ``marketplace.started_at`` is."""

    release_id: str
    stream: str
    version: str
    attempt: int
    base_region: str
    copy_concurrency: int
    arches: list[PlannedArch]
    regions: list[str]
    images: list[BuiltImage] | None = Field(default=None, description="a fill-in run's: the images the release "
                                                                      "built")
    marketplace: MarketplaceProgress

    @model_serializer(mode="wrap")
    def _absent_rather_than_null(self, serialize: SerializerFunctionWrapHandler) -> dict:
        return _without_none(serialize(self))


def _without_none(value):
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value
