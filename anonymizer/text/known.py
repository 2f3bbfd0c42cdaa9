"""Identifiers the header gave, found in free text whatever their rendering.

Names part by part in any order, case- and accent-insensitively (ä/ö/ü also as ae/oe/ue),
as whole tokens, with an adjacent initial; IDs and phone numbers ignoring separators and
leading zeros; dates in 100-odd renderings (numeric, two-digit years, month names in en,
de, fr, es, it and nl); institution and address values and their words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from anonymizer.text.lexicon import Lexicon
from anonymizer.text.patterns import INSTITUTION_RE, WORD_RE, Add
from anonymizer.text.vocabulary import STOP, fold

CLASSES: tuple[str, ...] = ("name", "phone", "email", "url", "address", "postcode", "institution", "id", "date", "age")
"""Every class of PHI a :class:`~anonymizer.text.phi.Detector` can report."""


def find_known(text: str, folded: str, value: str, cls: str, add: Add, lex: Lexicon) -> None:
    """Report every occurrence in ``text`` (``folded``: :func:`fold_index` of it) of one
    identifier the header gave (``cls``: its kind)."""
    value = value.strip()
    if not value:
        return
    cls = {"person-name": "name", "pn": "name", "institution-name": "institution"}.get(cls, cls)
    if cls not in CLASSES:
        cls = "id"
    if cls == "date":
        if not any(c.isdigit() for c in text):
            return  # every rendering holds the year
        for rendering in date_renderings(value):
            find_phrase(folded, fold(rendering), lambda s, e: add(s, e, "date", 10))
        return
    if cls == "name":
        parts = [p for p in re.split(r"[\^=,;\s/\\()]+", value) if p.strip(".")]
        keys: set[str] = set()
        for p in parts:
            k = fold(p.strip("."))
            if len(k) >= 2:
                keys.add(k)
                keys.add(fold(umlaut_ascii(p.strip("."))))
                keys.update(x for x in k.split("-") if len(x) >= 2)
        initials = {k[0] for k in keys}
        hits: list[tuple[int, int]] = []
        for key in keys:
            find_phrase(folded, key, lambda s, e: hits.append((s, e)))
        for s, e in hits:
            add(s, e, "name", 10)
            # an initial right before or after a known name part: "J. Doe", "Doe, J."
            before = re.search(r"(?<![\w])([^\W\d_])\.?[\s,]*$", text[max(0, s - 4) : s])
            if before and before.group(1).lower() in initials:
                add(s - len(before.group()), e, "name", 10)
            after = re.match(r"[\s,]+([^\W\d_])\.?(?![\w])", text[e : e + 5])
            if after and after.group(1).lower() in initials:
                add(s, e + after.end(), "name", 10)
        return
    if cls in ("id", "phone") or any(c.isdigit() for c in value):
        key = "".join(c for c in fold(value) if c.isalnum())
        if len(key) >= 2:
            find_alnum(text, key, lambda s, e: add(s, e, cls, 10))
            stripped = key.lstrip("0")
            if stripped != key and len(stripped) >= 4:
                find_alnum(text, stripped, lambda s, e: add(s, e, cls, 10))
        if cls != "phone":
            find_phrase(folded, fold(value), lambda s, e: add(s, e, cls, 10))
        return
    find_phrase(folded, fold(value), lambda s, e: add(s, e, cls, 10))
    for word in WORD_RE.findall(value):
        key = fold(word)
        if len(key) >= 4 and key not in lex.clinical and key not in STOP and not INSTITUTION_RE.fullmatch(word):
            find_phrase(folded, key, lambda s, e: add(s, e, cls, 10))


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


def fold_index(text: str) -> str:
    """``text`` folded one character per character (so indexes stay valid)."""
    out = []
    for c in text:
        f = fold(c)
        out.append(f if len(f) == 1 else c.lower() if len(c.lower()) == 1 else c)
    return "".join(out)


def find_phrase(folded: str, phrase: str, hit: Callable[[int, int], None]) -> None:
    """Call ``hit`` for every whole-word occurrence of ``phrase`` in ``folded``."""
    phrase = phrase.strip()
    if len(phrase) < 2:
        return
    start = folded.find(phrase)
    while start != -1:
        end = start + len(phrase)
        if (start == 0 or not folded[start - 1].isalnum() or not phrase[0].isalnum()) and (
            end == len(folded) or not folded[end].isalnum() or not phrase[-1].isalnum()
        ):
            hit(start, end)
        start = folded.find(phrase, start + 1)


def find_alnum(text: str, key: str, hit: Callable[[int, int], None]) -> None:
    """Find ``key`` (folded letters and digits) in ``text`` ignoring separators between them."""
    chars, index = [], []
    for i, c in enumerate(text):
        if c.isalnum():
            chars.append(fold(c)[:1] or c)
            index.append(i)
        elif c not in " -./()" and chars and chars[-1] != "\x00":
            chars.append("\x00")
            index.append(i)
    flat = "".join(chars)
    start = flat.find(key)
    while start != -1:
        s, e = index[start], index[start + len(key) - 1] + 1
        whole = (s == 0 or not text[s - 1].isalnum()) and (e == len(text) or not text[e].isalnum())
        if whole or (len(key) >= 6 and any(c.isdigit() for c in key)):
            hit(s, e)
        start = flat.find(key, start + 1)
