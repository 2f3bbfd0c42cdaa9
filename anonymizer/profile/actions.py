"""The action registry: what a rule does to one element.

Actions return an :class:`Edit`; they never mutate the dataset (the engine applies the
edit). Each action documents its PS3.15 code, the VRs it handles, whether it is
deterministic (same key -> same output) and whether it is reversible (through the vault).

Sequences (VR SQ) are handled by the engine: ``remove`` deletes them, ``empty`` leaves
zero items, and every other action keeps the sequence and applies the rules to the
elements of its items (``replace`` and ``clean`` also change the defaults inside).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from anonymizer.dicom import vr as vrs
from anonymizer.dicom.tags import format_tag
from anonymizer.errors import ActionError
from anonymizer.keys.secret import Subkeys
from anonymizer.text import cleaner as text_cleaner
from anonymizer.text.cleaner import TextCleaner
from anonymizer.text.identifiers import Element, values

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
    "PN": "ANONYMOUS^",  # a family name component: the form a validator does not call retired
    "SH": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "TM": "000000",
    "UC": "ANONYMIZED",
    "UR": "urn:anonymized",
    "UT": "ANONYMIZED",
}


@dataclass(frozen=True)
class Edit:
    """What to do to one element: keep it, delete it, or set a new value."""

    op: str  # "keep" | "delete" | "set"
    value: Any = None


KEEP = Edit("keep")
DELETE = Edit("delete")


@dataclass
class FileContext:
    """Per-file state the actions read: keyed functions, patient offset, cleaner, vault records."""

    secret: Subkeys
    patient_id: str
    day_offset: int
    make_cleaner: Callable[[], TextCleaner]
    records: list[tuple[str, str, str]] = field(default_factory=list)
    fitted: int = 0  # values cut to their VR's maximum length (their input was already too long)
    _cleaner: TextCleaner | None = None

    @property
    def cleaner(self) -> TextCleaner:
        if self._cleaner is None:
            self._cleaner = self.make_cleaner()
        return self._cleaner


def fail(elem: Element, action: str, reason: str) -> ActionError:
    return ActionError(f"{format_tag(elem.tag)} {elem.keyword or 'private'} VR {elem.VR}: {action}: {reason}")


def set_values(elem: Element, items: list[str]) -> Edit:
    if elem.VR in vrs.BINARY:  # e.g. a private UID or date read as UN
        raw = "\\".join(items).encode("ascii")
        return Edit("set", raw + b"\x00" * (len(raw) % 2))
    if not items:
        return Edit("set", None)
    return Edit("set", items[0] if len(items) == 1 else items)


def fit(elem: Element, action: str, text: str, original: str | None = None) -> str:
    """``text`` if the VR allows its length. A result an action made too long is an error; one
    that is too long because its input already was is cut at a character boundary (counted in
    ``ctx.fitted`` by the caller)."""
    limit = vrs.max_length(elem.VR)
    if limit is None or len(text) <= limit:
        return text
    if original is not None and len(original) > limit:
        return text[:limit].rstrip()
    raise fail(elem, action, f"result longer than VR allows ({len(text)} > {limit})")


class Action:
    """Base of every action. Subclasses set ``name``, ``code`` and ``params``."""

    name: ClassVar[str]
    code: ClassVar[str]
    params: ClassVar[frozenset[str]] = frozenset()
    handles: ClassVar[frozenset[str] | None] = None  # the VRs it applies to (None: any); sequences always
    reads_value: ClassVar[bool] = True  # False: the engine need not decode the element
    identifying: ClassVar[bool] = True  # the original value must not survive (see engine.apply.identifying)

    def __init__(self, params: Mapping[str, Any], base: Path | None = None):
        self.with_ = dict(params)

    @classmethod
    def validate(cls, params: Mapping[str, Any], base: Path | None) -> None:
        """Raise ValueError for an unknown or ill-typed parameter."""
        unknown = set(params) - cls.params
        if unknown:
            allowed = ", ".join(sorted(cls.params)) or "none"
            raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))} (allowed: {allowed})")

    def content_digest(self) -> str:
        """A digest of what the action reads besides its parameters (a crosswalk's rows), or ``""``."""
        return ""

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
        return Edit("set", b"" if elem.VR in vrs.BINARY else None)


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
            return set_values(elem, [ctx.secret.uid(v) for v in values(elem)])
        if elem.VR in DUMMY:
            return Edit("set", DUMMY[elem.VR])
        if elem.VR in vrs.NUMBER:
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

    name, code = "remap_uid", "U"
    handles = frozenset({"UI", "UN", "OB"})

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        if elem.VR not in ("UI", "UN", "OB"):
            raise fail(elem, self.name, "not a UID")
        out = []
        for original in values(elem):
            new = ctx.secret.uid(original)
            ctx.records.append(("UID", new, original.strip()))
            out.append(new)
        return set_values(elem, out)


@register
class Clean(Action):
    """Keep free text but replace what identifies. PS3.15 C.

    Text VRs: the free-text PHI detector (:mod:`anonymizer.text.phi`) replaces person
    names, phone and fax numbers, e-mail addresses, URLs, street addresses, postcodes,
    institutions, identifiers, dates and ages over 89, and every identifying value of the
    same object (names and their parts in any order or case, IDs with or without
    separators, institutions, addresses, dates in many renderings). PN is emptied; AE is
    hashed; DA/DT are shifted; UI remapped; binary values removed; numbers kept.
    Deterministic; irreversible.

    Parameters (all optional): ``detect``, a list of classes (default: all of ``name
    phone email url address postcode institution id date age``; the object's own
    identifiers are always replaced); ``replacement``, ``"***"`` (default) or
    ``by-class`` (``[NAME]``, ``[PHONE]``, ...); ``allow``, words or phrases (whole
    words, any case) and ``re:PATTERN`` expressions the detector leaves alone
    (site-specific protocol names).

    ``{tag: StudyDescription, action: clean, with: {replacement: by-class, allow: ["Klinik-Protokoll 7"]}}``
    """

    name, code, identifying = "clean", "C", False
    params = frozenset({"detect", "replacement", "allow"})

    def __init__(self, params: Mapping[str, Any], base: Path | None = None):
        super().__init__(params, base)
        self.settings = text_cleaner.settings(params)

    @classmethod
    def validate(cls, params: Mapping[str, Any], base: Path | None) -> None:
        super().validate(params, base)
        text_cleaner.settings(params)

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        vr = elem.VR
        if vr == "PN":
            return Edit("set", None)
        if vr == "AE":
            return ACTIONS["hash"]({})(elem, ctx)
        if vr in ("DA", "DT", "TM"):
            return ACTIONS["shift_date"]({})(elem, ctx)
        if vr == "UI":
            return RemapUid({})(elem, ctx)
        if vr in vrs.BINARY:
            return DELETE
        if vr not in vrs.TEXT:
            return KEEP
        cleaner = ctx.cleaner
        out = []
        for value in values(elem):
            cleaned = cleaner.clean(value, self.settings)
            out.append(fit(elem, self.name, cleaned, value))
            ctx.fitted += out[-1] != cleaned  # an input already longer than its VR allows
        return set_values(elem, out)


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
        raise fail(elem, self.name, "unresolved combined code")


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
    letter, the next stronger one it has (X < Z < D), or its strongest. ``X/Z/U*`` (the
    reference sequences) keeps a required (Type 1 or 2) sequence with every UID in it
    remapped: an emptied reference would contradict the references other modules keep.
    """
    if code == "X/Z/U*" and attr_type in (1, 2):
        return "remap_uid"
    wanted = {1: "D", 2: "Z"}.get(attr_type or 3, "X")
    letters = code.replace("*", "").split("/")
    order = ["X", "Z", "D", "U"]
    for letter in order[order.index(wanted) :]:
        if letter in letters:
            return _CODE_ACTIONS[letter]
    return _CODE_ACTIONS[letters[-1]]


from anonymizer.profile import dates, pseudonyms  # noqa: E402, F401  (they register their actions)
