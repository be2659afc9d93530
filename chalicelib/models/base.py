"""The base of the models: a field the JSON does not define is refused, not ignored."""

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
