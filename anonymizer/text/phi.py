"""Free-text PHI detection for DICOM text values.

A :class:`Detector` finds protected health information in short free-text values
(descriptions, comments, SR ``TextValue`` paragraphs, RT labels, private text) without
looking at the DICOM header, and additionally finds the identifiers that the caller
learned from the header of the same object (``known``).

Classes found: ``name``, ``phone``, ``email``, ``url``, ``address``, ``postcode``,
``institution``, ``id``, ``date``, ``age`` (see :data:`CLASSES`).

Where the work is done:

* phone numbers: :mod:`phonenumbers` (Google libphonenumber metadata) validates every
  digit group that looks like a phone number against the configured regions;
* person names: first names from :mod:`gender_guesser`'s ``nam_dict.txt`` (about 48,000
  names from European and other countries) and the 1990 US Census first and last names
  shipped by the ``names`` package, combined with shape and context rules (titles,
  ``Family, Given``, ``Family^Given``, initials, ALL CAPS, role words);
* words that must *not* be taken for names: the DICOM data dictionary keywords and the
  code meanings of pydicom's SR concept dictionaries (SNOMED CT, DCM, RadLex, LOINC ...),
  a short table of imaging terms (sequences, vendors, contrast agents, modality words in
  several languages) and :mod:`wordfreq` word frequencies for en, de, fr, es, it and nl;
* dates, ages, e-mail, URLs, identifiers, addresses, postcodes and institution names:
  regular expressions with small immutable tables (month and weekday names in six
  languages, street types, institution words).

Nothing is downloaded: every table comes from an installed package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import phonenumbers

from anonymizer.text.known import CLASSES, Known, compile_known, date_renderings, find_known
from anonymizer.text.lexicon import lexicon
from anonymizer.text.names import NameFinder
from anonymizer.text.patterns import (
    AGE_RE,
    DATE_RE,
    DIGITS_RE,
    EMAIL_RE,
    GLUED_KEY_RE,
    ID_KEY_RE,
    LONG_ID_RE,
    PHONE_CAND_RE,
    PHONE_KEY_RE,
    SSN_RE,
    URL_RE,
    Add,
    inside,
    is_measure,
)
from anonymizer.text.places import PlaceFinder

CACHE_SIZE = 65536
"""Distinct text values whose spans a detector remembers (then it starts over)."""

KNOWN_CACHE_SIZE = 64
"""Distinct sets of header identifiers a detector keeps compiled (then it starts over)."""

DEFAULT_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "CH", "AT", "BE", "CA", "AU")
"""Regions whose national phone formats are recognised by default (ISO 3166 alpha-2)."""

LABELS: Mapping[str, str] = MappingProxyType({cls: f"[{cls.upper()}]" for cls in CLASSES})
"""The replacement of each class when ``replacement="by-class"``."""


@dataclass(frozen=True)
class Span:
    """One piece of PHI: ``text[start:end]`` is of class ``cls`` (one of :data:`CLASSES`)."""

    start: int
    end: int
    cls: str


class Detector:
    """Finds PHI in free text.

    Parameters
    ----------
    classes
        The classes to report (a subset of :data:`CLASSES`). Identifiers passed as ``known``
        to :meth:`find` are reported whatever this says.
    allow
        Site-specific words or phrases never reported (matched case-insensitively as whole
        words), and regular expressions written as ``"re:PATTERN"``.
    regions
        ISO 3166 regions whose national phone formats are recognised; international
        numbers (``+CC ...``) are recognised for every region.

    Notes
    -----
    Building the first detector of a process loads the lexicons (about half a second); later
    ones share them. A detector remembers what its rules found per distinct text value (up
    to :data:`CACHE_SIZE` values, in memory only): a run meets the same descriptions in many
    files. The header's identifiers (``known``) are matched on every call.
    """

    def __init__(
        self,
        classes: Iterable[str] = CLASSES,
        allow: Iterable[str] = (),
        regions: Iterable[str] = DEFAULT_REGIONS,
    ) -> None:
        self.classes = frozenset(classes)
        unknown = self.classes - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown classes: {sorted(unknown)}")
        self.regions = tuple(dict.fromkeys(r.upper() for r in regions)) or ("US",)
        words, patterns = [], []
        for item in allow:
            if item.startswith("re:"):
                patterns.append(item[3:])
            elif item.strip():
                words.append(re.escape(item.strip()))
        parts = [rf"(?<![\w])(?:{'|'.join(sorted(words, key=len, reverse=True))})(?![\w])"] if words else []
        parts += [f"(?:{p})" for p in patterns]
        self._allow = re.compile("|".join(parts), re.IGNORECASE) if parts else None

        self._lex = lex = lexicon()
        self._names = NameFinder(lex)
        self._cache: dict[str, tuple[tuple[int, int, str, int], ...]] = {}
        self._known: dict[tuple[tuple[str, str], ...], Known] = {}
        self._places = PlaceFinder(lex, self.classes)

    # -- public API ----------------------------------------------------------------------

    def find(self, text: str, known: Iterable[tuple[str, str]] = ()) -> list[Span]:
        """Find the PHI in ``text``.

        Parameters
        ----------
        text
            A free-text value.
        known
            ``(value, cls)`` pairs learned from the header of the same object: person names
            (any DICOM ``PN`` form), IDs, dates as ``YYYYMMDD``, institution, address or
            phone values. They are found case-insensitively as whole tokens; name parts in
            any order; dates in many renderings.

        Returns
        -------
        list of Span
            Non-overlapping spans sorted by position.
        """
        if not text:
            return []
        cached = self._cache.get(text)
        if cached is None:
            cached = self._allowed(text, self._generic(text))
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[text] = cached
        if not known:
            return self._resolve(list(cached))
        raw = list(cached)

        def add(start: int, end: int, cls: str, priority: int) -> None:
            raw.append((start, end, cls, priority))

        find_known(text, self._compile(known), add)
        return self._resolve(raw)

    def _compile(self, known: Iterable[tuple[str, str]]) -> Known:
        """``known`` compiled once: a cleaner passes one object's identifiers for each of its texts."""
        key = known if isinstance(known, tuple) else tuple(known)
        compiled = self._known.get(key)
        if compiled is None:
            if len(self._known) >= KNOWN_CACHE_SIZE:
                self._known.clear()
            compiled = self._known[key] = compile_known(key, self._lex)
        return compiled

    def _generic(self, text: str) -> list[tuple[int, int, str, int]]:
        """What the rules find in ``text`` without the header: ``(start, end, class, priority)``."""
        raw: list[tuple[int, int, str, int]] = []

        def add(start: int, end: int, cls: str, priority: int) -> None:
            raw.append((start, end, cls, priority))

        has_digit = DIGITS_RE.search(text) is not None
        classes = self.classes
        if "email" in classes and "@" in text:
            for m in EMAIL_RE.finditer(text):
                add(m.start(), m.end(), "email", 9)
        if "url" in classes and ("." in text):
            for m in URL_RE.finditer(text):
                if "@" not in m.group():
                    add(m.start(), m.end(), "url", 8)
        if has_digit:
            self._numbers(text, add)
        if "address" in classes or "postcode" in classes:
            dates = [(r[0], r[1]) for r in raw if r[2] in ("date", "phone")]
            self._places.addresses(text, add, has_digit, dates)
        if "institution" in classes:
            self._places.institutions(text, add)
        if "name" in classes:
            self._names.find(text, add)
        return raw

    def clean(self, text: str, replacement: str = "***", known: Iterable[tuple[str, str]] = ()) -> str:
        """``text`` with every span :meth:`find` reports replaced.

        Parameters
        ----------
        text
            A free-text value.
        replacement
            ``"***"`` (or any other literal string), or ``"by-class"`` for ``[NAME]``,
            ``[PHONE]``, ... (see :data:`LABELS`).
        known
            As for :meth:`find`.

        Returns
        -------
        str
            The cleaned text.
        """
        spans = self.find(text, known)
        if not spans:
            return text
        out, position = [], 0
        for span in spans:
            out.append(text[position : span.start])
            out.append(LABELS[span.cls] if replacement == "by-class" else replacement)
            position = span.end
        out.append(text[position:])
        return "".join(out)

    # -- numbers: dates, ages, ids, phones ----------------------------------------------

    def _numbers(self, text: str, add: Add) -> None:
        classes = self.classes
        taken: list[tuple[int, int]] = []
        if "date" in classes:
            for m in DATE_RE.finditer(text):
                add(m.start(), m.end(), "date", 7)
                taken.append((m.start(), m.end()))
        if "age" in classes:
            for m in AGE_RE.finditer(text):
                add(m.start(), m.end(), "age", 7)
        if "id" in classes:
            for m in SSN_RE.finditer(text):
                add(m.start(), m.end(), "id", 7)
                taken.append((m.start(), m.end()))
            for m in ID_KEY_RE.finditer(text):
                value = m.group("v")
                short_ok = text[m.start() : m.start("v")].strip(" :#.=").lower() in ("mrn", "id", "#")
                if (len(value) >= 3 or short_ok) and not inside(m.start("v"), m.end("v"), taken) and len(value) >= 2:
                    add(m.start("v"), m.end("v"), "id", 6)
                    taken.append((m.start("v"), m.end("v")))
        if "phone" in classes:
            self._phones(text, add, taken)
        if "id" in classes:
            for m in LONG_ID_RE.finditer(text):
                token = m.group()
                digits = sum(c.isdigit() for c in token)
                if digits < 4 or inside(m.start(), m.end(), taken):
                    continue
                run = max(len(r) for r in re.findall(r"\d+", token))
                if re.fullmatch(r"\d+[.,]\d+", token) or is_measure(text, m):
                    continue  # a decimal number or a measurement
                glued = run >= 4 and GLUED_KEY_RE.match(token) is not None  # "MRN4711X", "PID12345"
                if run >= 5 or (run >= 4 and digits >= 6) or glued:
                    add(m.start(), m.end(), "id", 4)

    def _phones(self, text: str, add: Add, taken: list[tuple[int, int]]) -> None:
        for m in PHONE_CAND_RE.finditer(text):
            start, end = m.start(), m.end()
            candidate = m.group()
            if candidate[0] == "(" and ")" not in candidate:
                start, candidate = start + 1, candidate[1:]
            digits = sum(c.isdigit() for c in candidate)
            if digits < 7 or digits > 15 or inside(start, end, taken):
                continue
            keyed = PHONE_KEY_RE.search(text[max(0, start - 25) : start]) is not None
            separated = candidate.startswith(("+", "00", "(")) or re.search(r"\d[\s().-]\d", candidate) is not None
            if not separated and not keyed:
                continue  # a bare digit run is reported as an id
            if re.fullmatch(r"\d+[.,]\d+|\d{1,4}[./]\d{1,4}(?:[./]\d{1,4})*", candidate) and not keyed:
                continue  # decimal numbers, versions
            for _ in range(3):
                if self._possible_phone(candidate):
                    add(start, start + len(candidate), "phone", 6)
                    break
                shorter = re.sub(r"[\s./-]+\d+$", "", candidate)
                if shorter == candidate or sum(c.isdigit() for c in shorter) < 7:
                    break
                candidate = shorter

    def _possible_phone(self, candidate: str) -> bool:
        for region in self.regions:
            try:
                number = phonenumbers.parse(candidate, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_possible_number(number):
                return True
            if candidate.startswith("+"):
                return False
        return False

    # -- addresses and postcodes ---------------------------------------------------------

    def _allowed(self, text: str, raw: list[tuple[int, int, str, int]]) -> tuple[tuple[int, int, str, int], ...]:
        """``raw`` less the allow-list's matches (the header's identifiers are never allowed)."""
        if self._allow is not None and raw:
            allowed = [(m.start(), m.end()) for m in self._allow.finditer(text) if m.end() > m.start()]
            if allowed:
                raw = [piece for r in raw for piece in subtract(r, allowed)]
        return tuple(raw)

    def _resolve(self, raw: list[tuple[int, int, str, int]]) -> list[Span]:
        if not raw:
            return []
        raw.sort(key=lambda r: (r[0], -r[1]))
        out: list[Span] = []
        cur_s, cur_e, best = raw[0][0], raw[0][1], raw[0]
        for r in raw[1:]:
            if r[0] < cur_e:  # overlapping: merge, keep the class of the strongest/longest part
                cur_e = max(cur_e, r[1])
                if (r[3], r[1] - r[0]) > (best[3], best[1] - best[0]):
                    best = r
            else:
                out.append(Span(cur_s, cur_e, best[2]))
                cur_s, cur_e, best = r[0], r[1], r
        out.append(Span(cur_s, cur_e, best[2]))
        return out


def subtract(span: tuple[int, int, str, int], allowed: list[tuple[int, int]]) -> list[tuple[int, int, str, int]]:
    """The parts of ``span`` outside every allowed interval."""
    pieces = [span]
    for a_start, a_end in allowed:
        next_pieces = []
        for s, e, c, p in pieces:
            if a_end <= s or e <= a_start:
                next_pieces.append((s, e, c, p))
                continue
            if s < a_start:
                next_pieces.append((s, a_start, c, p))
            if a_end < e:
                next_pieces.append((a_end, e, c, p))
        pieces = next_pieces
    return [(s, e, c, p) for s, e, c, p in pieces if e > s]


__all__ = ["CLASSES", "DEFAULT_REGIONS", "LABELS", "Detector", "Span", "date_renderings"]
