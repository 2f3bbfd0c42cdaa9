"""Free-text cleaning: replace identifying tokens, keep the rest of the text.

A :class:`TextCleaner` is built per object from that object's identifying values (see
:mod:`anonymizer.text.identifiers`) and also removes what looks identifying anywhere:
dates in common renderings, phone numbers, e-mail addresses, long digit runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from anonymizer.text.identifiers import MONTHS

PLACEHOLDER = "***"

PATTERNS = re.compile(
    "|".join(
        [
            r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail
            r"\b\d{1,4}[-./]\d{1,2}[-./]\d{2,4}\b",  # 2020-03-12, 12.03.2020, 3/12/20
            r"\b\d{1,2}[ -](?:" + "|".join(MONTHS) + r")[a-z]*\.?[ -]\d{2,4}\b",  # 12 Mar 2020
            r"\b(?:" + "|".join(MONTHS) + r")[a-z]*\.? \d{1,2},? \d{4}\b",  # March 12, 2020
            r"(?<![\w])\+?\(?\d{2,4}\)?[ .-]\d{2,4}[ .-]\d{2,5}(?:[ .-]\d{2,5})?\b",  # phone
            r"\b[A-Za-z]{0,4}\d{5,}[A-Za-z]{0,4}\b",  # MRN-like digit runs
        ]
    ),
    re.IGNORECASE,
)


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
