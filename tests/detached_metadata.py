"""Detached metadata (a ``.commitmeta``, a ``summary.sig``) written as ostree writes it: a GVariant
``a{sv}``. For the tests that need metadata no tool makes: an empty ``ostree.gpgsigs``, another
type under that key. tests/integration/test_signatures.py checks it against ostree's own bytes."""

SIGNATURES_KEY = "ostree.gpgsigs"


def _pad(data: bytes, alignment: int) -> bytes:
    return data + b"\x00" * (-len(data) % alignment)


def _framed(body: bytes, offsets: list[int]) -> bytes:
    """``body`` followed by its framing offsets, each as wide as the whole container needs."""
    if not offsets:
        return body
    for size in (1, 2, 4, 8):
        if len(body) + size * len(offsets) < 1 << (8 * size):
            break
    return body + b"".join(offset.to_bytes(size, "little") for offset in offsets)


def _array(elements: list[bytes], alignment: int) -> bytes:
    """An array of variable-size elements: each aligned, then the offsets of their ends."""
    body, ends = b"", []
    for element in elements:
        body = _pad(body, alignment) + element
        ends.append(len(body))
    return _framed(body, ends)


def _value(value: list[bytes] | bytes | str) -> bytes:
    """A variant holding ``aay`` (a list of bytes), ``ay`` (bytes) or ``s`` (a string)."""
    if isinstance(value, list):
        return _array(value, 1) + b"\x00aay"
    if isinstance(value, bytes):
        return value + b"\x00ay"
    return value.encode() + b"\x00\x00s"


def detached_metadata(entries: dict[str, list[bytes] | bytes | str]) -> bytes:
    """``a{sv}`` of ``entries``; ``{SIGNATURES_KEY: [signature, ...]}`` is what ostree signs with."""
    encoded = []
    for key, value in entries.items():
        name = key.encode() + b"\x00"
        encoded.append(_framed(_pad(name, 8) + _value(value), [len(name)]))
    return _array(encoded, 8)


def signed_with(signatures: list[bytes]) -> bytes:
    return detached_metadata({SIGNATURES_KEY: signatures})
