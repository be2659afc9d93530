"""OpenPGP signatures over ostree commits and summaries, judged as ostree judges them: the bytes
count as signed when at least one signature is valid and made by a trusted key that is valid now.

The signatures are the detached metadata's ``ostree.gpgsigs`` (``aay``): binary detached
signatures over the commit object's (or the summary's) bytes, in signing order. Verification is
in-process (pysequoia, Sequoia-PGP's bindings), with no gpg binary at run time."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pysequoia import Cert, Sig, verify

from chalicelib.core.errors import UnreadableSignatures
from chalicelib.core.trusted_keys import KeyFacts, Trust, TrustedKey, first_line, upper_fingerprint
from chalicelib.models.signature import SignatureCheck
from chalicelib.ostree.gvariant import GVariantError, decode

SIGNATURES_KEY = "ostree.gpgsigs"
# Bounds on what one commit's metadata may cost to judge and to report: a distribution signs
# with one or two keys, and a reason is stored in the poll state and answered to callers.
MAX_METADATA_BYTES = 64 * 1024
MAX_SIGNATURES = 8


def detached_signatures(metadata: bytes) -> list[bytes]:
    """The signatures in a commit's ``.commitmeta`` or a ``summary.sig``.
    Raises UnreadableSignatures, and only that, for bytes that are not such metadata."""
    try:
        entries = decode("a{sv}", metadata)
    except (GVariantError, ValueError, IndexError, OverflowError, UnicodeDecodeError, RecursionError) as error:
        raise UnreadableSignatures(f"the detached metadata does not parse ({error})") from None
    signatures = entries.get(SIGNATURES_KEY)
    if signatures is None:
        raise UnreadableSignatures(f"the detached metadata has no {SIGNATURES_KEY}")
    if not isinstance(signatures, list) or not all(isinstance(s, bytes) for s in signatures):
        raise UnreadableSignatures(f"the detached metadata's {SIGNATURES_KEY} is not a list of byte strings (aay)")
    if not signatures:
        raise UnreadableSignatures(f"the detached metadata's {SIGNATURES_KEY} is empty")
    return signatures


@dataclass(frozen=True)
class _Verdict:
    signer: str
    signed_by: str | None    # the trusted key's primary fingerprint when the signature counts
    reason: str
    valid_until: datetime | None = None   # when the signing key (or its primary) expires


def check(signed: bytes, metadata: bytes | None, trust: Trust, now: datetime | None = None,
          what: str = "commit") -> SignatureCheck:
    """Whether ``signed`` (a commit object's or summary's bytes) is signed by a trusted key, given
    its detached metadata (None when there is none). Never raises: every failure is a reason.
    With no trusted key, nothing verifies, and the reason says so before what was found."""
    now = now or datetime.now(UTC)
    found = _found(signed, metadata, trust, now if now.tzinfo else now.replace(tzinfo=UTC), what)
    if not trust.keys:
        return found.model_copy(update={"reason": f"no trusted key was given; {found.reason}"})
    return found


def _found(signed: bytes, metadata: bytes | None, trust: Trust, now: datetime, what: str) -> SignatureCheck:
    if metadata is None:
        return SignatureCheck(verified=False, reason=f"the {what} has no detached metadata: it is not signed")
    if len(metadata) > MAX_METADATA_BYTES:
        return SignatureCheck(verified=False, reason=f"the detached metadata is {len(metadata)} bytes, more than "
                                                     f"the {MAX_METADATA_BYTES} read")
    try:
        signatures = detached_signatures(metadata)
    except UnreadableSignatures as unreadable:
        return SignatureCheck(verified=False, reason=str(unreadable))
    verdicts = [_judge(signed, raw, n, trust, now, what) for n, raw in enumerate(signatures[:MAX_SIGNATURES], 1)]
    if len(signatures) > MAX_SIGNATURES:
        verdicts.append(_Verdict("", None, f"{len(signatures) - MAX_SIGNATURES} more signatures were not read"))
    signers = list(dict.fromkeys(v.signer for v in verdicts if v.signer))
    good = next((v for v in verdicts if v.signed_by), None)
    if good is not None:
        return SignatureCheck(verified=True, signers=signers, signed_by=good.signed_by, reason=good.reason,
                              valid_until=good.valid_until)
    return SignatureCheck(verified=False, signers=signers, reason="; ".join(v.reason for v in verdicts))


def _judge(signed: bytes, raw: bytes, number: int, trust: Trust, now: datetime, what: str) -> _Verdict:
    try:
        signature = Sig.from_bytes(raw)
        issuer = upper_fingerprint(signature.issuer_fingerprint or signature.issuer_key_id)
    except Exception as error:  # noqa: BLE001 - Sequoia's errors are plain exceptions
        return _Verdict("", None, f"signature {number} does not parse ({first_line(error)})")
    held = trust.holding(issuer)
    if held is None:
        return _Verdict(issuer, None, f"signature {number} is by {issuer or 'an unnamed key'}, which is not trusted")
    key, facts = held
    primary = key.keys[key.fingerprint]
    refusal = _unusable(key, primary, facts, now)
    if refusal:
        return _Verdict(key.fingerprint, None, f"signature {number} is by trusted key {key.fingerprint}, {refusal}")
    if not _valid(signed, signature, key.cert):
        if unchecked := _predates_bindings(signature, primary, facts):
            return _Verdict(key.fingerprint, None, f"signature {number} by trusted key {key.fingerprint} {unchecked}")
        return _Verdict(key.fingerprint, None, f"signature {number} by trusted key {key.fingerprint} does not match "
                                               f"the {what}'s bytes")
    expiries = [part.expires for part in (primary, facts) if part.expires is not None]
    return _Verdict(key.fingerprint, key.fingerprint, f"signed by {key.fingerprint}", min(expiries, default=None))


def _unusable(key: TrustedKey, primary: KeyFacts, facts: KeyFacts, now: datetime) -> str | None:
    """What makes a trusted key unusable now, whenever it signed: ostree asks for a key valid now,
    and Sequoia accepts a key that expired after signing."""
    if key.cert.is_revoked or primary.revoked or facts.revoked:
        return "which is revoked"
    for part in (primary, facts):
        if part.expires is not None and part.expires <= now:
            which = "which" if part is primary else f"whose signing subkey {part.fingerprint}"
            return f"{which} expired on {part.expires:%Y-%m-%d}"
    return None


def _predates_bindings(signature: Sig, primary: KeyFacts, facts: KeyFacts) -> str | None:
    """Why Sequoia, which judges a key as it was when it signed, could not check the signature at
    all: the trusted copy of the key has no self-signature that old. gpg keeps only the newest
    self-signature when a key's expiry is changed, so signatures made before an extension are
    refused here, though ostree (gpg) accepts them."""
    made = signature.created
    since = max((part.bound_since for part in (primary, facts) if part.bound_since), default=None)
    if made is None or since is None or made >= since:
        return None
    return (f"cannot be checked: it was made on {made:%Y-%m-%d}, before the key's earliest self-signature "
            f"({since:%Y-%m-%d}) in the trusted copy; trust a copy that keeps the key's older self-signatures, "
            f"or sign again")


def _valid(signed: bytes, signature: Sig, cert: Cert) -> bool:
    certs = [cert]
    lookup: Callable[[list], list[Cert]] = lambda _key_ids: certs  # noqa: E731 - keep Sequoia's callback trivial
    try:
        return bool(verify(bytes=signed, store=lookup, signature=signature).valid_sigs)
    except Exception:  # noqa: BLE001 - Sequoia reports a bad signature as a plain exception
        return False

