"""String elements decoded and re-encoded without pydicom's element conversion.

Most elements a profile changes are short strings (UIDs, dates, names, IDs). pydicom
converts a raw element through its value hooks and validators, and writes it back
through its per-VR writers: that round trip costs more than the action itself. For a
raw string element in a single-byte ISO 8859 or UTF-8 character set, :func:`view`
decodes the value exactly as pydicom's converters do (same stripping, same splitting on
``\\``) and :func:`store` puts the edited value back as raw bytes exactly as pydicom's
writers would encode it (same padding), so :mod:`anonymizer.dicom.encoder` copies it. A test
checks that files made this way equal the files made through pydicom, byte for byte.
Anything else (other character sets, escape sequences, numbers, binary values, values
that do not encode) returns ``None`` / ``False`` and takes pydicom's path.
"""

from __future__ import annotations

import codecs
from typing import Any

from pydicom.charset import convert_encodings
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from anonymizer.dicom import tags
from anonymizer.dicom import vr as vrs

ASCII_VRS = vrs.ASCII  # pydicom's default encoding
TEXT_VRS = vrs.CHARSET  # the character set applies
SINGLE_VALUED = vrs.SINGLE_VALUED  # a backslash is text, not a delimiter
DEFAULT = "iso8859"  # pydicom's default_encoding (ISO-IR 6 read as Latin-1)
SIMPLE_CODECS = frozenset({"utf-8", *(f"iso8859-{n}" for n in range(1, 17))})  # codecs.lookup names


class TextElement:
    """The parts of a pydicom ``DataElement`` the actions read, for a decoded raw string."""

    __slots__ = ("VR", "codec", "raw", "tag", "value")

    def __init__(self, raw: RawDataElement, vr: str, value: str | list[str], codec: str):
        self.raw, self.tag, self.VR, self.value, self.codec = raw, int(raw.tag), vr, value, codec

    @property
    def keyword(self) -> str:
        return tags.keyword(self.tag)


def codec(ds: Dataset) -> str | None:
    """The one Python codec of ``ds``'s character set as read, or None when not simple."""
    charset = ds.original_character_set
    if charset != ds._character_set:
        return None
    encodings = convert_encodings(charset)
    if len(encodings) != 1:
        return None
    try:
        simple = codecs.lookup(encodings[0]).name in SIMPLE_CODECS
    except LookupError:
        return None
    return encodings[0] if simple else None


def view(ds: Dataset, tag: int, vr: str, text_codec: str | None) -> TextElement | None:
    """The element at ``tag`` decoded as pydicom would, if it is a raw string we handle."""
    raw = ds._dict.get(tag)  # type: ignore[call-overload]
    if text_codec is None or type(raw) is not RawDataElement or raw.value is None or raw.VR not in (vr, None):
        return None
    data: bytes = raw.value
    if vr in ASCII_VRS:
        text = data.decode(DEFAULT)
        if vr == "UR":
            return TextElement(raw, vr, text.rstrip(), text_codec)
        if vr == "AE":
            return TextElement(raw, vr, _one_or_many([s.strip() for s in text.split("\\")]), text_codec)
        return TextElement(raw, vr, _one_or_many(text.rstrip(" \x00").split("\\")), text_codec)
    if vr not in TEXT_VRS or b"\x1b" in data:
        return None
    try:
        if vr == "PN":
            text = data.rstrip(b"\x00 ").decode(text_codec)
            return TextElement(raw, vr, _one_or_many(text.split("\\")), text_codec)
        text = data.decode(text_codec)
    except UnicodeError:
        return None
    if vr in SINGLE_VALUED:
        return TextElement(raw, vr, text.rstrip("\x00 "), text_codec)
    return TextElement(raw, vr, _one_or_many([s.rstrip("\x00 ") for s in text.split("\\")]), text_codec)


def _one_or_many(items: list[str]) -> str | list[str]:
    return items[0] if len(items) == 1 else items


def store(ds: Dataset, elem: TextElement, value: Any) -> bool:
    """Put ``value`` back as raw bytes, as pydicom's writer would encode it; False if not."""
    if value is None or value == "":
        items: list[str] = []
    elif isinstance(value, str):
        items = [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        return False
    if elem.VR in SINGLE_VALUED and len(items) > 1:
        return False
    try:
        if elem.VR in ASCII_VRS:
            data = "\\".join(items).encode(DEFAULT)
        else:
            data = b"\\".join(item.encode(elem.codec) for item in items)
    except UnicodeError:
        return False
    if len(data) % 2:
        data += b"\x00" if elem.VR == "UI" else b" "
    raw = elem.raw  # a new raw element with the new value (namedtuple._replace is slow on the hot path)
    ds._dict[elem.tag] = RawDataElement(raw.tag, raw.VR, len(data), data, *raw[4:])  # type: ignore[index]
    return True
