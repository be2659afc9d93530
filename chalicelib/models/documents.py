"""The documents atomic-release writes: Fedora CoreOS's shapes (stream_metadata.py, unchanged)
with the few fields that shape has no place for, each in a small subclass. Ours validate
strictly against these; the Go library reads them as its own types, ignoring the extra keys.

- ``commit-signature`` (a release's architecture): who signed the ostree commit.
- ``artifacts-signature`` (an architecture of the stream and of a release): present when the
  architecture's downloads have no detached signature, saying why.
- ``artifacts-signed-by`` (a release's architecture): the fingerprint of the key whose
  signatures are beside its downloads (its certificate: ``streams/<stream>/artifact-signing-key.asc``).
- ``missing-regions`` (a release): each region the release did not reach, with why.
- ``commit-time`` (a release of the index): when its newest commit was made; the index is in
  that order, and the stream document moves only forwards by it."""

from typing import Any, TypeVar

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from chalicelib.models.signature import SignatureCheck
from chalicelib.models.stream_metadata import (
    IndexRelease,
    Release,
    ReleaseArch,
    ReleaseIndex,
    Stream,
    StreamArch,
    _Document,
)

UNSIGNED_ARTIFACTS = "none: the stream has no artifact signing key"


class CommitSignature(_Document):
    """What detection found of an architecture's commit signatures."""

    verified: bool
    signed_by: str | None = Field(alias="signed-by", description="the trusted key whose signature counts; null: none")
    signers: list[str]
    reason: str

    @model_serializer(mode="wrap")
    def _signed_by_even_when_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``signed-by: null`` says no trusted key signed: it stays when None fields are left out."""
        dumped = handler(self)
        dumped.setdefault("signed-by", self.signed_by)
        return dumped

    @classmethod
    def of(cls, check: SignatureCheck) -> "CommitSignature":
        return cls(verified=check.verified, signed_by=check.signed_by, signers=check.signers, reason=check.reason)


class AtomicStreamArch(StreamArch):
    artifacts_signature: str | None = Field(default=None, alias="artifacts-signature",
                                            description="why the downloads have no signature; absent: signed")


class AtomicStream(Stream):
    """``streams/<stream>.json`` as atomic-release writes it."""

    architectures: dict[str, AtomicStreamArch]  # type: ignore[assignment]  # pydantic narrows a field so


class AtomicReleaseArch(ReleaseArch):
    commit_signature: CommitSignature | None = Field(default=None, alias="commit-signature")
    artifacts_signature: str | None = Field(default=None, alias="artifacts-signature",
                                            description="why the downloads have no signature; absent: signed")
    artifacts_signed_by: str | None = Field(default=None, alias="artifacts-signed-by",
                                            description="the fingerprint of the key that signed the downloads")


class AtomicRelease(Release):
    """``streams/<stream>/releases/<version>.json`` as atomic-release writes it."""

    architectures: dict[str, AtomicReleaseArch]  # type: ignore[assignment]
    missing_regions: dict[str, str] = Field(default_factory=dict, alias="missing-regions",
                                            description="region -> the stage and reason it was not reached")



class AtomicIndexRelease(IndexRelease):
    commit_time: str = Field(alias="commit-time", description="the newest commit's time, UTC: the index's order")


class AtomicReleaseIndex(ReleaseIndex):
    """``streams/<stream>/releases.json`` as atomic-release writes it, oldest commit first."""

    releases: list[AtomicIndexRelease]  # type: ignore[assignment]


# Any of the three documents, read or written through its model.
Document = TypeVar("Document", AtomicStream, AtomicReleaseIndex, AtomicRelease)
