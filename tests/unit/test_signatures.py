"""The signature parser and checker on any input, and the trusted keys a configuration gives:
no gpg or ostree needed (tests/integration/test_signatures.py signs with the real tools)."""

import copy
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pysequoia import ArmorKind, armor

from chalicelib.core.config import DEFAULT_CONFIG, StreamsConfig, load_streams
from chalicelib.core.errors import ConfigError, UnreadableSignatures
from chalicelib.core.trusted_keys import Trust, read_key
from chalicelib.models.signature import SignatureCheck
from chalicelib.ostree.signatures import MAX_METADATA_BYTES, MAX_SIGNATURES, check, detached_signatures
from tests.detached_metadata import SIGNATURES_KEY, detached_metadata, signed_with
from tests.fuzzing import mutated
from tests.unit.data import RSA4096_KEYS

FUZZ = settings(max_examples=200, deadline=None)
# the start of a version 4 signature packet (binary document, EdDSA, SHA-256) with its hashed
# subpackets' length: what follows it decides how far Sequoia reads
SIGNATURE_START = bytes.fromhex("887504001608001d")


def placeholder_trust() -> Trust:
    """The shipped streams' placeholder key: a real public key whose secret nobody holds."""
    return load_streams().stream("stable").signatures.trust


def load_with_signatures(tmp_path, signatures: dict) -> StreamsConfig:
    raw = copy.deepcopy(json.loads(DEFAULT_CONFIG.read_text()))
    raw["streams"]["developer"]["signatures"] = signatures
    path = tmp_path / "streams.json"
    path.write_text(json.dumps(raw))
    return load_streams(path)


def _placeholder_key() -> str:
    return json.loads(DEFAULT_CONFIG.read_text())["streams"]["stable"]["signatures"]["keys"][0]


@pytest.mark.parametrize(("keys", "reason"), [
    (["not a key at all"], r"keys\[0\] does not parse as an OpenPGP public key \("),
    ([_placeholder_key(), "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"],
     r"keys\[1\] does not parse as an OpenPGP public key \("),
    ([], r"required signatures need at least one key in keys \(or required: false\)"),
], ids=["garbage-key", "second-key-broken-armor", "required-without-keys"])
def test_unusable_signature_configuration_is_refused_at_load_naming_stream_and_key(tmp_path, keys, reason):
    with pytest.raises(ConfigError, match=rf"^streams.json: streams\.developer\.signatures: Value error, {reason}"):
        load_with_signatures(tmp_path, {"required": True, "keys": keys})


def test_more_keys_than_a_builders_user_data_has_room_for_are_refused_at_load(tmp_path):
    rsa = RSA4096_KEYS
    assert load_with_signatures(tmp_path, {"required": True, "keys": rsa}).stream("developer")   # two fit

    with pytest.raises(ConfigError, match=r"streams\.developer\.signatures: Value error, the keys take \d+ "
                                          r"characters, more than the 9000 a builder's user-data has room for"):
        load_with_signatures(tmp_path, {"required": True, "keys": [*rsa, rsa[0]]})


def test_signatures_not_required_load_without_keys(tmp_path):
    signatures = load_with_signatures(tmp_path, {"required": False, "keys": []}).stream("developer").signatures

    assert signatures.required is False and signatures.trust.keys == ()


def test_the_placeholder_key_is_read_with_its_fingerprint_and_may_sign():
    (key,) = placeholder_trust().keys

    assert len(key.fingerprint) == 40 and key.fingerprint == key.fingerprint.upper()
    assert key.may_sign
    assert placeholder_trust().holding(key.fingerprint[-16:]) == (key, key.keys[key.fingerprint])


_PLACEHOLDER = _placeholder_key()


@FUZZ
@given(key=st.one_of(mutated(_PLACEHOLDER.encode()), mutated(bytes(placeholder_trust().keys[0].cert))))
@example(key=_PLACEHOLDER.replace("LvPLQEA", "LvPLQDA").encode())  # a signature's body cut short: Sequoia raised RuntimeError
def test_a_damaged_key_is_read_or_refused_only_with_a_value_error(key):
    try:
        trusted = read_key(key)
    except ValueError as refused:
        assert str(refused)
    else:
        assert trusted.may_sign and len(trusted.fingerprint) == 40


def _placeholder_packets() -> bytes:
    return bytes(placeholder_trust().keys[0].cert)


def test_a_key_followed_by_a_packet_of_an_unknown_tag_loads_as_sequoia_reads_it(tmp_path):
    # a packet of tag 60 (private or experimental use), which Sequoia and gpg skip
    armored = armor(_placeholder_packets() + bytes([0xC0 | 60, 2]) + b"ab", ArmorKind.PublicKey)

    signatures = load_with_signatures(tmp_path, {"required": True, "keys": [armored]}).stream("developer").signatures

    assert [key.fingerprint for key in signatures.trust.keys] == [key.fingerprint for key in placeholder_trust().keys]


def test_a_key_whose_self_signature_has_an_unknown_type_is_refused_as_unable_to_sign(tmp_path):
    packets = _placeholder_packets()
    positive_certification = bytes.fromhex("c2900413")   # the self-signature's header, version and type
    armored = armor(packets.replace(positive_certification, positive_certification[:-1] + b"\x26"), ArmorKind.PublicKey)

    with pytest.raises(ConfigError, match=r"streams\.developer\.signatures: Value error, keys\[0\] key [0-9A-F]{40} "
                                          r"has no key that may sign"):
        load_with_signatures(tmp_path, {"required": True, "keys": [armored]})


def test_missing_metadata_says_the_commit_is_not_signed():
    assert check(b"commit", None, placeholder_trust()) == SignatureCheck(
        verified=False, reason="the commit has no detached metadata: it is not signed")
    assert check(b"summary", None, placeholder_trust(), what="summary").reason.startswith("the summary has no")


def test_without_a_trusted_key_the_reason_says_so_first_whatever_was_found():
    assert check(b"commit", None, Trust()).reason == (
        "no trusted key was given; the commit has no detached metadata: it is not signed")
    assert check(b"commit", b"\x00", Trust()).reason.startswith(
        "no trusted key was given; the detached metadata does not parse")


def test_without_trusted_keys_the_reason_says_so_before_what_each_signature_is():
    metadata = signed_with([SIGNATURE_START + b"\x00" * 40])

    found = check(b"commit", metadata, Trust())

    assert not found.verified
    assert found.reason.startswith("no trusted key was given; signature 1 does not parse (Malformed packet")


def test_only_the_first_signatures_are_judged_and_the_rest_are_counted():
    metadata = signed_with([SIGNATURE_START + b"\x00" * 40] * (MAX_SIGNATURES + 3))

    found = check(b"commit", metadata, placeholder_trust())

    assert found.reason.count("does not parse") == MAX_SIGNATURES
    assert found.reason.endswith("; 3 more signatures were not read")


def test_oversized_detached_metadata_is_not_read():
    metadata = signed_with([b"\x00" * MAX_METADATA_BYTES])

    found = check(b"commit", metadata, placeholder_trust())

    assert (found.verified, found.reason) == (
        False, f"the detached metadata is {len(metadata)} bytes, more than the {MAX_METADATA_BYTES} read")


def _outcome(metadata: bytes) -> list[bytes] | UnreadableSignatures:
    try:
        return detached_signatures(metadata)
    except UnreadableSignatures as refused:
        return refused


@FUZZ
@given(metadata=st.binary(max_size=512))
def test_arbitrary_bytes_give_signatures_or_only_unreadable_signatures(metadata):
    outcome = _outcome(metadata)

    assert isinstance(outcome, UnreadableSignatures) or all(isinstance(s, bytes) for s in outcome)


_VALUES = st.one_of(st.lists(st.binary(max_size=64), max_size=3), st.binary(max_size=64),
                    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=16))  # as GVariant holds them


@FUZZ
@given(entries=st.dictionaries(st.sampled_from([SIGNATURES_KEY, "ostree.note", "x"]), _VALUES, max_size=3))
def test_well_formed_metadata_of_any_content_gives_signatures_or_only_unreadable_signatures(entries):
    outcome = _outcome(detached_metadata(entries))

    signatures = entries.get(SIGNATURES_KEY)
    if isinstance(signatures, list) and signatures:
        assert outcome == signatures
    else:
        assert isinstance(outcome, UnreadableSignatures)


_SIGNATURES = st.lists(st.one_of(st.binary(max_size=160), st.binary(max_size=140).map(SIGNATURE_START.__add__)),
                       min_size=1, max_size=3)
_METADATA = st.one_of(st.none(), st.binary(max_size=300), _SIGNATURES.map(signed_with))


@FUZZ
@given(signed=st.binary(max_size=64), metadata=_METADATA, trusted=st.booleans())
def test_check_of_arbitrary_metadata_never_raises_and_never_verifies(signed, metadata, trusted):
    found = check(signed, metadata, placeholder_trust() if trusted else Trust())

    assert isinstance(found, SignatureCheck)
    assert not found.verified and found.signed_by is None and found.reason
