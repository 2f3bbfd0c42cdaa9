"""Tags: formatting, dictionary look-ups (memoised: pure functions of a tag) and private-block arithmetic."""

from __future__ import annotations

from functools import lru_cache

from pydicom._dicom_dict import DicomDictionary, RepeatersDictionary
from pydicom.datadict import dictionary_has_tag, dictionary_keyword, dictionary_VR, repeater_has_tag


def format_tag(tag: int) -> str:
    """``(GGGG,EEEE)`` upper-case hex."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@lru_cache(maxsize=8192)
def known(tag: int) -> bool:
    """In the data dictionary, repeating groups (50xx, 60xx, 7Fxx) included."""
    return bool(dictionary_has_tag(tag) or repeater_has_tag(tag))


@lru_cache(maxsize=8192)
def keyword(tag: int) -> str:
    """The dictionary keyword of a public tag, or ``""`` (private, unknown)."""
    return str(dictionary_keyword(tag)) if not tag >> 16 & 1 and known(tag) else ""


@lru_cache(maxsize=8192)
def dictionary_vr(tag: int) -> str | None:
    """The data dictionary's VR of a public tag (the first of an ambiguous one), or None."""
    if tag >> 16 & 1 or not known(tag):
        return None
    return str(dictionary_VR(tag)).split(" ")[0]


def is_private(tag: int) -> bool:
    """An odd group."""
    return bool(tag >> 16 & 1)


def is_creator(tag: int) -> bool:
    """A private creator element ``(gggg,0010)`` to ``(gggg,00FF)``."""
    return bool(tag >> 16 & 1) and 0x10 <= tag & 0xFFFF <= 0xFF


def block(tag: int) -> int:
    """The private block a tag belongs to: ``group << 8 | block byte`` (creators and members alike)."""
    if 0x10 <= tag & 0xFFFF <= 0xFF:
        return (tag >> 16) << 8 | (tag & 0xFF)
    return (tag >> 16) << 8 | ((tag >> 8) & 0xFF)


def dictionary_vrs(tag: int) -> frozenset[str]:
    """Every VR the data dictionary allows for a public tag (``US or SS`` gives both); empty if unknown."""
    entry = DicomDictionary.get(tag)
    return frozenset(str(entry[0]).split(" or ")) if entry is not None else frozenset()


def mask_vrs(value: int, care: int) -> frozenset[str]:
    """Every VR of the dictionary's tags and repeating groups that a mask ``(value, care bits)`` matches."""
    found: set[str] = set()
    for tag, entry in DicomDictionary.items():
        if tag & care == value:
            found |= set(str(entry[0]).split(" or "))
    for mask, entry in RepeatersDictionary.items():  # e.g. "60xx3000"
        if int(mask.replace("x", "0"), 16) & care == value:
            found |= set(str(entry[0]).split(" or "))
    return frozenset(found)
