"""What the poller remembers of a stream between polls, kept in the trigger-state table."""

from datetime import datetime

from pydantic import ConfigDict, Field, field_serializer

from chalicelib.models.base import Model, Sha256
from chalicelib.models.signature import SignatureCheck


class KnownHead(Model):
    """A ref's head as a poll read it: the commit, with its version and time already verified, and
    the verdict on its signatures with the digest of the keys that reached it."""

    checksum: Sha256
    version: str | None
    timestamp: datetime | None
    signature: SignatureCheck | None = None
    trust_digest: str | None = Field(default=None, description="the digest of the trusted keys the signature "
                                                               "was judged against")

    @field_serializer("timestamp")
    def _iso_format(self, timestamp: datetime | None) -> str | None:
        return timestamp.isoformat() if timestamp else None


class PollState(Model):
    """A stream's poll state: the stored document, and the generation a write must find to
    succeed. A key a document lacks (one written before the key existed) takes its default."""

    model_config = ConfigDict(extra="ignore")

    generation: int = Field(default=0, exclude=True, description="the item's, beside the document: 0 when none")
    etag: str | None = None
    last_modified: str | None = None
    heads: dict[str, KnownHead] = Field(default_factory=dict, description="ref -> its head at the last poll")
    pending: str | None = Field(default=None, description="the release being started")
    released: str | None = Field(default=None, description="the release last started")
    released_version: str | None = None
    released_arches: list[str] = Field(default_factory=list)
