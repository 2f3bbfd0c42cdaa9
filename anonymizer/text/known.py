"""Identifiers the header gave, found in free text whatever their rendering.

Names part by part in any order, case- and accent-insensitively (ä/ö/ü also as ae/oe/ue),
as whole tokens, with an adjacent initial; IDs and phone numbers ignoring separators and
leading zeros; dates in 100-odd renderings (numeric, two-digit years, month names in en,
de, fr, es, it and nl); institution and address values and their words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from anonymizer.text.lexicon import Lexicon
from anonymizer.text.patterns import INSTITUTION_RE, WORD_RE, Add
from anonymizer.text.vocabulary import STOP, fold

CLASSES: tuple[str, ...] = ("name", "phone", "email", "url", "address", "postcode", "institution", "id", "date", "age")
"""Every class of PHI a :class:`~anonymizer.text.phi.Detector` can report."""


@dataclass(frozen=True)
class Known:
    """The identifiers one object's header gave, compiled once into folded needles, in the
    order they were given: ``(how, needle, class, initials)``. ``how`` is ``name`` (a name
    part; ``initials``: of its name), ``phrase`` or ``alnum`` (letters and digits,
    separators ignored). ``dates``: each date's two-digit year (every rendering holds it)
    and its folded renderings."""

    needles: tuple[tuple[str, str, str, frozenset[str]], ...]
    dates: tuple[tuple[str, tuple[str, ...]], ...] = ()


def compile_known(known: Iterable[tuple[str, str]], lex: Lexicon) -> Known:
    """``(value, cls)`` pairs from the header compiled for :func:`find_known`."""
    needles: dict[tuple[str, str, str, frozenset[str]], None] = {}
    dates: dict[str, None] = {}
    none: frozenset[str] = frozenset()

    def phrase(key: str, cls: str) -> None:
        needles[("phrase", key, cls, none)] = None

    for value, cls in known:
        value = value.strip()
        if not value:
            continue
        cls = {"person-name": "name", "pn": "name", "institution-name": "institution"}.get(cls, cls)
        if cls not in CLASSES:
            cls = "id"
        if cls == "date":
            dates[value[:8]] = None
        elif cls == "name":
            keys: set[str] = set()
            for p in re.split(r"[\^=,;\s/\\()]+", value):
                k = fold(p.strip("."))
                if len(k) >= 2:
                    keys.add(k)
                    keys.add(fold(umlaut_ascii(p.strip("."))))
                    keys.update(x for x in k.split("-") if len(x) >= 2)
            initials = frozenset(k[0] for k in keys)
            needles.update((("name", key, "name", initials), None) for key in sorted(keys))
        elif cls in ("id", "phone") or any(c.isdigit() for c in value):
            key = "".join(c for c in fold(value) if c.isalnum())
            if len(key) >= 2:
                needles[("alnum", key, cls, none)] = None
                stripped = key.lstrip("0")
                if stripped != key and len(stripped) >= 4:
                    needles[("alnum", stripped, cls, none)] = None
            if cls != "phone":
                phrase(fold(value), cls)
        else:
            phrase(fold(value), cls)
            for word in WORD_RE.findall(value):
                key = fold(word)
                if len(key) >= 4 and key not in lex.clinical and key not in STOP and not INSTITUTION_RE.fullmatch(word):
                    phrase(key, cls)
    return Known(
        tuple((how, key.strip(), cls, initials) for how, key, cls, initials in needles if len(key.strip()) >= 2),
        tuple((d[2:4], _folded_renderings(d)) for d in dates if _folded_renderings(d)),
    )


@lru_cache(maxsize=4096)
def _folded_renderings(value: str) -> tuple[str, ...]:
    """The folded renderings of one date (a study's files share their dates)."""
    return tuple(dict.fromkeys(fold(r) for r in date_renderings(value)))


def find_known(text: str, known: Known, add: Add) -> None:
    """Report every occurrence in ``text`` of the identifiers in ``known``: names part by
    part with an adjacent initial, dates in every rendering, IDs ignoring separators."""
    folded = fold_index(text)
    if any(c.isdigit() for c in text):
        for year, renderings in known.dates:
            if year in folded:  # every rendering holds the year
                for rendering in renderings:
                    if rendering in folded:
                        for s, e in find_phrase(folded, rendering):
                            add(s, e, "date", 10)
    flat: tuple[str, tuple[int, ...]] | None = None
    for how, needle, cls, initials in known.needles:
        if how == "alnum":
            flat = flat or _alnum_index(text)
            if needle in flat[0]:
                for s, e in _find_alnum(text, flat[0], flat[1], needle):
                    add(s, e, cls, 10)
            continue
        if needle not in folded:
            continue
        for s, e in find_phrase(folded, needle):
            add(s, e, cls, 10)
            if how != "name":
                continue
            # an initial right before or after a known name part: "J. Doe", "Doe, J."
            before = re.search(r"(?<![\w])([^\W\d_])\.?[\s,]*$", text[max(0, s - 4) : s])
            if before and before.group(1).lower() in initials:
                add(s - len(before.group()), e, "name", 10)
            after = re.match(r"[\s,]+([^\W\d_])\.?(?![\w])", text[e : e + 5])
            if after and after.group(1).lower() in initials:
                add(s, e + after.end(), "name", 10)


# -- resolution -----------------------------------------------------------------------


def date_renderings(value: str) -> list[str]:
    """Renderings of a DICOM date ``YYYYMMDD`` (a DT value uses its date part).

    Parameters
    ----------
    value
        A DICOM DA or DT value.

    Returns
    -------
    list of str
        Numeric (ISO, European, US, two-digit years) and month-name renderings in en, de,
        fr, es, it and nl; empty when ``value`` is not a valid date.
    """
    digits = value.strip()[:8]
    if len(digits) != 8 or not digits.isdigit() or not 1 <= int(digits[4:6]) <= 12 or not 1 <= int(digits[6:8]) <= 31:
        return []
    y, m, d = digits[:4], digits[4:6], digits[6:8]
    yy, mi, di = y[2:], str(int(m)), str(int(d))
    out = [digits, f"{y}-{m}-{d}", f"{y}/{m}/{d}", f"{y}.{m}.{d}", f"{y}-{mi}-{di}"]
    for dd, mm in ((d, m), (di, mi)):
        out += [f"{dd}.{mm}.{y}", f"{dd}/{mm}/{y}", f"{dd}-{mm}-{y}", f"{mm}/{dd}/{y}", f"{mm}-{dd}-{y}"]
        out += [f"{dd}.{mm}.{yy}", f"{dd}/{mm}/{yy}", f"{mm}/{dd}/{yy}", f"{dd}. {mm}. {y}"]
    month = int(m) - 1
    names = {
        "en": (
            "January February March April May June July August September October November December",
            "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
        ),
        "de": (
            "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
            "Jan Feb Mär Apr Mai Jun Jul Aug Sep Okt Nov Dez",
        ),
        "fr": (
            "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
            "janv févr mars avr mai juin juil août sept oct nov déc",
        ),
        "es": (
            "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
            "ene feb mar abr may jun jul ago sep oct nov dic",
        ),
        "it": (
            "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
            "gen feb mar apr mag giu lug ago set ott nov dic",
        ),
        "nl": (
            "januari februari maart april mei juni juli augustus september oktober november december",
            "jan feb mrt apr mei jun jul aug sep okt nov dec",
        ),
    }
    for full, abbr in names.values():
        long_name, short = full.split()[month], abbr.split()[month]
        for name in dict.fromkeys((long_name, short)):
            out += [
                f"{di} {name} {y}",
                f"{d} {name} {y}",
                f"{d}-{name}-{y}",
                f"{d}-{name}-{yy}",
                f"{name} {di}, {y}",
                f"{name} {di} {y}",
            ]
            out += [f"{di}. {name} {y}", f"{di} de {name} de {y}", f"{y}-{name}-{d}"]
    return list(dict.fromkeys(out))


def umlaut_ascii(word: str) -> str:
    return (
        word.replace("ä", "ae")
        .replace("ö", "oe")
        .replace("ü", "ue")
        .replace("Ä", "Ae")
        .replace("Ö", "Oe")
        .replace("Ü", "Ue")
    )


@lru_cache(maxsize=4096)
def fold_index(text: str) -> str:
    """``text`` folded one character per character (so indexes stay valid)."""
    out = []
    for c in text:
        f = fold(c)
        out.append(f if len(f) == 1 else c.lower() if len(c.lower()) == 1 else c)
    return "".join(out)


def find_phrase(folded: str, phrase: str) -> Iterator[tuple[int, int]]:
    """Every whole-word occurrence of ``phrase`` (at least 2 characters) in ``folded``."""
    start = folded.find(phrase)
    while start != -1:
        end = start + len(phrase)
        if (start == 0 or not folded[start - 1].isalnum() or not phrase[0].isalnum()) and (
            end == len(folded) or not folded[end].isalnum() or not phrase[-1].isalnum()
        ):
            yield start, end
        start = folded.find(phrase, start + 1)


@lru_cache(maxsize=4096)
def _alnum_index(text: str) -> tuple[str, tuple[int, ...]]:
    """``text``'s letters and digits folded (a gap mark where other separators were), with
    each one's index in ``text``."""
    chars, index = [], []
    for i, c in enumerate(text):
        if c.isalnum():
            chars.append(fold(c)[:1] or c)
            index.append(i)
        elif c not in " -./()" and chars and chars[-1] != "\x00":
            chars.append("\x00")
            index.append(i)
    return "".join(chars), tuple(index)


def _find_alnum(text: str, flat: str, index: tuple[int, ...], key: str) -> Iterator[tuple[int, int]]:
    """Find ``key`` (folded letters and digits) in ``text`` ignoring separators between them."""
    start = flat.find(key)
    while start != -1:
        s, e = index[start], index[start + len(key) - 1] + 1
        whole = (s == 0 or not text[s - 1].isalnum()) and (e == len(text) or not text[e].isalnum())
        if whole or (len(key) >= 6 and any(c.isdigit() for c in key)):
            yield s, e
        start = flat.find(key, start + 1)
