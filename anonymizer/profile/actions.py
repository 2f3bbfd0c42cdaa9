"""The action registry: what a rule does to one element.

Actions return an :class:`Edit`; they never mutate the dataset (the engine applies the
edit). Each action documents its PS3.15 code, the VRs it handles, whether it is
deterministic (same key -> same output) and whether it is reversible (through the vault).

Sequences (VR SQ) are handled by the engine: ``remove`` deletes them, ``empty`` leaves
zero items, and every other action keeps the sequence and applies the rules to the
elements of its items (``replace`` and ``clean`` also change the defaults inside).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydicom.valuerep import PersonName

from anonymizer.dicom.tags import format_tag
from anonymizer.errors import ActionError
from anonymizer.keys.secret import Secret
from anonymizer.text.cleaner import TextCleaner

TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
NUMBER_VRS = frozenset({"FL", "FD", "SL", "SS", "SV", "UL", "US", "UV", "DS", "IS", "AT"})
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
MAX_LENGTH = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 8,
    "DS": 16,
    "DT": 26,
    "IS": 12,
    "LO": 64,
    "LT": 10240,
    "PN": 64,
    "SH": 16,
    "ST": 1024,
    "TM": 14,
    "UI": 64,
}
DUMMY: Mapping[str, Any] = {
    "AE": "ANONYMOUS",
    "AS": "000Y",
    "CS": "ANONYMIZED",
    "DA": "19000101",
    "DT": "19000101000000",
    "DS": "0",
    "IS": "0",
    "LO": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "PN": "ANONYMOUS",
    "SH": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "TM": "000000",
    "UC": "ANONYMIZED",
    "UR": "urn:anonymized",
    "UT": "ANONYMIZED",
}
_TOKEN_FIELD = re.compile(r"\{token(?::(\d+))?\}")


class Element(Protocol):
    """What actions read of an element: a pydicom ``DataElement`` or a ``rawtext.TextElement``."""

    @property
    def tag(self) -> int: ...
    @property
    def VR(self) -> str: ...
    @property
    def keyword(self) -> str: ...
    @property
    def value(self) -> Any: ...


@dataclass(frozen=True)
class Edit:
    """What to do to one element: keep it, delete it, or set a new value."""

    op: str  # "keep" | "delete" | "set"
    value: Any = None


KEEP = Edit("keep")
DELETE = Edit("delete")


@dataclass
class FileContext:
    """Per-file state the actions read: key, patient offset, cleaner, vault records."""

    secret: Secret
    patient_id: str
    day_offset: int
    make_cleaner: Callable[[], TextCleaner]
    records: list[tuple[str, str, str]] = field(default_factory=list)
    _cleaner: TextCleaner | None = None

    @property
    def cleaner(self) -> TextCleaner:
        if self._cleaner is None:
            self._cleaner = self.make_cleaner()
        return self._cleaner


def _fail(elem: Element, action: str, reason: str) -> ActionError:
    return ActionError(f"{format_tag(elem.tag)} {elem.keyword or 'private'} VR {elem.VR}: {action}: {reason}")


def values(elem: Element) -> list[str]:
    """The element's values as strings (multi-valued elements give several)."""
    value = elem.value
    if value is None or value == "":
        return []
    if isinstance(value, bytes):
        return [value.decode("latin-1").rstrip("\x00 ")]
    if isinstance(value, (str, PersonName)):
        return [str(value)]
    try:
        return [str(v) for v in value]
    except TypeError:
        return [str(value)]


def _set(elem: Element, items: list[str]) -> Edit:
    if elem.VR in BINARY_VRS:  # e.g. a private UID or date read as UN
        raw = "\\".join(items).encode("ascii")
        return Edit("set", raw + b"\x00" * (len(raw) % 2))
    if not items:
        return Edit("set", None)
    return Edit("set", items[0] if len(items) == 1 else items)


def _fit(elem: Element, action: str, text: str) -> str:
    limit = MAX_LENGTH.get(elem.VR)
    if limit is not None and len(text) > limit:
        raise _fail(elem, action, f"result longer than VR allows ({len(text)} > {limit})")
    return text


class Action:
    """Base of every action. Subclasses set ``name``, ``code`` and ``params``."""

    name: ClassVar[str]
    code: ClassVar[str]
    params: ClassVar[frozenset[str]] = frozenset()
    reads_value: ClassVar[bool] = True  # False: the engine need not decode the element
    identifying: ClassVar[bool] = True  # the original value counts for text cleaning

    def __init__(self, params: Mapping[str, Any], base: Path | None = None):
        self.with_ = dict(params)

    @classmethod
    def validate(cls, params: Mapping[str, Any], base: Path | None) -> None:
        """Raise ValueError for an unknown or ill-typed parameter."""
        unknown = set(params) - cls.params
        if unknown:
            allowed = ", ".join(sorted(cls.params)) or "none"
            raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))} (allowed: {allowed})")

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        raise NotImplementedError


ACTIONS: dict[str, type[Action]] = {}


def register(cls: type[Action]) -> type[Action]:
    """Class decorator: add an action to :data:`ACTIONS`; duplicate names are an error."""
    if cls.name in ACTIONS:
        raise RuntimeError(f"action {cls.name!r} registered twice")
    ACTIONS[cls.name] = cls
    return cls


@register
class Keep(Action):
    """Keep the element unchanged. PS3.15 K. Any VR. Deterministic; not reversible (nothing changed).

    ``{tag: PatientSex, action: keep}``
    """

    name, code, reads_value, identifying = "keep", "K", False, False

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        return KEEP


@register
class Remove(Action):
    """Remove the element. PS3.15 X. Any VR. Deterministic; not reversible.

    ``{tag: OtherPatientIDs, action: remove}``
    """

    name, code, reads_value = "remove", "X", False

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        return DELETE


@register
class Empty(Action):
    """Keep the element with a zero-length value. PS3.15 Z. Any VR. Deterministic; not reversible.

    ``{tag: AccessionNumber, action: empty}``
    """

    name, code = "empty", "Z"

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        return Edit("set", b"" if elem.VR in BINARY_VRS else None)


@register
class Replace(Action):
    """Replace with a VR-valid dummy, or ``with: {value: ...}``. PS3.15 D.

    Text, date and number VRs get a fixed dummy; UI gets a remapped UID (a dummy UID
    must stay unique); binary VRs get two zero bytes. Deterministic; irreversible.

    ``{tag: PatientName, action: replace, with: {value: "ANONYMOUS"}}``
    """

    name, code, params = "replace", "D", frozenset({"value"})

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        if "value" in self.with_:
            return Edit("set", self.with_["value"])
        if elem.VR == "UI":
            return _set(elem, [ctx.secret.uid(v) for v in values(elem)])
        if elem.VR in DUMMY:
            return Edit("set", DUMMY[elem.VR])
        if elem.VR in NUMBER_VRS:
            return Edit("set", 0)
        return Edit("set", b"\x00\x00")


@register
class RemapUid(Action):
    """Replace each UID with ``2.25.`` + an integer from a keyed HMAC. PS3.15 U.

    VR UI (or a UID stored as UN). Deterministic: equal UIDs map to equal UIDs in every
    file and run with the same key, so references stay valid. Reversible through the
    vault (the original is recorded).

    ``{tag: StudyInstanceUID, action: remap_uid}``
    """

    name, code, identifying = "remap_uid", "U", False

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        if elem.VR not in ("UI", "UN", "OB"):
            raise _fail(elem, self.name, "not a UID")
        out = []
        for original in values(elem):
            new = ctx.secret.uid(original)
            ctx.records.append(("UID", new, original.strip()))
            out.append(new)
        return _set(elem, out)


class _Token(Action):
    """Shared by hash and pseudonymize: a keyed token that fits the VR."""

    params = frozenset({"length", "namespace"})

    @classmethod
    def validate(cls, params: Mapping[str, Any], base: Path | None) -> None:
        super().validate(params, base)
        length = params.get("length", 16)
        if not isinstance(length, int) or not 4 <= length <= 52:
            raise ValueError("length must be an integer from 4 to 52")

    def _token(self, elem: Element, ctx: FileContext, value: str, namespace: str | None = None) -> tuple[str, str]:
        if elem.VR not in TEXT_VRS:
            raise _fail(elem, self.name, "needs a text VR")
        namespace = namespace or str(self.with_.get("namespace") or elem.keyword or format_tag(elem.tag))
        length = min(int(self.with_.get("length", 16)), MAX_LENGTH.get(elem.VR, 64))
        return namespace, ctx.secret.token(namespace, value, length)


@register
class Hash(_Token):
    """Replace with a keyed HMAC token (base32) that fits the VR. No PS3.15 code.

    Text VRs (PN, LO, SH, AE, CS, ...). Deterministic per key and namespace (default:
    the attribute keyword); irreversible (nothing is recorded).

    ``{tag: StationName, action: hash, with: {length: 8}}``
    """

    name, code = "hash", "D"

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        return _set(elem, [self._token(elem, ctx, v)[1] for v in values(elem)])


@register
class Pseudonymize(_Token):
    """Replace with a keyed token in a format; the original goes to the vault. PS3.15 D.

    Text VRs. ``format`` places the token: ``"SUBJ-{token:8}"`` (default ``{token}``,
    16 characters or the VR's limit). Deterministic per key and namespace (default: the
    attribute keyword), so one patient gets one pseudonym everywhere; reversible with
    the project key through the vault. ``source: PatientID`` takes the token from the
    object's original PatientID instead (so PatientName can carry the same pseudonym).

    ``{tag: PatientID, action: pseudonymize, with: {format: "SUBJ-{token:8}"}}``
    """

    name, code = "pseudonymize", "D"
    params = frozenset({"format", "namespace", "length", "source"})

    @classmethod
    def validate(cls, params: Mapping[str, Any], base: Path | None) -> None:
        super().validate(params, base)
        fmt = params.get("format", "{token}")
        if not isinstance(fmt, str) or len(_TOKEN_FIELD.findall(fmt)) != 1:
            raise ValueError("format must be a string with exactly one {token} or {token:N}")
        if "{" in _TOKEN_FIELD.sub("", fmt) or "}" in _TOKEN_FIELD.sub("", fmt):
            raise ValueError("format may hold no field other than {token}")
        if params.get("source", "PatientID") != "PatientID":
            raise ValueError("source can only be PatientID")
        if "source" in params and "namespace" in params:
            raise ValueError("source implies namespace PatientID; give one of them")

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        fmt = str(self.with_.get("format", "{token}"))
        match = _TOKEN_FIELD.search(fmt)
        assert match is not None
        source = "source" in self.with_
        originals = ([ctx.patient_id] if ctx.patient_id else []) if source else values(elem)
        out = []
        for original in originals:
            namespace, token = self._token(elem, ctx, original.strip(), "PatientID" if source else None)
            if match.group(1):
                token = token[: int(match.group(1))]
            pseudonym = _fit(elem, self.name, _TOKEN_FIELD.sub(token, fmt))
            ctx.records.append((namespace, pseudonym, original.strip()))  # as it appears in OUT
            out.append(pseudonym)
        return _set(elem, out)


def _shift_da(value: str, days: int) -> str | None:
    """``YYYYMMDD`` (the first 8 characters, all digits) moved by ``days``; None if no such date."""
    try:
        day = dt.date(int(value[:4]), int(value[4:6]), int(value[6:8])) + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


@register
class ShiftDate(Action):
    """Move dates by the patient's keyed day offset. PS3.15 C (modified dates).

    DA and DT (date part shifted, time and zone kept; ranges shifted at both ends); TM is
    kept (whole-day shifts leave times valid); dates that cannot be parsed, and partial
    DT values, become empty. Other text VRs are cleaned, binary VRs removed. Every date
    of one patient moves by the same number of days, so intervals are preserved.
    Deterministic; reversible with the key (the offset is a keyed function).

    ``{tag: StudyDate, action: shift_date}``
    """

    name, code = "shift_date", "C"

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        if elem.VR == "TM":
            return KEEP
        if elem.VR not in ("DA", "DT", "UN"):
            return Clean({})(elem, ctx)
        out = []
        for value in values(elem):
            parts = value.split("-") if elem.VR == "DA" and "-" in value else [value]
            shifted = []
            for part in parts:
                part = part.strip()
                new = _shift_da(part, ctx.day_offset) if len(part) >= 8 and part[:8].isdigit() else None
                if part and new is None:
                    return _set(elem, [])
                shifted.append(new + part[8:] if new else "")
            out.append("-".join(shifted))
        return _set(elem, out)


@register
class Generalize(Action):
    """Coarsen dates and ages. No PS3.15 code (a form of C).

    VRs DA and DT: ``with: {to: year}`` (default) gives ``YYYY0101``, ``to: month`` ``YYYYMM01``
    (DT loses its time). AS: ages in ``band``-year bands (default 1), and any age of 90
    years or more becomes ``090Y`` (HIPAA Safe Harbor). Deterministic; not reversible.

    ``{tag: PatientAge, action: generalize, with: {band: 5}}``
    """

    name, code, params = "generalize", "C", frozenset({"to", "band"})

    @classmethod
    def validate(cls, params: Mapping[str, Any], base: Path | None) -> None:
        super().validate(params, base)
        if params.get("to", "year") not in ("year", "month"):
            raise ValueError("to must be year or month")
        band = params.get("band", 1)
        if not isinstance(band, int) or not 1 <= band <= 50:
            raise ValueError("band must be an integer from 1 to 50")

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        if elem.VR in ("DA", "DT"):
            keep = 4 if self.with_.get("to", "year") == "year" else 6
            out = []
            for v in values(elem):
                if len(v) < keep or not v[:keep].isdigit():
                    return _set(elem, [])
                out.append((v[:keep] + "0101")[:8])
            return _set(elem, out)
        if elem.VR == "AS":
            return _set(elem, [_age_band(v, int(self.with_.get("band", 1))) for v in values(elem)])
        raise _fail(elem, self.name, "needs a DA, DT or AS value")


def _age_band(value: str, band: int) -> str:
    if len(value) != 4 or not value[:3].isdigit() or value[3] not in "DWMY":
        return ""
    years = int(value[:3]) if value[3] == "Y" else 0
    if years >= 90:
        return "090Y"
    if value[3] != "Y":
        return value if band == 1 else "000Y"
    return f"{years - years % band:03d}Y"


@register
class Clean(Action):
    """Keep free text but replace identifying tokens. PS3.15 C.

    Text VRs: every token that matches an identifying value of the same object (names
    and their parts in any order or case, IDs, institutions, addresses, dates) and every
    identifying-looking pattern (dates, phone numbers, e-mail addresses, long digit
    runs) becomes ``***``. PN is emptied; AE is hashed; DA/DT are shifted; UI remapped;
    binary values removed; numbers kept. Deterministic; irreversible.

    ``{tag: StudyDescription, action: clean}``
    """

    name, code, identifying = "clean", "C", False

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        vr = elem.VR
        if vr == "PN":
            return Edit("set", None)
        if vr == "AE":
            return Hash({})(elem, ctx)
        if vr in ("DA", "DT", "TM"):
            return ShiftDate({})(elem, ctx)
        if vr == "UI":
            return RemapUid({})(elem, ctx)
        if vr in BINARY_VRS:
            return DELETE
        if vr not in TEXT_VRS:
            return KEEP
        cleaner = ctx.cleaner
        return _set(elem, [_fit(elem, self.name, cleaner.clean(v)) for v in values(elem)])


@register
class Lookup(Action):
    """Value from a CSV the data controller supplies (``original,pseudonym`` header). PS3.15 D.

    Text VRs. ``file`` is relative to the profile. On a miss, ``on_missing`` says what
    happens: ``error`` (the file fails, default) or the name of another action
    (pseudonymize, hash, remove, empty, replace). Deterministic; reversible (the pair is
    recorded for the vault).

    ``{tag: PatientID, action: lookup, with: {file: ids.csv, on_missing: pseudonymize}}``
    """

    name, code = "lookup", "D"
    params = frozenset({"file", "on_missing", "namespace"})
    FALLBACKS = ("error", "pseudonymize", "hash", "remove", "empty", "replace")

    @classmethod
    def validate(cls, params: Mapping[str, Any], base: Path | None) -> None:
        super().validate(params, base)
        if params.get("on_missing", "error") not in cls.FALLBACKS:
            raise ValueError(f"on_missing must be one of {', '.join(cls.FALLBACKS)}")
        if not isinstance(params.get("file"), str):
            raise ValueError("file (a CSV path) is required")
        cls._read(params, base)

    @staticmethod
    def _read(params: Mapping[str, Any], base: Path | None) -> dict[str, str]:
        path = (base or Path.cwd()) / str(params["file"])
        try:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                if reader.fieldnames is None or not {"original", "pseudonym"} <= set(reader.fieldnames):
                    raise ValueError("lookup CSV needs the header original,pseudonym")
                table = {}
                for row in reader:
                    table[row["original"].strip()] = row["pseudonym"].strip()
                return table
        except OSError:
            raise ValueError("lookup CSV cannot be read") from None

    def __init__(self, params: Mapping[str, Any], base: Path | None = None):
        super().__init__(params, base)
        self.table = self._read(params, base)
        fallback = str(params.get("on_missing", "error"))
        self.fallback = None if fallback == "error" else ACTIONS[fallback]({}, base)

    def records(self, namespace: str) -> list[tuple[str, str, str]]:
        """Every pair of the crosswalk as vault records (imported at the start of a run)."""
        namespace = str(self.with_.get("namespace") or namespace)
        return [(namespace, new, old) for old, new in sorted(self.table.items())]

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        namespace = str(self.with_.get("namespace") or elem.keyword or format_tag(elem.tag))
        out = []
        for original in values(elem):
            new = self.table.get(original.strip())
            if new is None:
                if self.fallback is None:
                    raise _fail(elem, self.name, "value not in the lookup table")
                return self.fallback(elem, ctx)
            ctx.records.append((namespace, new, original.strip()))
            out.append(_fit(elem, self.name, new))
        return _set(elem, out)


@register
class Conform(Action):
    """A PS3.15 combined code (Z/D, X/Z, X/D, X/Z/D, X/Z/U*), resolved per SOP class.

    The engine replaces it, per IOD, with remove (Type 3 or absent), empty (Type 2) or
    replace / remap_uid (Type 1), choosing among the codes the combination allows. Any
    VR; deterministic; reversible only where it resolves to remap_uid.

    ``{tag: ContentCreatorName, action: conform, with: {code: Z/D}}``
    """

    name, code, params = "conform", "", frozenset({"code"})
    CODES = ("Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*")

    @classmethod
    def validate(cls, params: Mapping[str, Any], base: Path | None) -> None:
        super().validate(params, base)
        if params.get("code") not in cls.CODES:
            raise ValueError(f"code must be one of {', '.join(cls.CODES)}")

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        raise _fail(elem, self.name, "unresolved combined code")


_CODE_ACTIONS = {"X": "remove", "Z": "empty", "D": "replace", "U": "remap_uid", "K": "keep", "C": "clean"}


def code_action(code: str, column: str) -> tuple[str, dict[str, Any]]:
    """The action for a Table E.1-1 cell (``column`` is ``basic`` or an option name)."""
    if code in Conform.CODES:
        return "conform", {"code": code}
    if code == "C" and column == "retain-longitudinal-modified-dates":
        return "shift_date", {}
    return _CODE_ACTIONS[code], {}


def resolve_combined(code: str, attr_type: int | None) -> str:
    """Resolve a combined code for an attribute Type (1, 2, 3 or None = not in the IOD).

    Type 1 -> D, Type 2 -> Z, Type 3 or absent -> X; when the combination lacks that
    letter, the next stronger one it has (X < Z < D), or its strongest.
    """
    wanted = {1: "D", 2: "Z"}.get(attr_type or 3, "X")
    letters = code.replace("*", "").split("/")
    order = ["X", "Z", "D", "U"]
    for letter in order[order.index(wanted) :]:
        if letter in letters:
            return _CODE_ACTIONS[letter]
    return _CODE_ACTIONS[letters[-1]]
