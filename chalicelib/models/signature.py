"""What a commit's (or a summary's) signatures were found to be."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from chalicelib.models.base import Model

SignatureStatus = Literal["signed", "not-verified", "unsigned", "not-checked"]


class SignatureCheck(Model):
    verified: bool = Field(description="at least one signature is valid and by a key trusted now")
    signers: list[str] = Field(default_factory=list, description="fingerprints of the keys that made the "
                                                                 "signatures found, trusted or not")
    signed_by: str | None = Field(default=None, description="the trusted key whose signature counts")
    reason: str = Field(description="who signed, or what was found wrong")
    valid_until: datetime | None = Field(default=None, description="when the key behind a verified signature "
                                                                   "expires: the verdict holds until then")

    @property
    def status(self) -> SignatureStatus:
        """signed: by a trusted key; not-verified: signatures were found, none that counts;
        unsigned: no signature was found at all."""
        if self.verified:
            return "signed"
        return "not-verified" if self.signers else "unsigned"

    @property
    def summary(self) -> str:
        """One line: ``signed by <fingerprint>``, or why it is not."""
        if self.verified:
            return f"signed by {self.signed_by}"
        return f"{'not verified' if self.signers else 'unsigned'}: {self.reason}"


def status_of(check: SignatureCheck | None) -> SignatureStatus:
    return check.status if check is not None else "not-checked"


def summary_of(check: SignatureCheck | None) -> str:
    """A check's one line; None is a commit whose signature nobody checked (a synthetic release,
    a release recorded before signatures were checked)."""
    return check.summary if check is not None else "not checked: the signature was not read when the release started"
