"""Attribute selectors: which elements a rule applies to.

Forms (``tag:`` in a profile rule)::

    PatientName                  a keyword from the data dictionary
    (0010,0010)                  an exact tag
    (60xx,3000)                  a mask: ``x`` matches any hex digit
    (0009,xx10)@GEMS_IDEN_01     a private element: group, element byte, creator
    private                      every private element
    RequestAttributesSequence/AccessionNumber   any of the above inside a sequence path

and ``vr: PN`` (a rule keyed by VR instead of by tag).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.datadict import keyword_dict, tag_for_keyword

from anonymizer.dicom import tags
from anonymizer.dicom import vr as vrs
from anonymizer.errors import did_you_mean

_EXACT = re.compile(r"^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?$")
_MASK = re.compile(r"^\(?([0-9A-Fa-fXx]{4}),?([0-9A-Fa-fXx]{4})\)?$")
_PRIVATE = re.compile(r"^\(?([0-9A-Fa-f]{4}),?[Xx]{2}([0-9A-Fa-f]{2})\)?@(.+)$")

# Specificity: higher wins; ties go to the later rule.
EXACT, PRIVATE_ELEMENT, MASK, ALL_PRIVATE, VR = 100, 100, 50, 20, 10


class SelectorError(ValueError):
    """A selector string cannot be parsed (message says why, no values)."""


@dataclass(frozen=True)
class Selector:
    """A parsed selector; exactly one of ``tag``, ``mask``, ``private``, ``vr`` is set.

    ``path`` is a tuple of sequence tags that must enclose the element (innermost last).
    """

    text: str
    tag: int | None = None
    mask: tuple[int, int] | None = None  # (value, care-bits)
    private: tuple[int, str, int] | None = None  # (group, creator lower-case, element byte)
    all_private: bool = False
    vr: str | None = None
    path: tuple[int, ...] = ()

    @property
    def specificity(self) -> int:
        if self.tag is not None:
            base = EXACT
        elif self.private is not None:
            base = PRIVATE_ELEMENT
        elif self.mask is not None:
            base = MASK + bin(self.mask[1]).count("1") // 4
        elif self.all_private:
            base = ALL_PRIVATE
        else:
            base = VR
        return base + len(self.path)

    def matches_mask(self, tag: int) -> bool:
        assert self.mask is not None
        value, care = self.mask
        return tag & care == value


def _tag(text: str) -> int:
    exact = _EXACT.match(text)
    if exact:
        return int(exact.group(1) + exact.group(2), 16)
    tag = tag_for_keyword(text)
    if tag is None:
        raise SelectorError(f"unknown keyword or tag {text!r}{did_you_mean(text, keyword_dict)}")
    return int(tag)


def parse_tag_selector(text: str) -> Selector:
    """Parse the ``tag:`` form of a selector (keyword, tag, mask, private, path)."""
    parts = [p.strip() for p in str(text).split("/")]
    if any(not p for p in parts):
        raise SelectorError(f"empty component in selector {text!r}")
    path = tuple(_tag(p) for p in parts[:-1])
    last = parts[-1]
    if last.lower() == "private":
        return Selector(text, all_private=True, path=path)
    private = _PRIVATE.match(last)
    if private:
        group = int(private.group(1), 16)
        if group % 2 == 0:
            raise SelectorError(f"private selector {text!r} needs an odd group")
        creator = private.group(3).strip().lower()
        return Selector(text, private=(group, creator, int(private.group(2), 16)), path=path)
    if _EXACT.match(last) or not _MASK.match(last):
        return Selector(text, tag=_tag(last), path=path)
    digits = _MASK.match(last)
    assert digits is not None
    hexes = digits.group(1) + digits.group(2)
    value = int("".join("0" if c in "xX" else c for c in hexes), 16)
    care = int("".join("0" if c in "xX" else "F" for c in hexes), 16)
    return Selector(text, mask=(value, care), path=path)


def parse_vr_selector(text: str) -> Selector:
    """Parse the ``vr:`` form of a selector."""
    vr = str(text).strip().upper()
    if vr not in vrs.ALL:
        raise SelectorError(f"unknown VR {text!r}")
    return Selector(f"vr:{vr}", vr=vr)


def possible_vrs(selector: Selector) -> frozenset[str] | None:
    """The VRs the selected elements can have per the data dictionary (None: any, e.g. private)."""
    if selector.vr is not None:
        return frozenset({selector.vr})
    if selector.tag is not None:
        return tags.dictionary_vrs(selector.tag) or None
    if selector.mask is not None:
        return tags.mask_vrs(*selector.mask) or None
    return None
