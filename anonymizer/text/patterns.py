"""Compiled patterns and token shapes of the free-text PHI detector.

Dates (numeric, ISO and month names in six languages), ages over 89, e-mail addresses,
URLs, SSN- and label-led identifiers, phone candidates (validated by :mod:`phonenumbers`
in :mod:`.phi`), postcodes, street addresses, institutions and name shapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from anonymizer.text.vocabulary import (
    GRADES,
    ID_KEYS,
    INSTITUTION_WORDS,
    MONTHS_ABBR,
    MONTHS_FULL,
    STREET_BEFORE,
    STREET_SUFFIX,
    TITLES,
    WEEKDAYS,
    alternation,
)

Add = Callable[[int, int, str, int], None]
"""Reports a span: ``add(start, end, cls, priority)``."""

MONTH = rf"(?:{alternation(MONTHS_FULL)}|(?:{alternation([*MONTHS_ABBR, 'mar', 'mai', 'may'])})\.?)"
MONTH_FULL = rf"(?:{alternation(MONTHS_FULL)}|(?:{alternation([a for a in MONTHS_ABBR if a not in ('set', 'gen')])})\.)"
WEEKDAY = rf"(?:(?:{alternation(WEEKDAYS)})\.?,?\s+)"
DAY = r"(?:0?[1-9]|[12]\d|3[01])"
ORD = r"(?:st|nd|rd|th|er|re|e|º|°|o|\.)?"
YEAR = r"(?:1[89]\d\d|2[01]\d\d)"
YEAR2 = r"(?:'?\d\d)"
DE = r"(?:\s+de(?:l)?\s+|\s*[-/.,]?\s*)"

DATE_RE = re.compile(
    rf"""(?<![\w/.-])(?:{WEEKDAY})?(?:
        {YEAR}(?P<s1>[-/.])(?:0?[1-9]|1[0-2])(?P=s1){DAY}(?:[T\s]\d\d:\d\d(?::\d\d)?)?      # 2019-03-04
      | {DAY}(?P<s2>[./-])(?:0?[1-9]|1[0-2])(?P=s2)(?:{YEAR}|\d\d)(?!\d)                    # 04.03.2019 04/03/19
      | (?:0?[1-9]|1[0-2])(?P<s3>[./-]){DAY}(?P=s3)(?:{YEAR}|\d\d)(?!\d)                    # 03/04/2019
      | {DAY}\.\s?(?:0?[1-9]|1[0-2])\.\s?{YEAR}                                            # 4. 3. 2019
      | (?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)                            # 20190304
      | {DAY}{ORD}(?:\s+of)?{DE}{MONTH}{DE}(?:{YEAR}|{YEAR2})(?!\d)                     # 4 March 2019, 04-MAR-19
      | {MONTH}{DE}{DAY}{ORD},?{DE}(?:{YEAR}|{YEAR2})(?!\d)                             # March 4, 2019
      | {YEAR}[-/.\s]{MONTH}[-/.\s]{DAY}(?!\d)                                              # 2019-Mar-04
      | {MONTH}[-\s/.,]*(?:de\s+|del\s+)?{YEAR}(?!\d)                                         # March 2019
      | {DAY}{ORD}(?:\s+of)?{DE}{MONTH_FULL}(?![\w])                                        # 4 March
      | {MONTH_FULL}\s+{DAY}{ORD}(?!\d)                                                     # March 4th
      | (?:0?[1-9]|1[0-2])/(?:{YEAR})                                                         # 03/2019
    )(?![\w])""",
    re.IGNORECASE | re.VERBOSE,
)

AGE_RE = re.compile(
    r"""(?<![\w.,])(?:
        (?:9\d|1[0-4]\d)\s?(?:-\s?)?(?:years?|yrs?|yo|y/o|y\.o\.?|yr|y|j|jahre?n?|jährig\w*|jaehrig\w*|a|ans?|años|anos|anni|jaar|j\.)
            (?:[\s-]?(?:old|of\s+age|alt|oud))?(?![\w])
      | (?:age[ds]?|alter|âgée?|agée?|age|edad|età|eta|leeftijd|aged)\s*(?:of|:|=|von|de|di|van)?\s*
        (?:9\d|1[0-4]\d)(?!\d|[.,]\d)
        (?:\s?(?:years?|yrs?|y|j|jahre|ans|años|anni|jaar))?(?![\w])
      | 0(?:9\d|1[0-4]\d)Y(?![\w])
    )""",
    re.IGNORECASE | re.VERBOSE,
)

EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w])")
TLDS = (
    "com|org|net|edu|gov|mil|int|info|biz|io|eu|health|hospital|clinic|"
    "de|fr|es|it|nl|ch|at|be|ca|au|uk|us|lu|dk|se|no|fi|pl|pt|ie|cz|nz|jp|cn|ru|br|mx|ar|in|za"
)
URL_RE = re.compile(
    rf"(?:(?:https?|ftp|sftp|dicomweb)://|www\.)[^\s<>\"'(),;]+[^\s<>\"'(),;.:!?]"
    rf"|(?<![\w@.-])(?:[A-Za-z0-9-]+\.)+(?:{TLDS})(?::\d+)?(?:/[^\s<>\"'(),;]*[^\s<>\"'(),;.:!?])?(?![\w@.-])",
    re.IGNORECASE,
)
SSN_RE = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
ID_KEY_RE = re.compile(
    rf"(?<![\w])(?:{ID_KEYS})\s*[:#.=]?\s*(?:-\s*)?(?P<v>[A-Za-z]{{0,6}}[-/]?\d[\w/-]*\d|\d)(?![\w])",
    re.IGNORECASE,
)
GLUED_KEY_RE = re.compile(r"(?i:mrn|pid|acc|pat|pt|id|nr|no|fall|case|ssn|nhs|ipp|nip|bsn)[-#:]?\d")
LONG_ID_RE = re.compile(r"(?<![\w.,/-])[A-Za-z0-9]+(?:[-/.][A-Za-z0-9]+)*(?![\w-])")
PHONE_CAND_RE = re.compile(r"(?:\+|\b00|\(|\b)\d[\d\s()./-]{3,22}\d(?:\s?(?:ext|x|dw|durchwahl)\.?\s?\d{1,5})?(?![\w])")
PHONE_KEY_RE = re.compile(
    r"(?:tel|tél|phone|ph|fon|telefon|telephone|téléphone|teléfono|telefono|telefoon|fax|mobile|mobil|"
    r"cell|cellulare|móvil|movil|portable|handy|gsm|pager|pieper|bip|beeper|call|ring|contact|tlf|t|f|m)"
    r"\.?\s*(?:no\.?|nr\.?|number)?\s*[:.]?\s*$",
    re.IGNORECASE,
)
UK_POSTCODE_RE = re.compile(r"(?<![\w])(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) ?\d[A-Z]{2}(?![\w])")
CA_POSTCODE_RE = re.compile(r"(?<![\w])[ABCEGHJ-NPRSTVXY]\d[A-Z] ?\d[A-Z]\d(?![\w])")
NL_POSTCODE_RE = re.compile(
    r"(?<![\w.,/:-])[1-9]\d{3} ?(?!SA|SD|SS)[A-Z]{2}"
    r"(?=[\s,]+(?P<c>(?:['’]s[- ]|(?:de|den|het|['’]t)\s)?[A-ZÀ-Þ][a-zß-ÿ'’]+"
    r"(?:(?:\s(?:en|aan|op|de|den|bij|in)\s|[\s-])[A-ZÀ-Þ][a-zß-ÿ'’]+){0,2}))"
)
ZIP_RE = re.compile(
    r"(?<![\w])(?P<city>(?:[A-ZÀ-Þ][a-zß-ÿ'’.-]+\s){0,3}[A-ZÀ-Þ][a-zß-ÿ'’.-]+,?\s+)?(?P<st>[A-Z]{2,3}),?\s+"
    r"(?P<z>\d{5}(?:-\d{4})?|\d{4}|[A-Z]\d[A-Z] ?\d[A-Z]\d)(?![\w-])"
)
LABELLED_POSTCODE_RE = re.compile(
    r"(?<![\w])(?:zip|zip code|postcode|post code|postal code|plz|postleitzahl|cp|c\.p\.|code postal|cap|npa|"
    r"código postal|codigo postal|codice postale)\s*[:.]?\s*"
    r"(?P<z>\d{4} ?[A-Z]{2}|(?:[A-Z]{1,2}-)?\d{4,5}(?:-\d{4})?|[A-Z]\d[A-Z] ?\d[A-Z]\d"
    r"|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})(?![\w])",
    re.IGNORECASE,
)
CITY_POSTCODE_RE = re.compile(
    r"(?<![\w.,/-])(?P<z>(?:[A-Z]{1,2}-)?\d{4,5})\s+(?P<c>(?:[DdLl]['’])?[A-ZÀ-Þ][a-zß-ÿ]+(?:[A-Z][a-zß-ÿ]+)?(?:['’][A-Za-zß-ÿ]+)?(?:[\s/-](?:(?:am|an|auf|bei|im|in|ob|vor|vorm|der|den|dem|de|des|du|la|le|les|sur|sous|lès|lez|près|en|del|di|da|aan|op|sul|al|a)(?![\w])|(?:[DdLl]['’])?[A-ZÀ-Þ][a-zß-ÿ]+(?:[A-Z][a-zß-ÿ]+)?(?:['’][A-Za-zß-ÿ]*)?)){0,4}(?:\s\([A-Z]{2}\))?)"
)
# Street types left out of the lists because they are common words ("Part", "Cross"): an address
# only after a house number and a word that is a first name or a surname (checked in places.py).
# The Australia Post (AS 4590) types of that kind are here; after a unit the number may be missing
# ("Flat 2, Emily Flat").
RISKY_STREET_RE = re.compile(
    r"(?<![\w.,/-])(?:(?P<unit>(?:Flat|Studio|Apartment|Apt\.?|Unit|Suite|Ste\.?|Room|Shop|Level)\s+[\w-]{1,5},?\s+)"
    r"(?:(?:\d{1,4}/)?\d{1,5}[A-Za-z]?\s+)?|(?:\d{1,4}/)?\d{1,5}[A-Za-z]?\s+)(?P<w>[A-ZÀ-Þ][a-zß-ÿ'’]+)\s+"
    r"(?:Part|Flat|Cross|Corso|Block|Access|Little|Mount|Lodge|Point|View|Views|Piazza|Break|Dip|Elbow|Follow|"
    r"Front|Intersection|Lower|Reach|Ride|Ring|Sound|Stairs|Steps|Strip|Top|Tor|Upper)"
    r"(?![\w])"
)
UNIT_FIRST = r"(?:(?:Flat|Studio|Apartment|Apt\.?|Unit|Suite|Ste\.?|Room|Shop|Level)\s+[\w-]{1,5},?\s+)"
STREET_NUM_FIRST_RE = re.compile(
    rf"(?<![\w.,/-]){UNIT_FIRST}?\d{{1,5}}[A-Za-z]?(?:[-/]\d{{1,4}}[A-Za-z]?)?(?:\s?(?:bis|ter))?,?\s+"
    rf"(?:(?:[A-ZÀ-Þ][\w'’.-]*|of|the|de|du|des|la|le|l'|d')\s+){{1,4}}?"
    rf"(?i:{{after}})\.?(?![\w])"
    rf"|(?<![\w.,/-])\d{{1,5}}[A-Za-z]?(?:\s?(?:bis|ter))?,?\s+(?i:{STREET_BEFORE})\.?\s+"
    rf"(?:(?:[\w'’.-]+)\s+){{0,5}}?[A-ZÀ-Þ0-9][\w'’.-]*",
)
STREET_NAME_FIRST_RE = re.compile(
    rf"(?<![\w])(?:(?i:{STREET_BEFORE})\.?\s+(?:(?:[\w'’.-]+)\s+){{0,4}}?|(?:[A-ZÀ-Þ][\w'’.-]*[\s-]){{0,3}})"
    rf"(?:[A-ZÀ-Þ][\w'’.-]*?(?:{STREET_SUFFIX})\.?|[A-ZÀ-Þ][\w'’.-]*)"
    rf",?\s+\d{{1,5}}\s?[a-zA-Z]?(?:[-/]\d{{1,4}}[a-zA-Z]?)?(?![\w])",
)
STREET_NO_NUMBER_RE = re.compile(
    r"(?<![\w])(?:(?:Flat|Studio|Apartment|Apt\.?|Unit|Suite|Room)\s+[\w-]{1,5},?\s+)?"
    r"(?:[A-ZÀ-Þ][\w'’-]+\s){1,3}(?:Street|Road|Lane|Drive|Avenue|Boulevard|Close|Crescent|Terrace|Square|Gardens|Mews|"
    r"Common|Walk|Way|Place|Grove|Row|Parade|Court)(?![\w])"
    r"|(?<![\w])(?:rue|avenue|boulevard|chemin|impasse|allée|calle|avenida|paseo|plaza|via|viale|piazza|corso|vicolo)"
    r"\s+(?:(?:de|du|des|la|le|l'|d'|del|de la|di|della)\s+)?[A-ZÀ-Þ][\w'’-]+(?:\s[A-ZÀ-Þ][\w'’-]+){0,3}",
)
STREET_WORD_RE = re.compile(
    rf"^(?:{STREET_BEFORE})\.?\s|(?:{STREET_SUFFIX})\.?$|(?:{STREET_SUFFIX})\.?[\s,]",
    re.IGNORECASE,
)
UNIT_RE = re.compile(
    r"[\s,]*(?:apt|apartment|suite|ste|unit|flat|floor|fl|room|rm|#|bldg|building|piso|planta|piano|puerta|"
    r"escalera|esc|portal|interno|int|scala|appartamento|appartement|app|wohnung|whg|"
    r"étage|etage|escalier|bus|stiege|stock|og|tür|top)\.?\s*[#:]?\s*[\w-]{1,5}"
    r"(?:\s+(?:puerta|piso|interno|scala)\.?\s*[\w-]{1,4})?",
    re.IGNORECASE,
)
INSTITUTION_RE = re.compile(rf"(?<![\w])(?:{INSTITUTION_WORDS})(?![\w])", re.IGNORECASE)
INSTITUTION_CONNECT = frozenset(
    "of the and & de du des la le l d' del della di dei degli der die das des für fur am an im zum zur van het "
    "voor en y e et st st. saint sainte sankt san santa santo sant ste. ste 's in a al sul sur ob an am bei im "
    "las los el les den dem ten ter op aan bij 't ’t".split()
)
CARET_RE = re.compile(r"(?<![\w^])[^\W\d_]+(?:[-'’][^\W\d_]+)*(?:\^(?:[^\W\d_]+(?:[-'’][^\W\d_]+)*\.?)?)+(?![\w])")
PARTICLES_BEFORE_RE = re.compile(
    r"(?<![\w])(?:(?:van|von|de|der|den|del|della|di|da|du|le|la|dos|das|ten|ter|zu|vd)\s+){1,3}$", re.IGNORECASE
)
WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*(?:-[^\W\d_]+)*")
DIGITS_RE = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class Token:
    """A word of the text: where it is, as written, and folded."""

    start: int
    end: int
    text: str
    key: str  # folded lower-case form


def inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(s <= start and end <= e for s, e in spans)


def is_measure(text: str, m: re.Match[str]) -> bool:
    """Whether a number is a measurement (``12000 mAs``, ``1024 x 1024``)."""
    after = text[m.end() : m.end() + 6].lower()
    return re.match(r"\s?(?:x\s?\d|mm|cm|mas|kv|ms|hz|mgy|mbq|µ|um|s\b|%|px|pixel|kb|mb|gb)", after) is not None


def mostly_upper(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 6 and sum(c.isupper() for c in letters) >= 0.8 * len(letters)


def is_cap(word: str) -> bool:
    return word[:1].isupper() and len(word) > 1


def is_initial(text: str, tok: Token) -> bool:
    """``J`` (before a dot, a space, a comma or the end), or a hyphenated initial ``Klaus-D.``."""
    if len(tok.text) == 1:
        return tok.text.isupper() and (tok.end == len(text) or text[tok.end] in " ,.")
    return is_hyphen_initial(tok.text) and text.startswith(".", tok.end)


def is_hyphen_initial(word: str) -> bool:
    """``Klaus-D``, ``Hans-P``: a given name with the second part abbreviated."""
    return len(word) > 3 and word[-2] == "-" and word[-1].isupper() and word[0].isupper()


def adjacent(text: str, a: Token, b: Token, colon: bool = False) -> bool:
    gap = text[a.end : b.start]
    if gap == ".-" and len(a.text) == 1:  # "H.-Dieter"
        return True
    allowed = " .\t" + (":-" if colon else "")
    if not (len(gap) <= 4 and all(c in allowed for c in gap) and gap.count(".") <= 1):
        return False
    return "." not in gap or len(a.text) == 1 or a.key in TITLES or a.key in GRADES or is_hyphen_initial(a.text)


def gap_ok(text: str, end: int, start: int, dash: bool = False) -> bool:
    gap = text[end:start]
    return len(gap) <= 3 and all(c in " \t" + ("-–," if dash else "-–") for c in gap)
