"""Free-text cleaning: replace identifying tokens, keep the rest of the text.

A :class:`TextCleaner` is built per object from that object's identifying values (names
and their parts, IDs, institution names, addresses, dates in common renderings) and
also removes what looks identifying anywhere: dates, phone numbers, e-mail addresses,
long digit runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PLACEHOLDER = "***"
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_MONTH_NAMES = (
    "january february march april may june july august september october november december"
).split()
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
    """Common renderings of a DICOM date (``YYYYMMDD``; DT values use their date part)."""
    digits = value.strip()[:8]
    if len(digits) != 8 or not digits.isdigit():
        return []
    y, m, d = digits[:4], digits[4:6], digits[6:8]
    month = int(m)
    out = [
        digits,
        f"{y}-{m}-{d}",
        f"{y}/{m}/{d}",
        f"{y}.{m}.{d}",
        f"{d}.{m}.{y}",
        f"{d}/{m}/{y}",
        f"{m}/{d}/{y}",
        f"{d}-{m}-{y}",
        f"{m}-{d}-{y}",
        f"{d}{m}{y}",
        f"{m}{d}{y}",
    ]
    if 1 <= month <= 12:
        short, long = _MONTHS[month - 1], _MONTH_NAMES[month - 1]
        day = str(int(d))
        for name in {short, long}:
            out += [
                f"{day} {name} {y}",
                f"{d} {name} {y}",
                f"{name} {day}, {y}",
                f"{name} {day} {y}",
                f"{d}-{name}-{y}",
            ]
    return out


def identifier_strings(keyword: str, vr: str, value: str) -> Iterable[str]:
    """The strings of one identifying value that must not survive in free text."""
    value = value.strip()
    if not value:
        return []
    if vr in ("DA", "DT"):
        return date_renderings(value)
    out = [value]
    words = [w for w in _SPLIT.split(value) if w]
    if vr == "PN":
        out += [w for w in words if len(w) >= 2]
    else:
        if _WORDY_KEYWORD.search(keyword):
            out += [w for w in words if len(w) >= 3]
        out += [w for w in words if len(w) >= 4 and any(c.isdigit() for c in w)]
    return out


class TextCleaner:
    """Replaces identifying tokens in free text with :data:`PLACEHOLDER`."""

    def __init__(self, identifiers: Iterable[str]):
        unique = sorted({i for i in identifiers if len(i) >= 2}, key=len, reverse=True)
        self._known = (
            re.compile(
                r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, unique)) + r")(?![A-Za-z0-9])", re.IGNORECASE
            )
            if unique
            else None
        )

    def clean(self, text: str) -> str:
        """``text`` with every identifier and identifying-looking pattern replaced."""
        if self._known is not None:
            text = self._known.sub(PLACEHOLDER, text)
        return PATTERNS.sub(PLACEHOLDER, text)
