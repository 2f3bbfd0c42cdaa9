"""Person names in free text, by rule and lexicon (see :mod:`.lexicon`).

Found: names after a title in six languages (``Dr. House``, ``Prof. Dr. med. Hans
Müller``, ``Mme Lefèvre``), after a role word (``patient Kowalski``, ``signed by Maria
Rossi``), ``Family, Given``, DICOM ``Family^Given``, runs of capitalised words that hold a
first name (the word beside a first name is taken as the surname), initials with a known
surname, particles (``van der``, ``de la``) and ALL CAPS text. Clinical vocabulary, common
words and company names (``ALOKA CO., LTD.``) are not names.
"""

from __future__ import annotations

import re

from anonymizer.text.lexicon import Lexicon
from anonymizer.text.patterns import (
    CARET_RE,
    PARTICLES_BEFORE_RE,
    WORD_RE,
    Add,
    Token,
    adjacent,
    is_cap,
    is_initial,
    mostly_upper,
)
from anonymizer.text.vocabulary import (
    COMPANY,
    CONNECTORS,
    CUES,
    GRADES,
    KIN,
    PARTICLES,
    STOP,
    TITLES,
    WEAK_TITLES,
    fold,
)


class NameFinder:
    """Finds person names with the rules above."""

    def __init__(self, lex: Lexicon):
        self.lex = lex

    def find(self, text: str, add_span: Add) -> None:
        upper = mostly_upper(text)

        def add(start: int, end: int, cls: str, priority: int) -> None:
            # "van der Meer", "de la Cruz": particles right before the name belong to it
            m = PARTICLES_BEFORE_RE.search(text, 0, start)
            if m is not None:
                start = m.start()
            add_span(start, end, cls, priority)

        if "^" in text:
            for m in CARET_RE.finditer(text):
                parts = [p for p in re.split(r"[\^\s]+", m.group()) if p.strip(".")]
                keys = [fold(p.strip(".")) for p in parts if len(p.strip(".")) > 1]
                if not keys:
                    continue
                if (
                    keys[0] in STOP
                    or any(k in self.lex.imaging for k in keys)
                    or all(k in self.lex.clinical or k in STOP for k in keys)
                ):
                    continue
                if any(k in self.lex.first or k in self.lex.last for k in keys) or all(
                    k not in self.lex.common for k in keys if len(k) > 1
                ):
                    add(m.start(), m.end(), "name", 5)
        tokens = [
            Token(m.start(), m.end(), m.group(), fold(m.group()))
            for m in WORD_RE.finditer(text)
            if not (m.start() and text[m.start() - 1].isdigit())
            and not (m.end() < len(text) and text[m.end()].isdigit())
        ]
        n = len(tokens)
        i = 0
        while i < n:
            tok = tokens[i]
            bare = tok.key.rstrip(".")
            nxt = tokens[i + 1] if i + 1 < n else None
            # 1. titles: "Dr. House", "Prof. Dr. med. Hans Müller", "Mme Lefèvre"
            if bare in TITLES and tok.text[0].isupper() and nxt is not None:
                dotted = text.startswith(".", tok.end)
                j = i + 1
                while (
                    j < n
                    and (tokens[j].key in TITLES or tokens[j].key in GRADES)
                    and len(tokens[j].text) > 1
                    and adjacent(text, tokens[j - 1], tokens[j])
                ):
                    j += 1
                weak = (bare in WEAK_TITLES or upper) and not dotted
                modality = weak and tok.text.isupper() and bare in WEAK_TITLES  # "MR BRAIN", "MS", "CA"
                if j < n and adjacent(text, tokens[j - 1], tokens[j]) and not modality:
                    end = self._name_run(text, tokens, j, upper, strong=not weak, cue=weak)
                    if end > j:
                        first_tok = i if len(tok.text) == 1 else j  # "M. Dupont": the M. may be an initial
                        end = self._comma_given(text, tokens, end)
                        add(tokens[first_tok].start, tokens[end - 1].end, "name", 6)
                        i = end
                        continue
            # 2. role words: "patient Kowalski", "signed by Maria Rossi", "Mutter: Anna"
            if bare in CUES and nxt is not None and adjacent(text, tok, nxt, colon=True):
                at = i + 1
                if nxt.key in CONNECTORS and at + 1 < n and adjacent(text, nxt, tokens[at + 1], colon=True):
                    at += 1  # "discussed with Maria Rossi", "signed by: ..."
                end = self._name_run(text, tokens, at, upper, strong=False, cue=True)
                if end == at and bare in KIN and self._lone_name(text, tokens[at], upper):
                    end = at + 1  # "patient Bruder", "figlia Magnus": one word after the patient or a relative
                if end > at:
                    end = self._comma_given(text, tokens, end, cue=True)
                    add(tokens[at].start, tokens[end - 1].end, "name", 5)
                    i = end
                    continue
            # 3. "Family, Given" / "FAMILY, GIVEN M."
            if (
                nxt is not None
                and is_cap(tok.text)
                and text[tok.end : nxt.start].strip() == ","
                and is_cap(nxt.text)
                and (
                    (
                        self._is_first(nxt.key)
                        and (
                            self._namey(tok.key, upper, surname=True)
                            or (tok.key not in self.lex.clinical and tok.key not in STOP)
                        )
                    )
                    or self._caps_pair(tok, nxt, upper)
                )
            ):
                end = self._comma_given(
                    text, tokens, max(self._name_run(text, tokens, i + 1, upper, strong=True), i + 2)
                )
                add(tok.start, tokens[end - 1].end, "name", 5)
                i = end
                continue
            # 4. runs of capitalised words holding a first name: "Jane Doe", "JOHN Q. PUBLIC"
            if is_cap(tok.text) or is_initial(text, tok):
                end = self._name_run(text, tokens, i, upper, strong=False)
                if end < n and tokens[end].key in COMPANY and adjacent(text, tokens[end - 1], tokens[end]):
                    i = end + 1
                    continue
                if end - i >= 2:
                    run = tokens[i:end]
                    keys = [t.key for t in run]
                    names = [k for k in keys if len(k) > 1]
                    strong = any(self._is_first(k, strict=True) for k in names)
                    weak = any(self._is_first(k) for k in names) and any(
                        len(k) > 3 and k not in self.lex.common and k not in self.lex.clinical for k in names
                    )
                    initial_last = any(is_initial(text, t) for t in run) and any(
                        k in self.lex.last and k not in self.lex.clinical and len(k) > 2 for k in names
                    )  # "J. Smith"
                    middle = (
                        len(run) == 3
                        and is_initial(text, run[1])
                        and all(is_cap(t.text) and self._unknown(t.key) for t in (run[0], run[2]))
                    )  # "Oliwier F. Janczura"
                    pair = (
                        len(names) == 2
                        and self._is_first(names[0])
                        and names[1] in self.lex.last
                        and not any(k in self.lex.radiology for k in names)
                    )  # "Victória Borges": a first name and a surname, both also words
                    if (strong or weak or initial_last or middle or pair) and (
                        sum(len(k) > 1 for k in keys) >= 1 and not all(is_initial(text, t) for t in run)
                    ):
                        end = self._comma_given(text, tokens, end)
                        add(run[0].start, tokens[end - 1].end, "name", 4)
                        i = end
                        continue
            i += 1

    def _name_run(
        self, text: str, tokens: list[Token], i: int, upper: bool, strong: bool, cue: bool = False, strict: bool = False
    ) -> int:
        """End index of the name that starts at ``tokens[i]`` (``i`` if there is none).

        ``strong``: a title precedes, so any capitalised word is taken; ``cue``: a role word
        precedes, so one known name word suffices.
        """
        j = i
        known = words = 0
        n = len(tokens)
        while j < n and words < 4:  # up to four name words; particles and initials do not count
            tok = tokens[j]
            before = next((t.key for t in reversed(tokens[i:j]) if t.key not in PARTICLES and len(t.text) > 1), "")
            if j > i and not adjacent(text, tokens[j - 1], tok):
                break
            if tok.key in PARTICLES and (j > i or strong or cue):
                k = j
                while (
                    k < n
                    and tokens[k].key in PARTICLES
                    and k - j < 3
                    and (k == j or adjacent(text, tokens[k - 1], tokens[k]))
                ):
                    k += 1
                if k < n and k > j and adjacent(text, tokens[k - 1], tokens[k]) and is_cap(tokens[k].text):
                    j = k
                    continue
                break
            if is_initial(text, tok):
                j += 1
                continue
            if not is_cap(tok.text):
                break
            key = tok.key
            if (
                key in self.lex.stop_names
                and (strong or cue)
                and j == i
                and j + 1 < n
                and adjacent(text, tok, tokens[j + 1])
                and is_cap(tokens[j + 1].text)
                and (
                    tokens[j + 1].key in self.lex.first
                    or tokens[j + 1].key in self.lex.last
                    or (strong and self._namey(tokens[j + 1].key, upper, surname=True))
                )
            ):
                known += 1  # a given name that is also a function word: "Dr Per Sköld", "with An Jacobs"
                j += 1
                words += 1
                continue
            if key in STOP or (key in TITLES and (j > i or not strong)) or (strict and key in self.lex.clinical):
                break
            surname_cue = key in self.lex.last and self._is_first(before, strict=True)  # "Robin Read"
            if text.startswith(":", tok.end) or (key in CUES and not strong and not surname_cue):
                break  # a label ("Anschrift:", "Zuweisung:") or a role word
            if (
                not strong
                and key not in self.lex.first
                and key not in self.lex.last
                and not self._is_first(before, strict=True)
                and re.match(r"\s*[#:]?\s*\d", text[tok.end : tok.end + 4])
            ):
                break  # a label before a number ("Fallnummer 1234")
            if (
                not upper
                and tok.text.isupper()
                and len(tok.text) <= 4
                and key not in self.lex.first
                and not (j > i and self._is_first(before, strict=True))
            ):
                break  # an acronym in mixed-case text (MRN, IAC, NPA, CAP), unless after a first name
            if strong:
                surname = key in self.lex.imaging_surnames and not tok.text.isupper()  # "Dhr. Dixon"
                if (key in self.lex.imaging and not surname) or (
                    key in self.lex.clinical and key not in self.lex.last and tok.text.isupper()
                ):
                    break
                known += 1
            elif self._namey(key, upper, surname=True):
                known += 1
            elif self._surname_slot(key, tok.text.isupper()) and (
                (j > i and self._is_first(before, strict=True))
                or (j + 1 < n and adjacent(text, tok, tokens[j + 1]) and self._is_first(tokens[j + 1].key, strict=True))
            ):
                known += 1  # the word beside a first name is the family name, even if it is also a word
            elif (
                cue
                and j == i
                and key not in self.lex.imaging
                and j + 1 < n
                and adjacent(text, tok, tokens[j + 1])
                and is_cap(tokens[j + 1].text)
                and self._namey(tokens[j + 1].key, upper, surname=True)
            ):
                known += 1  # after a role word, a capitalised word before a name word ("by: Job Wouters")
            elif cue and known and not upper and self._lone_name(text, tok, upper):
                known += 1  # after a role word and a name word, one more ("physician: Salvi Mercati")
            else:
                break
            j += 1
            words += 1
        # drop trailing particles and initials that did not lead anywhere
        while j > i and tokens[j - 1].key in PARTICLES:
            j -= 1
        if known == 0:
            return i
        if not strong and not cue and known < 1:
            return i
        if cue and not strong and known < 2:
            first_key = next((t.key for t in tokens[i:j] if t.key not in PARTICLES), tokens[i].key)
            if not (first_key in self.lex.first or first_key in self.lex.last or first_key not in self.lex.common):
                return i
        return j

    def _lone_name(self, text: str, tok: Token, upper: bool) -> bool:
        """Whether a capitalised word that a role word announces can be a name on its own: not
        a radiology, function or role word, nor a label or an acronym."""
        key = tok.key
        if not is_cap(tok.text) or len(key) < 3 or text.startswith(":", tok.end):
            return False
        if key in self.lex.radiology or key in self.lex.imaging or key in STOP or key in TITLES or key in CUES:
            return False
        if tok.text.isupper() and (not upper or len(key) <= 4 or key in self.lex.common):
            return False
        return not (upper and key in self.lex.clinical)

    def _unknown(self, key: str) -> bool:
        """A word none of the word lists holds, or a name (``Janczura``, ``Oliwier``)."""
        if key in self.lex.first or key in self.lex.last:
            return key not in self.lex.radiology
        return key not in self.lex.common and key not in self.lex.clinical and key not in STOP and len(key) > 2

    def _caps_pair(self, tok: Token, nxt: Token, upper: bool) -> bool:
        """``BRANDT, HJALTE``: two words in capitals around a comma in mixed-case text, neither a
        clinical nor a frequent word (in capitals text, one of them must be a known name)."""
        if not (tok.text.isupper() and nxt.text.isupper() and len(tok.key) > 2 and len(nxt.key) > 2):
            return False
        if not (self._unknown(tok.key) and (self._unknown(nxt.key) or self._is_first(nxt.key))):
            return False
        known = tok.key in self.lex.last or self._is_first(nxt.key)
        return not upper or known or min(len(tok.key), len(nxt.key)) >= 5

    def _is_first(self, key: str, strict: bool = False) -> bool:
        """Whether ``key`` is a first name (each part of ``Jean-Pierre``, the initial of
        ``Klaus-D`` aside); ``strict``: not also a clinical word."""
        parts = [p for p in key.split("-") if len(p) > 1]
        ok = bool(parts) and all(p in self.lex.first for p in parts)
        return ok and not (
            strict and (key in self.lex.clinical or (len(key) <= 3 and key not in self.lex.census_first))
        )

    def _surname_slot(self, key: str, caps: bool = True) -> bool:
        """Whether a capitalised word next to a first name can be the family name (``caps``: written
        in capitals, where clinical words are the rule: ``CHEST PA``)."""
        key = re.sub(r"['’]s$", "", key)
        if key in self.lex.imaging_surnames and not caps:
            return True  # "Gary Dixon"
        return (
            len(key) > 1
            and key not in STOP
            and key not in self.lex.imaging
            and (key not in (self.lex.clinical if caps else self.lex.radiology) or key in self.lex.last)
        )

    def _comma_given(self, text: str, tokens: list[Token], end: int, cue: bool = False) -> int:
        """Extend a name ending at ``tokens[end - 1]`` over ``, Given`` (``Doe, Jane``); after a
        role word (``cue``) any capitalised word that is neither common nor clinical will do."""
        if end < len(tokens) and text[tokens[end - 1].end : tokens[end].start].strip() == ",":
            tok = tokens[end]
            given = tok.key in self.lex.first or (cue and self._namey(tok.key, False, surname=True))
            last = text[tok.end :].lstrip(" ")[:1] in ("", ".", ";")
            given = given or (last and (self._unknown(tok.key) or tok.key in self.lex.stop_names))  # "Lundin, Per"
            if is_cap(tok.text) and given:
                j = end + 1
                while (
                    j < len(tokens)
                    and j - end < 3
                    and adjacent(text, tokens[j - 1], tokens[j])
                    and (is_initial(text, tokens[j]) or (is_cap(tokens[j].text) and tokens[j].key in self.lex.first))
                ):
                    j += 1
                return j
        return end

    def _namey(self, key: str, upper: bool, surname: bool) -> bool:
        """Whether a capitalised word can be part of a person's name."""
        parts = key.split("-")
        if len(parts) > 1:
            named = [p for p in parts if len(p) > 1]  # "klaus-d": the initial aside
            return bool(named) and all(self._namey(p, upper, surname) for p in named)
        key = re.sub(r"['’]s$", "", key)
        if key in STOP or key in self.lex.imaging or (key in TITLES and not surname):
            return False
        if key in self.lex.first or key in self.lex.last:
            return True
        if key in self.lex.clinical or len(key) < 2:
            return False
        if upper:
            return surname and len(key) >= 4 and key not in self.lex.common
        return surname and key not in self.lex.common

    # -- known identifiers ----------------------------------------------------------------
