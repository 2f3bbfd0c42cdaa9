"""Free-text cleaning: replace identifying tokens, keep the rest of the text.

A :class:`TextCleaner` is built per object from that object's identifying values (names
and their parts, IDs, institution names, addresses) and also removes what looks
identifying anywhere: dates in common renderings (which covers the object's own dates),
phone numbers, e-mail addresses, long digit runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PLACEHOLDER = "***"
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_MONTH_NAMES = "january february march april may june july august september october november december".split()
_WORDY_KEYWORD = re.compile(
    r"Name|Address|Institution|Department|Physician|Operator|Location|Station|City|Region|Country|Author|Telephone|Occupation"
)
_SPLIT = re.compile(r"[\^=\s,;:/\\()\[\]\"']+")

PATTERNS = re.compile(
    "|".join(
        [
            r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail
            r"\b\d{1,4}[-./]\d{1,2}[-./]\d{2,4}\b",  # 2020-03-12, 12.03.2020, 3/12/20
            r"\b\d{1,2}[ -](?:" + "|".join(_MONTHS) + r")[a-z]*\.?[ -]\d{2,4}\b",  # 12 Mar 2020
            r"\b(?:" + "|".join(_MONTHS) + r")[a-z]*\.? \d{1,2},? \d{4}\b",  # March 12, 2020
            r"(?<![\w])\+?\(?\d{2,4}\)?[ .-]\d{2,4}[ .-]\d{2,5}(?:[ .-]\d{2,5})?\b",  # phone
            r"\b[A-Za-z]{0,4}\d{5,}[A-Za-z]{0,4}\b",  # MRN-like digit runs
        ]
    ),
    re.IGNORECASE,
)


def date_renderings(value: str) -> list[str]:
    """Common renderings of a DICOM date (``YYYYMMDD``; a DT value uses its date part)."""
    digits = value.strip()[:8]
    if len(digits) != 8 or not digits.isdigit() or not 1 <= int(digits[4:6]) <= 12:
        return []
    y, m, d = digits[:4], digits[4:6], digits[6:8]
    day, short, long = str(int(d)), _MONTHS[int(m) - 1], _MONTH_NAMES[int(m) - 1]
    out = [digits, f"{y}-{m}-{d}", f"{y}/{m}/{d}", f"{y}.{m}.{d}", f"{d}.{m}.{y}", f"{d}/{m}/{y}", f"{m}/{d}/{y}"]
    for name in (short, long):
        out += [f"{day} {name} {y}", f"{name} {day}, {y}", f"{name} {day} {y}", f"{d}-{name}-{y}"]
    return out


def identifier_strings(keyword: str, vr: str, value: str) -> Iterable[str]:
    """The strings of one identifying value that must not survive in free text."""
    value = value.strip()
    if not value:
        return []
    out = [value]
    words = [w for w in _SPLIT.split(value) if w]
    if vr == "PN":
        out += [w for w in words if len(w) >= 2]
    else:
        if _WORDY_KEYWORD.search(keyword):
            out += [w for w in words if len(w) >= 3]
        out += [w for w in words if len(w) >= 4 and any(c.isdigit() for c in w)]
    return out


_TOKEN = re.compile(r"[^\W_]+")  # maximal runs of letters and digits


def _lower(text: str) -> str:
    """Lower-case with one character per character, so indexes stay valid."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


class TextCleaner:
    """Replaces identifying tokens in free text with :data:`PLACEHOLDER`.

    Identifiers that are one token (letters and digits) are looked up in a set; longer
    ones are found with ``str.find`` and must stand between non-alphanumeric characters.
    No regular expression is compiled from identifiers (Python's ``re`` module would
    keep it in its cache).
    """

    def __init__(self, identifiers: Iterable[str]):
        unique = {_lower(i.strip()) for i in identifiers if len(i.strip()) >= 2}
        self._tokens = frozenset(i for i in unique if _TOKEN.fullmatch(i))
        self._phrases = sorted(unique - self._tokens, key=len, reverse=True)

    def clean(self, text: str) -> str:
        """``text`` with every identifier and identifying-looking pattern replaced."""
        if self._phrases:
            text = self._replace_phrases(text)
        if self._tokens:
            text = _TOKEN.sub(lambda m: PLACEHOLDER if _lower(m.group()) in self._tokens else m.group(), text)
        return PATTERNS.sub(PLACEHOLDER, text)

    def _replace_phrases(self, text: str) -> str:
        lower, spans = _lower(text), []
        for phrase in self._phrases:
            start = lower.find(phrase)
            while start != -1:
                end = start + len(phrase)
                if (start == 0 or not lower[start - 1].isalnum()) and (end == len(lower) or not lower[end].isalnum()):
                    spans.append((start, end))
                start = lower.find(phrase, start + 1)
        if not spans:
            return text
        out, position = [], 0
        for start, end in sorted(spans):
            if start < position:  # overlaps a longer match already replaced
                position = max(position, end)
                continue
            out += [text[position:start], PLACEHOLDER]
            position = end
        out.append(text[position:])
        return "".join(out)
