"""A reader of GVariant's serialised form (little-endian), enough for ostree's summary and
commit objects. No PyPI package reads GVariant without libostree's GObject bindings.

Every malformed input raises GVariantError; nothing else escapes."""

import struct
from dataclasses import dataclass
from functools import lru_cache

_FIXED = {"b": (1, "<?"), "y": (1, "<B"), "n": (2, "<h"), "q": (2, "<H"), "i": (4, "<i"), "u": (4, "<I"),
          "x": (8, "<q"), "t": (8, "<Q"), "h": (4, "<i"), "d": (8, "<d")}
_STRINGS = "sog"
_MAX_DEPTH = 64


class GVariantError(ValueError):
    """The bytes are not a well-formed GVariant of the expected type."""


@dataclass(frozen=True)
class GType:
    code: str                        # one of the basic codes, "v", "a", "m", "(" or "{"
    members: tuple["GType", ...] = ()
    alignment: int = 1
    fixed_size: int | None = None    # None: variable size


def _align(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) // alignment * alignment


def _container(code: str, members: tuple[GType, ...]) -> GType:
    if code in "am":
        return GType(code, members, members[0].alignment, None)
    alignment = max((m.alignment for m in members), default=1)
    size = 0
    for member in members:
        if member.fixed_size is None:
            return GType(code, members, alignment, None)
        size = _align(size, member.alignment) + member.fixed_size
    return GType(code, members, alignment, _align(size, alignment) if members else 1)


def _parse_type(text: str, pos: int, depth: int) -> tuple[GType, int]:
    if depth > _MAX_DEPTH:
        raise GVariantError("type nests too deeply")
    if pos >= len(text):
        raise GVariantError(f"incomplete type string {text!r}")
    code = text[pos]
    if code in _FIXED:
        size = _FIXED[code][0]
        return GType(code, (), size, size), pos + 1
    if code in _STRINGS:
        return GType(code), pos + 1
    if code == "v":
        return GType("v", (), 8, None), pos + 1
    if code in "am":
        element, end = _parse_type(text, pos + 1, depth + 1)
        return _container(code, (element,)), end
    if code in "({":
        close = ")" if code == "(" else "}"
        members, pos = [], pos + 1
        while pos < len(text) and text[pos] != close:
            member, pos = _parse_type(text, pos, depth + 1)
            members.append(member)
        if pos >= len(text):
            raise GVariantError(f"unclosed {code!r} in type string {text!r}")
        if code == "{" and (len(members) != 2 or members[0].code not in _FIXED.keys() | set(_STRINGS)):
            raise GVariantError(f"a dict entry needs a basic key and one value: {text!r}")
        return _container(code, tuple(members)), pos + 1
    raise GVariantError(f"unknown type code {code!r} in {text!r}")


@lru_cache(maxsize=256)
def parse_type(text: str) -> GType:
    gtype, end = _parse_type(text, 0, 0)
    if end != len(text):
        raise GVariantError(f"{text!r} is more than one type")
    return gtype


def _offset_size(container_size: int) -> int:
    if container_size == 0:
        return 0
    for size in (1, 2, 4):
        if container_size < 1 << (8 * size):
            return size
    return 8


def _read_offset(data: bytes, at: int, size: int) -> int:
    if at < 0 or at + size > len(data):
        raise GVariantError("framing offset outside the data")
    return int.from_bytes(data[at:at + size], "little")


def _decode(gtype: GType, data: bytes, depth: int):
    if depth > _MAX_DEPTH:
        raise GVariantError("value nests too deeply")
    if gtype.fixed_size is not None and len(data) != gtype.fixed_size:
        raise GVariantError(f"{gtype.code!r} needs {gtype.fixed_size} bytes, has {len(data)}")
    code = gtype.code
    if code in _FIXED:
        if code == "b" and data not in (b"\x00", b"\x01"):
            raise GVariantError("boolean byte is neither 0 nor 1")
        return struct.unpack(_FIXED[code][1], data)[0]
    if code in _STRINGS:
        return _string(data)
    if code == "v":
        return _variant(data, depth)
    if code == "a":
        return _array(gtype.members[0], data, depth)
    if code == "m":
        return _maybe(gtype.members[0], data, depth)
    values = _tuple(gtype.members, data, depth)
    return tuple(values)


def _string(data: bytes) -> str:
    if not data or data[-1] != 0 or 0 in data[:-1]:
        raise GVariantError("string is not NUL-terminated or holds a NUL")
    try:
        return data[:-1].decode("utf-8")
    except UnicodeDecodeError:
        raise GVariantError("string is not UTF-8") from None


def _variant(data: bytes, depth: int):
    separator = data.rfind(b"\x00")
    if separator < 0:
        raise GVariantError("variant has no type string")
    try:
        type_text = data[separator + 1:].decode("ascii")
    except UnicodeDecodeError:
        raise GVariantError("variant type string is not ASCII") from None
    return _decode(parse_type(type_text), data[:separator], depth + 1)


def _maybe(element: GType, data: bytes, depth: int):
    if not data:
        return None
    if element.fixed_size is not None:
        return _decode(element, data, depth + 1)
    if data[-1] != 0:
        raise GVariantError("maybe of a variable-size value lacks its trailing zero byte")
    return _decode(element, data[:-1], depth + 1)


def _array(element: GType, data: bytes, depth: int) -> list | dict | bytes:
    if element.fixed_size is not None:
        if len(data) % element.fixed_size:
            raise GVariantError("array length is not a multiple of its element size")
        items = [_decode(element, data[i:i + element.fixed_size], depth + 1)
                 for i in range(0, len(data), element.fixed_size)]
    else:
        items = []
        if data:
            size = _offset_size(len(data))
            offsets_start = _read_offset(data, len(data) - size, size)
            if offsets_start > len(data) or (len(data) - offsets_start) % size:
                raise GVariantError("array framing offsets are malformed")
            start = 0
            for at in range(offsets_start, len(data), size):
                end = _read_offset(data, at, size)
                start = _align(start, element.alignment)
                if not start <= end <= offsets_start:
                    raise GVariantError("array element outside the array")
                items.append(_decode(element, data[start:end], depth + 1))
                start = end
    if element.code == "{":
        return dict(items)
    return bytes(items) if element.code == "y" else items


def _tuple(members: tuple[GType, ...], data: bytes, depth: int) -> list:
    size = _offset_size(len(data))
    frames_end = len(data)
    position, values = 0, []
    for index, member in enumerate(members):
        position = _align(position, member.alignment)
        if member.fixed_size is not None:
            end = position + member.fixed_size
        elif index == len(members) - 1:
            end = frames_end
        else:
            frames_end -= size
            end = _read_offset(data, frames_end, size)
        if not position <= end <= frames_end:
            raise GVariantError("tuple member outside the tuple")
        values.append(_decode(member, data[position:end], depth + 1))
        position = end
    return values


def decode(type_text: str, data: bytes):
    """The value of ``data`` read as GVariant type ``type_text``: ``a{sv}`` becomes a dict,
    ``ay`` bytes, tuples tuples, other arrays lists."""
    if not isinstance(data, (bytes, bytearray)):
        raise GVariantError("GVariant data must be bytes")
    gtype = parse_type(type_text)
    try:
        return _decode(gtype, bytes(data), 0)
    except RecursionError:
        raise GVariantError("value nests too deeply") from None
