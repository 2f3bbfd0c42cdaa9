"""What verification searches for, and how a value is matched against it.

:class:`Identifiers` holds the inputs' identifying strings (lower case, with a kind):
single tokens, phrases, IDs indexed by their digit run (so an ID glued to letters is
found too), the original dates of identifying attributes, and each input's top-level
dates by attribute (so that a date an output holds because its own dates were shifted
onto it is told from an original date put back). :func:`ours` gives the
tokens the tool itself writes (dummy values, placeholders, the de-identification marks
and CID 7050 code meanings): they are never findings, whatever an input holds.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from anonymizer import standard
from anonymizer.profile.actions import DUMMY
from anonymizer.text.cleaner import PLACEHOLDER
from anonymizer.text.phi import LABELS

RICH = re.compile(r"[\w.^@+-]{3,}")
ALNUM = re.compile(r"[^\W_]+")
DIGIT_RUN = re.compile(r"\d{4,}")
DICOM_UID_ROOT = "1.2.840.10008."
DETECTED_KIND = {"name": "person-name", "postcode": "address", "email": "id", "url": "id"}


@dataclass(frozen=True)
class Finding:
    """One residual identifier: where, and of which kind (the value only on request)."""

    file: str
    path: str
    kind: str
    value: str = field(default="", compare=False)


def ours(marks: Iterable[str] = ()) -> frozenset[str]:
    """Lower-case tokens and values the tool writes itself (``marks``: the text of this plan's marks)."""
    texts = [str(v) for v in DUMMY.values()] + [PLACEHOLDER, *LABELS.values(), *marks]
    texts += [meaning for _, meaning in standard.CID_7050.values()]
    out: set[str] = set()
    for text in texts:
        lower = text.lower()
        out.add(lower.strip())
        out.update(ALNUM.findall(lower))
        out.update(RICH.findall(lower))
    return frozenset(out)


@dataclass
class Identifiers:
    """What must not appear in the outputs, lower-cased, with the kind of each."""

    tokens: dict[str, str] = field(default_factory=dict)  # one token -> kind
    phrases: dict[str, dict[str, str]] = field(
        default_factory=lambda: defaultdict(dict)
    )  # first word -> {phrase: kind}
    glued: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # digit run -> ID tokens
    dates: set[str] = field(default_factory=set)  # original YYYYMMDD of identifying date attributes
    kept: set[str] = field(default_factory=set)
    kept_by: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # keyword -> kept values
    own: frozenset[str] = frozenset()
    detected: set[str] = field(default_factory=set)  # found by the free-text detector only
    from_header: set[str] = field(default_factory=set)
    date_records: list[dict[str, str]] = field(default_factory=list)  # per input: keyword -> YYYYMMDD

    def add(self, text: str, kind: str, detected: bool = False) -> None:
        """Search for ``text`` (``detected``: the free-text detector found it, not the header)."""
        key = text.strip().lower()
        if len(key) < 3 or (key.isdigit() and len(key) < 5):
            return
        if kind == "uid" and key.startswith(DICOM_UID_ROOT):
            return  # a UID the standard defines (a SOP class, a transfer syntax) names no one
        (self.detected if detected else self.from_header).add(key)
        words = ALNUM.findall(key)
        if len(words) <= 1 or RICH.fullmatch(key):
            self.tokens.setdefault(key, kind)
            runs = DIGIT_RUN.findall(key)
            if runs and kind in ("id", "phone", "text"):
                self.glued[max(runs, key=len)].add(key)
        else:
            self.phrases[words[0]].setdefault(key, kind)

    def finish(self, own: frozenset[str]) -> None:
        """Forget what the profile keeps somewhere and what the tool writes itself."""
        self.own = own
        kept_words = {w for value in self.kept for w in ALNUM.findall(value)}
        guessed = {k for k in self.detected - self.from_header if all(w in kept_words for w in ALNUM.findall(k))}
        for key in self.kept | own | guessed:  # a detector's guess that is a word the profile keeps is no finding
            self.tokens.pop(key, None)
            first = ALNUM.findall(key)[:1]
            if first:
                self.phrases.get(first[0], {}).pop(key, None)
        for phrases in self.phrases.values():
            for phrase in [p for p in phrases if all(w in own for w in ALNUM.findall(p))]:
                del phrases[phrase]
        for run, keys in self.glued.items():
            self.glued[run] = {k for k in keys if k in self.tokens}
        self.dates -= {d for d in self.dates if d in own}

    def shifted_onto(self, keyword: str, date: str, dates: dict[str, str]) -> bool:
        """Whether ``date`` in the top-level attribute ``keyword`` of an output whose top-level
        dates are ``dates`` is explained by shifting one input's own dates by one non-zero
        offset (every other date attribute of that input and output agreeing on it)."""
        try:
            day = _day(date)
            out = {k: _day(v) for k, v in dates.items() if k != keyword}
        except ValueError:
            return False
        for record in self.date_records:
            original = record.get(keyword)
            shared = [k for k in out if k in record]
            if original is None or not shared:
                continue
            try:
                offset = day - _day(original)
                if offset and all(out[k] - _day(record[k]) == offset for k in shared):
                    return True
            except ValueError:
                continue
        return False

    def __len__(self) -> int:
        return len(self.tokens) + sum(len(p) for p in self.phrases.values())

    def match(self, value: str) -> Iterator[tuple[str, str]]:
        """``(kind, matched text)`` for every identifier in ``value``: tokens, phrases, glued IDs."""
        lower = value.lower()
        words = ALNUM.findall(lower)
        candidates = {lower, *RICH.findall(lower), *words}
        for token in candidates:
            kind = self.tokens.get(token)
            if kind:
                yield kind, token
        for word in set(words):
            for phrase, kind in self.phrases.get(word, {}).items():
                if phrase in lower:
                    yield kind, phrase
        if self.glued:
            for run in set(DIGIT_RUN.findall(lower)):
                for key in self.glued.get(run, ()):
                    if key in lower and key not in candidates:
                        yield self.tokens[key], key


def _day(date: str) -> int:
    """The ordinal day of a ``YYYYMMDD`` date (ValueError when it is not one)."""
    return dt.date(int(date[:4]), int(date[4:6]), int(date[6:8])).toordinal()
