"""Pixel rules: which objects a rule applies to, and which boxes it redacts.

A rule has a condition on header attributes of the *input* object and two lists of
boxes. A box is ``[x, y, width, height]`` in pixels, ``all`` (the whole frame) or
``ultrasound-regions`` (each item of SequenceOfUltrasoundRegions). Over all rules that
apply, the redacted area is the union of their ``redact`` boxes minus the union of their
``keep`` boxes (as in deid: "blank everything, keep the ultrasound regions").

Conditions are mappings, all of whose entries must hold::

    Modality: US                    # glob, case-insensitive, against each value
    Manufacturer: ["GE*", "*PHILIPS*"]  # a list: any of them
    ImageType: "re:SCREEN SAVE"     # re: = a regular expression searched for
    BurnedInAnnotation: null        # null = the attribute is absent
    SeriesDescription: ""           # "" = present and empty
    SequenceOfUltrasoundRegions: "*"  # "*" = present
    any: [{...}, {...}]             # at least one of these conditions
    all: [{...}, {...}]             # every one of these conditions
    not: {...}                      # the condition does not hold
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_dict
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from anonymizer.dicom import rawtext

POLICIES = ("quarantine", "ocr", "keep")
OCR_MODES = ("all", "identifiers")
REDACT_MODES = ("boxes", "band")  # a detected line: its padded box, or its rows across the full width
DEFAULT_REDACT = (("US", "band"), ("default", "boxes"))  # per Modality; speckle hides parts of lines
SPECIAL_BOXES = ("all", "ultrasound-regions")
FLAGGED_MODALITIES = frozenset({"US", "SC", "OT", "XC", "ES"})

Box = tuple[int, int, int, int]
BoxSpec = Box | str


class RuleError(ValueError):
    """A pixel rule is malformed (the profile loader adds file and line)."""


@dataclass(frozen=True)
class Matcher:
    """One attribute test: ``pattern`` None means absent; ``"*"`` present; ``re:`` regex."""

    pattern: str | None
    regex: re.Pattern[str] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.pattern is not None and self.pattern.startswith("re:"):
            try:
                object.__setattr__(self, "regex", re.compile(self.pattern[3:], re.IGNORECASE))
            except re.error as exc:
                raise RuleError(f"invalid regular expression ({exc})") from None

    def test(self, candidates: list[str] | None) -> bool:
        """``candidates``: the attribute's values as strings, None when absent, [] for a sequence."""
        if self.pattern is None or candidates is None:
            return self.pattern is None and candidates is None
        if self.pattern == "*":
            return True
        if self.regex is not None:
            return any(self.regex.search(c) is not None for c in candidates)
        pattern = self.pattern.upper()
        return any(fnmatch.fnmatchcase(c.upper(), pattern) for c in candidates)


def _candidates(ds: Dataset, keyword: str, text_codec: str | None = None) -> list[str] | None:
    tag = keyword_dict[keyword]
    if tag not in ds:
        return None
    vr = dictionary_VR(tag)
    if vr == "SQ":
        return []
    view = rawtext.view(ds, tag, vr, text_codec)  # a kept element stays raw (copied on write)
    value = view.value if view is not None else ds[tag].value
    if isinstance(value, MultiValue | list | tuple):
        items = [str(v).strip() for v in value]
        return [*items, "\\".join(items)]
    if value is None:
        return [""]
    return [(value.decode("latin-1") if isinstance(value, bytes) else str(value)).strip()]


@dataclass(frozen=True)
class Condition:
    """All of ``tests`` hold, all of ``every`` hold, one of ``some`` holds, ``negated`` does not."""

    tests: tuple[tuple[str, tuple[Matcher, ...]], ...] = ()
    every: tuple[Condition, ...] = ()
    some: tuple[Condition, ...] = ()
    negated: Condition | None = None

    def holds(self, ds: Dataset, seen: dict[str, list[str] | None] | None = None) -> bool:
        """Evaluate on ``ds``; ``seen`` caches each attribute's strings across rules of one object."""
        seen = {} if seen is None else seen
        for keyword, matchers in self.tests:
            if keyword not in seen:
                seen[keyword] = _candidates(ds, keyword)
            if not any(m.test(seen[keyword]) for m in matchers):
                return False
        if not all(c.holds(ds, seen) for c in self.every):
            return False
        if self.some and not any(c.holds(ds, seen) for c in self.some):
            return False
        return not (self.negated is not None and self.negated.holds(ds, seen))

    def keywords(self) -> set[str]:
        """Every attribute keyword this condition reads."""
        found = {keyword for keyword, _ in self.tests}
        for inner in (*self.every, *self.some, *([self.negated] if self.negated else [])):
            found |= inner.keywords()
        return found


@dataclass(frozen=True)
class PixelRule:
    """A named rule: condition, boxes to redact, boxes to keep, optional fill."""

    name: str
    when: Condition
    redact: tuple[BoxSpec, ...] = ()
    keep: tuple[BoxSpec, ...] = ()
    fill: str | int | None = None
    origin: str = ""


@dataclass(frozen=True)
class PixelPolicy:
    """The ``pixels`` section of a profile."""

    rules: tuple[PixelRule, ...] = ()
    burned_in: str = "quarantine"
    fill: str | int = "min"
    ocr: str = "all"
    sets: tuple[str, ...] = ()  # built-in rule sets named (for reports)
    redact: tuple[tuple[str, str], ...] = DEFAULT_REDACT  # (Modality or "default", boxes | band)

    def redact_mode(self, modality: str) -> str:
        """How detected lines are redacted for an object of ``modality``."""
        modes = dict(self.redact)
        return modes.get(modality.strip().upper(), modes.get("default", "boxes"))


def parse_condition(raw: Any) -> Condition:
    """A condition from its YAML/JSON form (see the module docstring)."""
    if raw is None:
        return Condition()
    if not isinstance(raw, Mapping):
        raise RuleError("a condition must be a mapping of attribute keyword to pattern")
    tests: list[tuple[str, tuple[Matcher, ...]]] = []
    every: list[Condition] = []
    some: list[Condition] = []
    negated: Condition | None = None
    for key, value in raw.items():
        if key in ("any", "all"):
            if not isinstance(value, list) or not value:
                raise RuleError(f"'{key}' must be a non-empty list of conditions")
            (some if key == "any" else every).extend(parse_condition(v) for v in value)
        elif key == "not":
            negated = parse_condition(value)
        elif key in keyword_dict:
            patterns = value if isinstance(value, list) else [value]
            if not patterns or not all(p is None or isinstance(p, str | int | float) for p in patterns):
                raise RuleError(f"pattern for {key} must be a string, a list of strings or null")
            tests.append((str(key), tuple(Matcher(None if p is None else str(p)) for p in patterns)))
        else:
            raise RuleError(f"unknown attribute keyword {key!r} in condition (or any/all/not)")
    return Condition(tuple(tests), tuple(every), tuple(some), negated)


def parse_boxes(raw: Any, what: str) -> tuple[BoxSpec, ...]:
    """Boxes from ``[[x, y, w, h], "all", "ultrasound-regions", ...]``."""
    if not isinstance(raw, list):
        raise RuleError(f"'{what}' must be a list of boxes")
    boxes: list[BoxSpec] = []
    for item in raw:
        if isinstance(item, str) and item in SPECIAL_BOXES:
            boxes.append(item)
        elif (
            isinstance(item, list)
            and len(item) == 4
            and all(isinstance(v, int) and not isinstance(v, bool) for v in item)
            and item[0] >= 0
            and item[1] >= 0
            and item[2] > 0
            and item[3] > 0
        ):
            boxes.append((item[0], item[1], item[2], item[3]))
        else:
            raise RuleError(
                f"a box in '{what}' is [x, y, width, height] (x, y >= 0; width, height > 0), "
                "'all' or 'ultrasound-regions'"
            )
    return tuple(boxes)


def parse_fill(raw: Any) -> str | int:
    if raw in ("min", "max") or (isinstance(raw, int) and not isinstance(raw, bool)):
        return raw  # type: ignore[no-any-return]
    raise RuleError("fill must be 'min' (black), 'max' (white) or an integer")


def parse_rule(raw: Any, origin: str) -> PixelRule:
    """A rule from its YAML/JSON mapping (keys: name, when, redact, keep, fill)."""
    if not isinstance(raw, Mapping):
        raise RuleError("a pixel rule is a mapping or the name of a built-in rule set")
    unknown = set(raw) - {"name", "when", "redact", "keep", "fill"}
    if unknown:
        raise RuleError(f"unknown key {sorted(unknown)[0]!r} in pixel rule (allowed: fill, keep, name, redact, when)")
    if "redact" not in raw and "keep" not in raw:
        raise RuleError("a pixel rule needs 'redact' boxes (or 'keep' boxes)")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise RuleError("a pixel rule needs a 'name'")
    return PixelRule(
        name=name,
        when=parse_condition(raw.get("when")),
        redact=parse_boxes(raw.get("redact", []), "redact"),
        keep=parse_boxes(raw.get("keep", []), "keep"),
        fill=parse_fill(raw["fill"]) if "fill" in raw else None,
        origin=origin,
    )


def builtin_sets() -> dict[str, list[dict[str, Any]]]:
    """The built-in rule sets (generated from deid's recipes by tools/gen_deid_filters.py)."""
    text = (files("anonymizer") / "standard" / "deid_filters.json").read_text(encoding="utf-8")
    return dict(json.loads(text)["sets"])


def builtin_set(name: str) -> tuple[PixelRule, ...]:
    sets = builtin_sets()
    if name not in sets:
        raise RuleError(f"no built-in pixel rule set {name!r} (known: {', '.join(sorted(sets))})")
    return tuple(parse_rule(raw, f"{name}: {raw['name']}") for raw in sets[name])


def flagged(ds: Dataset) -> bool:
    """May the object hold burned-in text: BurnedInAnnotation YES, or a capture modality without it."""
    text_codec = rawtext.codec(ds)
    value = (_candidates(ds, "BurnedInAnnotation", text_codec) or [""])[-1].upper()  # [-1]: all values joined
    if value:
        return value != "NO"
    return (_candidates(ds, "Modality", text_codec) or [""])[-1].upper() in FLAGGED_MODALITIES


def matching(ds: Dataset, policy: PixelPolicy) -> list[PixelRule]:
    """The rules whose condition holds for ``ds`` (in profile order)."""
    seen: dict[str, list[str] | None] = {}
    return [rule for rule in policy.rules if rule.when.holds(ds, seen)]


class RuleIndex:
    """:func:`matching` remembered per combination of the attributes the rules read.

    Files of one series share Modality, Manufacturer, ImageType and the like, so a batch
    evaluates each rule set a few times instead of once per file. The memory is bounded
    (cleared when full) and stays in the worker process.
    """

    def __init__(self, policy: PixelPolicy, size: int = 256):
        self.policy, self.size = policy, size
        self.keywords = sorted({k for rule in policy.rules for k in rule.when.keywords()})
        self._known: dict[tuple[tuple[str, ...] | None, ...], tuple[PixelRule, ...]] = {}

    def matching(self, ds: Dataset) -> list[PixelRule]:
        text_codec = rawtext.codec(ds)
        seen = {keyword: _candidates(ds, keyword, text_codec) for keyword in self.keywords}
        key = tuple(None if v is None else tuple(v) for v in seen.values())
        found = self._known.get(key)
        if found is None:
            if len(self._known) >= self.size:
                self._known.clear()
            found = self._known[key] = tuple(r for r in self.policy.rules if r.when.holds(ds, seen))
        return list(found)
