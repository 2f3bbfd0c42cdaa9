"""Free-text cleaning: replace identifying spans, keep the rest of the text.

A :class:`TextCleaner` is built per object from that object's identifying values (see
:mod:`anonymizer.text.identifiers`) and runs the free-text PHI detector
(:mod:`anonymizer.text.phi`) over every value: person names, phone numbers, e-mail
addresses, URLs, street addresses, postcodes, institutions, identifiers, dates and ages
over 89 are found without the header, and the object's own identifiers in any rendering
(names part by part, IDs without separators, dates in a hundred forms).

:class:`Settings` are the ``clean`` action's parameters (``detect``, ``replacement``,
``allow``). :func:`detector` builds one detector per distinct settings per process; each
detector remembers its result per distinct text value (see :class:`~anonymizer.text.phi.Detector`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from anonymizer.text.phi import CLASSES, LABELS, Detector, Span

PLACEHOLDER = "***"
REPLACEMENTS = (PLACEHOLDER, "by-class")
KIND_CLASS = {"person-name": "name", "id": "id", "date": "date", "institution": "institution"}
KIND_CLASS |= {"address": "address", "phone": "phone", "text": "id"}

_TOKEN = re.compile(r"[^\W_]+")  # maximal runs of letters and digits


@dataclass(frozen=True)
class Settings:
    """What a ``clean`` rule detects, how it replaces, and what it never touches."""

    detect: tuple[str, ...] = CLASSES
    replacement: str = PLACEHOLDER
    allow: tuple[str, ...] = ()

    def label(self, cls: str) -> str:
        """The replacement of one span of class ``cls``."""
        return LABELS[cls] if self.replacement == "by-class" else PLACEHOLDER


DEFAULT = Settings()


def settings(params: Mapping[str, Any]) -> Settings:
    """The :class:`Settings` of a ``clean`` rule's ``with:`` mapping.

    ``detect``: a list of classes (default: every class in :data:`CLASSES`);
    ``replacement``: ``"***"`` or ``"by-class"``; ``allow``: a list of words or phrases
    (whole words, any case) and ``re:PATTERN`` regular expressions never replaced.

    Raises
    ------
    ValueError
        An unknown class or replacement, a list that is not a list of strings, an
        empty list of classes, or a pattern that does not compile.
    """
    detect = params.get("detect", list(CLASSES))
    if detect == "all":
        detect = list(CLASSES)
    if not isinstance(detect, list) or not detect or not all(isinstance(c, str) for c in detect):
        raise ValueError(f"detect must be a non-empty list of classes ({', '.join(CLASSES)}) or 'all'")
    unknown = sorted(set(detect) - set(CLASSES))
    if unknown:
        raise ValueError(f"detect: unknown class(es) {', '.join(unknown)} (known: {', '.join(CLASSES)})")
    replacement = params.get("replacement", PLACEHOLDER)
    if replacement not in REPLACEMENTS:
        raise ValueError('replacement must be "***" or "by-class"')
    allow = params.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) and a.strip() for a in allow):
        raise ValueError("allow must be a list of words, phrases or 're:PATTERN' strings")
    for number, item in enumerate(allow, 1):
        if item.startswith("re:"):
            try:
                re.compile(item[3:])
            except re.error as exc:
                raise ValueError(f"allow item {number}: pattern does not compile ({exc.msg})") from None
    ordered = tuple(c for c in CLASSES if c in detect)
    return Settings(ordered, replacement, tuple(allow))


@lru_cache(maxsize=16)
def detector(chosen: Settings) -> Detector:
    """The detector for ``chosen`` settings (one per process; the lexicons are shared)."""
    return Detector(chosen.detect, chosen.allow)


def _lower(text: str) -> str:
    """Lower-case with one character per character, so indexes stay valid."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


class TextCleaner:
    """Replaces the PHI in free text: the detector's spans and the object's own identifiers.

    ``identifiers``: strings (kind unknown) or ``(text, kind)`` pairs with a kind of
    :data:`~anonymizer.text.identifiers.KINDS`. Every one is matched as whole tokens, any
    case; names, IDs, phone numbers and dates are also given to the detector, which finds
    them in other renderings (name parts in any order, IDs without separators, dates as
    ``4 March 2019``). No regular expression is compiled from identifiers.
    """

    def __init__(self, identifiers: Iterable[str | tuple[str, str]]):
        kinds: dict[str, str] = {}
        known: set[tuple[str, str]] = set()
        for item in identifiers:
            text, kind = (item, "text") if isinstance(item, str) else item
            text = text.strip()
            if len(text) < 2 or kind == "uid":
                continue
            if kind != "date":
                kinds.setdefault(_lower(text), KIND_CLASS.get(kind, "id"))
            if kind in ("person-name", "date", "id", "phone"):
                known.add((text, KIND_CLASS[kind]))
        self._tokens = {t: c for t, c in kinds.items() if _TOKEN.fullmatch(t)}
        self._phrases = sorted(((t, c) for t, c in kinds.items() if t not in self._tokens), key=lambda p: -len(p[0]))
        self._known = tuple(sorted(known))

    def spans(self, text: str, chosen: Settings = DEFAULT) -> list[Span]:
        """Every span to replace in ``text``, sorted and merged."""
        found = detector(chosen).find(text, self._known)
        lower = _lower(text) if self._phrases or self._tokens else ""
        for phrase, cls in self._phrases:
            start = lower.find(phrase)
            while start != -1:
                end = start + len(phrase)
                if (start == 0 or not lower[start - 1].isalnum()) and (end == len(lower) or not lower[end].isalnum()):
                    found.append(Span(start, end, cls))
                start = lower.find(phrase, start + 1)
        if self._tokens:
            found += [
                Span(m.start(), m.end(), self._tokens[m.group()])
                for m in _TOKEN.finditer(lower)
                if m.group() in self._tokens
            ]
        return _merge(found)

    def clean(self, text: str, chosen: Settings = DEFAULT) -> str:
        """``text`` with every span of :meth:`spans` replaced (``***`` or ``[CLASS]``)."""
        spans = self.spans(text, chosen)
        if not spans:
            return text
        out, position = [], 0
        for span in spans:
            out += [text[position : span.start], chosen.label(span.cls)]
            position = span.end
        out.append(text[position:])
        return "".join(out)


def _merge(spans: list[Span]) -> list[Span]:
    """Overlapping or touching-inside spans merged (the first span's class is kept)."""
    if len(spans) < 2:
        return spans
    spans.sort(key=lambda s: (s.start, -s.end))
    out = [spans[0]]
    for span in spans[1:]:
        last = out[-1]
        if span.start < last.end:
            if span.end > last.end:
                out[-1] = Span(last.start, span.end, last.cls)
        else:
            out.append(span)
    return out
