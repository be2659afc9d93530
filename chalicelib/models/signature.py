"""What a commit's (or a summary's) signatures were found to be."""

from pydantic import Field

from chalicelib.models.base import Model


class SignatureCheck(Model):
    verified: bool = Field(description="at least one signature is valid and by a key trusted now")
    signers: list[str] = Field(default_factory=list, description="fingerprints of the keys that made the "
                                                                 "signatures found, trusted or not")
    signed_by: str | None = Field(default=None, description="the trusted key whose signature counts")
    reason: str = Field(description="who signed, or what was found wrong")
