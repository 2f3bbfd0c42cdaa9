"""Loader for the generated PS3.15 / PS3.3 / TCIA tables (see ``README.md`` here).

The JSON files are written by ``tools/gen_standard.py``; never edit them by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any


def _load(name: str) -> Any:
    return json.loads(files(__package__).joinpath(name).read_text(encoding="utf-8"))


_METHODS = _load("methods.json")
# CID 7050 "De-identification Method": DCM code and meaning for the profile and each option.
CID_7050: Mapping[str, tuple[str, str]] = MappingProxyType(
    {name: (code, meaning) for name, (code, meaning) in _METHODS["cid7050"].items()}
)
# The ten Annex E options that Table E.1-1 has a column for (profile overlays).
OPTIONS: tuple[str, ...] = tuple(_METHODS["options"])


@dataclass(frozen=True)
class Attribute:
    """One row of PS3.15 Table E.1-1, or of its supplement (with a reason and a source)."""

    tag: str  # "(0010,0010)", "(50XX,XXXX)" or "PRIVATE"
    keyword: str
    name: str
    vr: str
    basic: str
    options: Mapping[str, str]
    reason: str = ""
    source: str = "PS3.15 E.1-1"


def _rows(name: str) -> tuple[Attribute, ...]:
    return tuple(Attribute(**{**r, "options": MappingProxyType(r["options"])}) for r in _load(name))


@cache
def attributes() -> tuple[Attribute, ...]:
    """Every row of Table E.1-1, sorted by tag."""
    return _rows("attributes.json")


@cache
def supplement() -> tuple[Attribute, ...]:
    """Identifying attributes Table E.1-1 does not list (retired, newer, or marked identifying
    by their VR or dictionary name), each with the reason and source of its code."""
    return _rows("supplement.json")


@cache
def rows() -> tuple[Attribute, ...]:
    """Table E.1-1 and its supplement: what ``table: basic`` and the options apply."""
    return attributes() + supplement()


@cache
def supplement_by_tag() -> Mapping[int, Attribute]:
    return MappingProxyType({int(a.tag[1:5] + a.tag[6:10], 16): a for a in supplement()})


@cache
def _iod_types() -> Any:
    return _load("iod_types.json")


def iod_for_sop_class(sop_class_uid: str) -> str | None:
    """The IOD key of a SOP Class UID, or None when the tables do not know it."""
    result = _iod_types()["sop_classes"].get(sop_class_uid)
    return None if result is None else str(result)


def attribute_type(keyword: str, iod: str | None, nested: bool) -> int | None:
    """Strictest Type (1, 2 or 3) of a combined-code attribute in ``iod``.

    ``iod=None`` (unknown SOP class) gives the strictest Type across every IOD, so the
    resolved action keeps any IOD valid. None means the IOD does not contain it.
    """
    per_iod = _iod_types()["types"].get(keyword, {})
    slot = 1 if nested else 0
    if iod is not None:
        found = per_iod.get(iod, [None, None])[slot]
        return None if found is None else int(found)
    ranks = [int(t[slot]) for t in per_iod.values() if t[slot] is not None]
    return min(ranks) if ranks else None


@cache
def private_dispositions() -> Mapping[str, str]:
    """TCIA knowledge base: ``"gggg|creator|ee"`` -> k, d, h, o, oi or na."""
    return MappingProxyType(_load("private_tags.json"))
