"""The OpenPGP keys a stream trusts to sign its commits, read from its configuration."""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from pysequoia import Cert
from pysequoia.packet import PacketPile, SignatureType, Tag

_KEY_PACKETS = (Tag.PublicKey, Tag.PublicSubkey, Tag.SecretKey, Tag.SecretSubkey)
_REVOCATIONS = (SignatureType.KeyRevocation, SignatureType.SubkeyRevocation)
_BINDINGS = (SignatureType.PositiveCertification, SignatureType.CasualCertification,
             SignatureType.PersonaCertification, SignatureType.GenericCertification,
             SignatureType.DirectKey, SignatureType.SubkeyBinding)


@dataclass(frozen=True)
class KeyFacts:
    """One key of a certificate (the primary or a subkey) as its self-signatures describe it.
    Read from the packets without checking them: they only ever make the verdict stricter;
    the signature itself is checked by Sequoia, which does check the bindings."""

    fingerprint: str
    expires: datetime | None
    revoked: bool
    may_sign: bool
    bound_since: datetime | None = None   # its earliest self-signature: Sequoia checks nothing signed before


@dataclass(frozen=True)
class TrustedKey:
    cert: Cert
    fingerprint: str                 # the primary key's, as ``gpg --fingerprint`` shows it
    keys: dict[str, KeyFacts]         # by fingerprint: the primary and every subkey

    @property
    def may_sign(self) -> bool:
        return any(key.may_sign for key in self.keys.values())


def upper_fingerprint(fingerprint: str | None) -> str:
    return (fingerprint or "").replace(" ", "").upper()


def _issued_by(signature, fingerprint: str) -> bool:
    """Whether a signature in the key's own certificate was made by the key; one that names no
    issuer is taken as the key's own, so that what it says (an expiry) is never ignored."""
    issuer = upper_fingerprint(signature.issuer_fingerprint or signature.issuer_key_id)
    return not issuer or fingerprint.endswith(issuer)


def _described(packet) -> tuple[Tag, SignatureType | None] | None:
    """A packet's tag and, for a signature, its type; None where pysequoia cannot name them (a
    private or unknown tag, an unknown signature type): Sequoia's certificate ignores such packets."""
    try:
        tag = packet.tag
        return tag, packet.signature_type if tag == Tag.Signature else None
    except Exception:  # noqa: BLE001 - pysequoia raises a plain RuntimeError
        return None


def _key_facts(pile: list) -> dict[str, KeyFacts]:
    facts: dict[str, dict] = {}
    current: dict | None = None
    primary = ""
    for packet in pile:
        described = _described(packet)
        if described is None:
            continue
        tag, kind = described
        if tag in _KEY_PACKETS:
            primary = primary or upper_fingerprint(packet.fingerprint)
            current = facts.setdefault(upper_fingerprint(packet.fingerprint), {
                "created": packet.key_created, "signed": None, "first": None, "validity": None, "flags": None,
                "revoked": False})
        elif tag == Tag.Signature and current is not None:
            if kind in _REVOCATIONS:
                current["revoked"] = True
            # only the key's own signatures say what it may do and until when: another key's
            # certification of its user ID carries neither its flags nor its expiry
            elif kind in _BINDINGS and _issued_by(packet, primary) and packet.signature_created is not None:
                created = packet.signature_created
                current["first"] = min(current["first"] or created, created)
                if current["signed"] is None or created >= current["signed"]:
                    current.update(signed=created, validity=packet.key_validity_period, flags=packet.key_flags)
    return {fpr: KeyFacts(fingerprint=fpr, revoked=f["revoked"], bound_since=f["first"],
                          expires=f["created"] + f["validity"] if f["validity"] else None,
                          may_sign=bool(f["flags"] and f["flags"].signing))
            for fpr, f in facts.items()}


def read_key(armored: str | bytes) -> TrustedKey:
    """A trusted key from its ASCII-armored (or binary) OpenPGP public key.
    Raises ValueError saying what is wrong with it."""
    data = armored.encode() if isinstance(armored, str) else armored
    try:
        # Both parse: the certificate parser skips a malformed packet body the packet parser refuses.
        certs = Cert.split_bytes(data)
        packets = list(PacketPile.from_bytes(data))
    except Exception as error:  # noqa: BLE001 - Sequoia's errors are plain exceptions
        raise ValueError(f"does not parse as an OpenPGP public key ({first_line(error)})") from None
    if len(certs) != 1:
        raise ValueError(f"holds {len(certs)} keys: give one key per entry")
    if any(described and described[0] in (Tag.SecretKey, Tag.SecretSubkey) for described in map(_described, packets)):
        raise ValueError("is a secret key: give the public key only")
    cert = certs[0]
    key = TrustedKey(cert=cert, fingerprint=upper_fingerprint(cert.fingerprint), keys=_key_facts(packets))
    if not key.may_sign:
        raise ValueError(f"key {key.fingerprint} has no key that may sign")
    return key


@dataclass(frozen=True)
class Trust:
    """The keys whose signatures count, for one stream (or one ``repo show``)."""

    keys: tuple[TrustedKey, ...] = ()

    @classmethod
    def of(cls, armored: list[str]) -> "Trust":
        return cls(tuple(read_key(key) for key in armored))

    @property
    def digest(self) -> str:
        """Changes when a key is added or removed, or its expiry or revocation changes: a verdict
        reached under another digest is not reused."""
        facts = sorted((key.fingerprint, sorted(key.keys.items())) for key in self.keys)
        return hashlib.sha256(repr(facts).encode()).hexdigest()[:16]

    def holding(self, fingerprint: str) -> tuple[TrustedKey, KeyFacts] | None:
        """The trusted key whose primary or subkey has this fingerprint, or ends in this key id."""
        for key in self.keys:
            for fpr, facts in key.keys.items():
                if fingerprint and fpr.endswith(fingerprint):
                    return key, facts
        return None


def first_line(error: Exception) -> str:
    """Sequoia's messages carry a Rust backtrace after the first line."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
