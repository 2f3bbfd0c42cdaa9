"""Street addresses, postcodes and institution names in free text.

Street addresses are found with number-first (``12 Baker Street``), name-first
(``Hauptstraße 5``, ``Via Roma 3``) and unit-first forms, the street types of
:mod:`.lexicon` (USPS via pyap, Australia Post, Canada Post, European forms); postcodes in
UK, Canadian, Dutch, US (``City, ST 12345``), labelled and ``12345 City`` forms;
institutions around an institution word of six languages, also inside German and Dutch
compounds (``Universitätsklinikum``, ``Kantonsspital``).
"""

from __future__ import annotations

import re

from anonymizer.text.lexicon import Lexicon
from anonymizer.text.patterns import (
    CA_POSTCODE_RE,
    CITY_POSTCODE_RE,
    INSTITUTION_CONNECT,
    INSTITUTION_RE,
    LABELLED_POSTCODE_RE,
    NL_POSTCODE_RE,
    PARTICLES_BEFORE_RE,
    RISKY_STREET_RE,
    STREET_NAME_FIRST_RE,
    STREET_NO_NUMBER_RE,
    STREET_NUM_FIRST_RE,
    STREET_WORD_RE,
    UK_POSTCODE_RE,
    UNIT_FIRST,
    UNIT_RE,
    WORD_RE,
    ZIP_RE,
    Add,
    gap_ok,
    is_measure,
    mostly_upper,
)
from anonymizer.text.vocabulary import INSTITUTION_COMPOUND, PARTICLES, STOP, STREET_BEFORE, US_STATES, fold


class PlaceFinder:
    """Finds addresses, postcodes and institutions (``classes``: the detector's classes)."""

    def __init__(self, lex: Lexicon, classes: frozenset[str]):
        self.lex, self.classes = lex, classes
        types = lex.street_types
        self.street_num_first = re.compile(STREET_NUM_FIRST_RE.pattern.replace("{after}", types))
        self.street_unit_first = re.compile(rf"(?<![\w]){UNIT_FIRST}(?:[A-ZÀ-Þ][\w'’-]+\s){{1,3}}(?i:{types})(?![\w])")

    def addresses(self, text: str, add: Add, has_digit: bool, dates: list[tuple[int, int]]) -> None:
        if "address" in self.classes and not mostly_upper(text):
            for m in RISKY_STREET_RE.finditer(text) if has_digit else ():
                if fold(m.group("w")) in self.lex.first or fold(m.group("w")) in self.lex.last:
                    unit = UNIT_RE.match(text, m.end())
                    add(m.start(), unit.end() if unit else m.end(), "address", 4)
            for m in self.street_unit_first.finditer(text):
                add(m.start(), m.end(), "address", 4)
            for m in STREET_NO_NUMBER_RE.finditer(text):
                last = fold(m.group().split()[0])
                if last not in self.lex.clinical or m.group()[0].isupper():
                    add(m.start(), m.end(), "address", 4)
        if not has_digit:
            return
        if "address" in self.classes:
            for regex in (self.street_num_first, STREET_NAME_FIRST_RE):
                pos = 0
                while (found := regex.search(text, pos)) is not None:
                    m = found
                    body = m.group()
                    if regex is STREET_NAME_FIRST_RE and not self._street_like(body):
                        space = text.find(" ", m.start() + 1, m.end())
                        pos = space + 1 if space != -1 else m.end()  # retry from the next word
                        continue
                    pos = m.end()
                    end = m.end()
                    unit = UNIT_RE.match(text, end)
                    if unit:
                        end = unit.end()
                    add(m.start(), end, "address", 5)
        if "postcode" in self.classes:
            for m in UK_POSTCODE_RE.finditer(text):
                if re.search(r"\d", m.group()) and not re.fullmatch(r"[A-Z]{1,2}\d{1,2}", m.group()):
                    add(m.start(), m.end(), "postcode", 5)
            for m in CA_POSTCODE_RE.finditer(text):
                add(m.start(), m.end(), "postcode", 5)
            for m in NL_POSTCODE_RE.finditer(text):
                add(m.start(), m.end(), "postcode", 5)
                labelled = LABELLED_POSTCODE_RE.search(text, max(0, m.start() - 20), m.end()) is not None
                if "address" in self.classes and self._city_like(m.group("c")) and not labelled:
                    add(m.start("c"), m.end("c"), "address", 3)
            for m in ZIP_RE.finditer(text):
                if m.group("st") in US_STATES:
                    add(m.start("z"), m.end("z"), "postcode", 5)
                    if "address" in self.classes:
                        city = m.group("city")
                        if city and self._city_like(city.strip(", ")):
                            add(m.start("city"), m.end("st"), "address", 4)
                        else:
                            add(m.start("st"), m.end("st"), "address", 4)
            for m in LABELLED_POSTCODE_RE.finditer(text):
                add(m.start("z"), m.end("z"), "postcode", 6)
            for m in CITY_POSTCODE_RE.finditer(text):
                labelled = LABELLED_POSTCODE_RE.search(text, max(0, m.start() - 20), m.end("z")) is not None
                in_date = any(s < m.end("z") and m.start("z") < e for s, e in dates)
                if self._city_like(m.group("c")) and not is_measure(text, m) and not labelled and not in_date:
                    add(m.start("z"), m.end("z"), "postcode", 5)
                    add(m.start("c"), m.end("c"), "address", 3)

    def _city_like(self, city: str) -> bool:
        """Whether the words after a postcode can be a place name (not ``CT``, ``Test Bolus``)."""
        keys = [fold(w) for w in re.split(r"[\s/-]+", city) if len(w) > 1]
        if not keys or keys[0] in self.lex.imaging:
            return False
        return any(k not in self.lex.radiology or k in self.lex.first or k in self.lex.last for k in keys)

    def _street_like(self, body: str) -> bool:
        """Whether a ``Name 12`` match holds a street word (``Hauptstraße 5``, ``Via Roma 3``)."""
        words = body.rsplit(None, 1)[0].rstrip(",")
        if not STREET_WORD_RE.search(words.lower() + " "):
            return False
        return (
            re.match(rf"(?i:{STREET_BEFORE})\.?\s", words) is not None
            or fold(words.split()[-1]) not in self.lex.clinical
        )

    # -- institutions ---------------------------------------------------------------------

    def institutions(self, text: str, add: Add) -> None:
        lower = text.lower()
        hits = [(m.start(), m.end()) for m in INSTITUTION_RE.finditer(text)]
        if any(word in lower for word in INSTITUTION_COMPOUND):
            for m in WORD_RE.finditer(text):
                key = m.group().lower()
                if len(key) > 7 and key.endswith(INSTITUTION_COMPOUND) and m.group()[0].isupper():
                    hits.append((m.start(), m.end()))
        if not hits:
            return
        words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"[\w'’.&-]+", text)]
        upper = mostly_upper(text)
        for hit_start, hit_end in hits:
            anchor = text[hit_start:hit_end]
            index = [i for i, w in enumerate(words) if w[0] <= hit_start < w[1] or hit_start <= w[0] < hit_end]
            if not index:
                continue
            lo, hi = index[0], index[-1]
            named = 0
            # extend left over capitalised words and connectors
            i = lo - 1
            while i >= 0 and lo - i <= 5 and gap_ok(text, words[i][1], words[i + 1][0]):
                w = words[i][2]
                if _ends_sentence(w):
                    break
                if self._institution_word(w, upper):
                    named += 1
                    lo = i
                elif w.lower().rstrip(".") in INSTITUTION_CONNECT and any(
                    x[2][:1].isupper() and x[2].lower().rstrip(".") not in INSTITUTION_CONNECT
                    for x in words[max(0, i - 3) : i]
                ):
                    pass
                else:
                    break
                i -= 1
            j = hi + 1
            while j < len(words) and j - hi <= 6 and gap_ok(text, words[j - 1][1], words[j][0], dash=True):
                if _ends_sentence(words[j - 1][2]):
                    break
                w = words[j][2]
                if self._institution_word(w, upper):
                    named += 1
                    hi = j
                elif w.lower().rstrip(".") in INSTITUTION_CONNECT:
                    pass
                else:
                    break
                j += 1
            if lo > 0 and gap_ok(text, words[lo - 1][1], words[lo][0]):
                article = words[lo - 1][2]
                if article[:1].isupper() and article.lower() in INSTITUTION_CONNECT and len(article) > 1:
                    lo -= 1  # "Las Palmas Children's Hospital", "The Royal Infirmary"
            if named == 0 and (anchor.isupper() or not (anchor[:1].isupper() and (len(anchor) > 10 or not upper))):
                continue
            start = words[lo][0]
            end = words[hi][1]
            before = PARTICLES_BEFORE_RE.search(text, 0, start)
            if before is not None:
                start = before.start()
            while end > start and text[end - 1] in ".,'’-":
                end -= 1
            add(start, end, "institution", 5)

    def _institution_word(self, word: str, upper: bool) -> bool:
        stripped = re.sub(r"^['’]s-", "", word).strip(".,'’-&")  # "'s-Hertogenbosch"
        if not stripped or not stripped[0].isupper() or stripped.isdigit():
            return False
        key = fold(re.sub(r"['’]s$", "", stripped))
        if key in ("st", "ste", "saint", "sainte", "sankt", "san", "santa", "santo", "sant"):
            return True
        if key in STOP or key in PARTICLES or key in self.lex.imaging:
            return False
        if upper:
            return INSTITUTION_RE.fullmatch(stripped) is not None or (
                (key in self.lex.first or key in self.lex.last or key not in self.lex.common)
                and key not in self.lex.clinical
            )
        return True


def _ends_sentence(word: str) -> bool:
    """Whether a word with its punctuation closes a sentence (``Erve.``, not ``St.`` nor ``Dr.``)."""
    return word.endswith(".") and len(word.rstrip(".")) > 3 and "." not in word.rstrip(".")
