import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.ostree.gvariant import GVariantError, decode, parse_type
from chalicelib.ostree.repository import COMMIT_TYPE, SUMMARY_TYPE


@pytest.mark.parametrize(("type_text", "data", "value"), [
    ("s", b"hello\x00", "hello"),
    ("t", (1 << 40).to_bytes(8, "little"), 1 << 40),
    ("b", b"\x01", True),
    ("ay", b"\x01\x02", b"\x01\x02"),
    ("as", b"ab\x00c\x00\x03\x05", ["ab", "c"]),
    ("(ys)", b"\x07hi\x00", (7, "hi")),
    ("(sy)", b"hi\x00\x07\x03", ("hi", 7)),
    ("v", b"hi\x00\x00s", "hi"),
    ("a{sv}", b"k\x00" + b"\x00" * 6 + b"v\x00\x00s" + b"\x02" + b"\x0d", {"k": "v"}),
    ("ms", b"", None),
    ("ms", b"x\x00\x00", "x"),
    ("()", b"\x00", ()),
])
def test_known_encodings(type_text, data, value):
    assert decode(type_text, data) == value


@pytest.mark.parametrize(("type_text", "data"), [
    ("s", b"no terminator"), ("s", b"\xff\x00"), ("t", b"\x00"), ("b", b"\x02"),
    ("as", b"ab\x00\x09"), ("(sy)", b"hi\x00\x07\x09"), ("v", b"hi"), ("v", b"x\x00\x00u"),
])
def test_malformed_data_raises_gvariant_error(type_text, data):
    with pytest.raises(GVariantError):
        decode(type_text, data)


@pytest.mark.parametrize("type_text", ["", "(", "a", "{ss", "{vs}", "{sss}", "z", "ss"])
def test_malformed_types_raise_gvariant_error(type_text):
    with pytest.raises(GVariantError):
        parse_type(type_text)


@settings(max_examples=500)
@given(data=st.binary(max_size=512), type_text=st.sampled_from([SUMMARY_TYPE, COMMIT_TYPE, "a{sv}", "v", "aav"]))
def test_arbitrary_bytes_decode_or_raise_gvariant_error(data, type_text):
    with contextlib.suppress(GVariantError):
        decode(type_text, data)


@settings(max_examples=300)
@given(data=st.binary(max_size=64), type_text=st.text(alphabet="bynqiuxthdsogvam(){}", max_size=12))
def test_arbitrary_types_and_bytes_decode_or_raise_gvariant_error(data, type_text):
    with contextlib.suppress(GVariantError):
        decode(type_text, data)


def test_deeply_nested_variants_are_refused_not_a_recursion_error():
    data = b""
    for _ in range(200):
        data = data + b"\x00v"
    with pytest.raises(GVariantError):
        decode("v", b"\x00" * 8 + data)
