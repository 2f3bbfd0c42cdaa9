"""What counts as an identifier: one definition for the cleaner and the verifier.

(The pixel step needs none: it redacts every line of text it finds, whatever the line says.)

An *identifying attribute* is one the plan does not keep as it is (removed, emptied,
replaced, hashed, pseudonymized, looked up). Its values are learned **by attribute**:
whatever VR the element was stored with (a PatientID written as UT, a name read as UN)
and at whatever depth, and every value inside a sequence stored under it. Each value
gives the strings that must not survive elsewhere (the whole value, name parts, ID
fragments, words of institution and address attributes) with a *kind* (person-name,
id, date, uid, institution, address, phone, text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName

from anonymizer.dicom import rawtext, walk
from anonymizer.dicom import vr as vrs
from anonymizer.dicom.tags import dictionary_vr, keyword

KINDS = ("person-name", "id", "date", "uid", "institution", "address", "phone", "text")
MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
MONTH_NAMES = "january february march april may june july august september october november december".split()
_WORDY_KEYWORD = re.compile(
    r"Name|Address|Institution|Department|Physician|Operator|Location|Station|City|Region|Country|Author|Telephone|Occupation"
)
_SPLIT = re.compile(r"[\^=\s,;:/\\()\[\]\"']+")
SOURCE_VRS = (vrs.STRING - vrs.NUMBER) | {"UN", "OB"}  # VRs whose bytes can hold an identifier
NOT_TEXT = vrs.BINARY | {"UI", "CS", "TM", "AS", "DA", "DT"}  # hold no name, ID or place a cleaner removes


class Element(Protocol):
    """What is read of an element: a pydicom ``DataElement`` or a ``rawtext.TextElement``."""

    @property
    def tag(self) -> int: ...
    @property
    def VR(self) -> str: ...
    @property
    def keyword(self) -> str: ...
    @property
    def value(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Identifier:
    """One string that must not survive, and what kind of identifier it is."""

    text: str
    kind: str


def values(elem: Element) -> list[str]:
    """An element's values as strings (multi-valued elements give several; bytes as Latin-1)."""
    value = elem.value
    if value is None or value == "":
        return []
    if isinstance(value, bytes):
        return [value.decode("latin-1").rstrip("\x00 ")]
    if isinstance(value, (str, PersonName)):
        return [str(value)]
    try:
        return [str(v) for v in value]
    except TypeError:
        return [str(value)]


def kind_of(name: str, vr: str) -> str:
    """The kind of identifier an attribute holds (``name``: its keyword, ``vr``: its dictionary VR)."""
    if vr == "PN":
        return "person-name"
    if vr == "UI":
        return "uid"
    if vr in ("DA", "DT"):
        return "date"
    for word, kind in (("Address", "address"), ("Institution", "institution"), ("Telephone", "phone")):
        if word in name:
            return kind
    if name.endswith(("ID", "IDs", "Number", "Numbers")) or "Identifier" in name:
        return "id"
    return "text"


def date_renderings(value: str) -> list[str]:
    """Common renderings of a DICOM date (``YYYYMMDD``; a DT value uses its date part)."""
    digits = value.strip()[:8]
    if len(digits) != 8 or not digits.isdigit() or not 1 <= int(digits[4:6]) <= 12:
        return []
    y, m, d = digits[:4], digits[4:6], digits[6:8]
    day, short, long = str(int(d)), MONTHS[int(m) - 1], MONTH_NAMES[int(m) - 1]
    out = [digits, f"{y}-{m}-{d}", f"{y}/{m}/{d}", f"{y}.{m}.{d}", f"{d}.{m}.{y}", f"{d}/{m}/{y}", f"{m}/{d}/{y}"]
    for name in (short, long):
        out += [f"{day} {name} {y}", f"{name} {day}, {y}", f"{name} {day} {y}", f"{d}-{name}-{y}"]
    return out


def strings(name: str, vr: str, value: str) -> list[str]:
    """The strings of one identifying value that must not survive in free text.

    ``name`` is the attribute keyword and ``vr`` its dictionary VR (a name is split into
    its parts even when it was stored with another VR).
    """
    value = value.strip()
    if not value:
        return []
    out = [value]
    words = [w for w in _SPLIT.split(value) if w]
    if vr == "PN":
        out += [w for w in words if len(w) >= 2]
    else:
        if _wordy(name):
            out += [w for w in words if len(w) >= 3]
        out += [w for w in words if len(w) >= 4 and any(c.isdigit() for c in w)]
    return out


@lru_cache(maxsize=4096)
def _wordy(name: str) -> bool:
    """Attributes whose words name someone or somewhere (names, addresses, institutions)."""
    return _WORDY_KEYWORD.search(name) is not None


def of_element(elem: Element, vr: str) -> Iterator[Identifier]:
    """The identifiers in one element's values (``vr``: the VR it was stored with)."""
    name = elem.keyword or keyword(elem.tag)
    meaning = dictionary_vr(elem.tag) or vr  # what the attribute is, whatever it was stored as
    if meaning in vrs.BINARY:
        return  # bytes nobody declared as text (a private OB, an unknown UN): not an identifier
    kind = kind_of(name, meaning)
    for value in values(elem):
        if kind == "date" or meaning in ("TM", "AS") or vr in ("TM", "AS"):
            if kind == "date" and value.strip()[:8].isdigit():
                yield Identifier(value.strip()[:8], "date")
            continue  # times and ages identify no one on their own
        if kind == "uid":
            yield Identifier(value.strip(), "uid")
            continue
        for text in strings(name, meaning, value):
            yield Identifier(text, kind)


def texts_of(elem: Element, vr: str) -> list[str]:
    """The strings of one element a text cleaner removes: :func:`of_element` without kinds, UIDs
    or dates (the cleaner's patterns remove every date rendering), for the per-file hot path."""
    meaning = dictionary_vr(elem.tag) or vr
    if meaning in NOT_TEXT or vr in NOT_TEXT:
        return []
    name = elem.keyword or keyword(elem.tag)
    out: list[str] = []
    for value in values(elem):
        out += strings(name, meaning, value)
    return out


def in_items(items: Iterable[Dataset], only: frozenset[str] = SOURCE_VRS) -> Iterator[Identifier]:
    """The identifiers at every depth inside sequence items (a sequence an identifying attribute holds).

    ``only``: the VRs read (others are not decoded).
    """
    codecs: dict[int, str | None] = {}
    for item in items:
        for _, container, (key, _, _, vr, _) in walk.deep(item):
            if vr not in only:
                continue
            if id(container) not in codecs:
                codecs[id(container)] = rawtext.codec(container)
            yield from of_element(rawtext.view(container, key, vr, codecs[id(container)]) or container[key], vr)


def texts(found: Iterable[Identifier]) -> list[str]:
    """The strings a text cleaner removes: every identifier but UIDs and dates (the cleaner's
    patterns remove every date rendering of :func:`date_renderings`, whoever's date it is)."""
    return [i.text for i in found if i.kind not in ("uid", "date")]
