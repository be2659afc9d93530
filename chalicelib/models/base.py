"""The base of the models: a field the JSON does not define is refused, not ignored; and the
one checksum type every edge and model checks a commit checksum or a file's digest with."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

SHA256_PATTERN = r"^[0-9a-f]{64}$"
# An ostree commit checksum or a file's sha256: 64 lowercase hex digits. The webhook, the
# EventBridge events, the API and the release models all take a checksum as this type.
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN, description="a SHA-256 digest: 64 lowercase hex digits")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
