"""Compile a :class:`Profile` into a :class:`Plan` once; apply it to one dataset.

Resolution for one element, first match wins:

1. a rule for its tag inside a matching sequence path (longest path first);
2. a rule for its exact tag;
3. a mask rule (``(60xx,3000)``), most specific first;
4. private elements: a rule for ``(gggg,xxee)@CREATOR``, then ``private``, then the
   ``private_tags`` policy (``safe`` uses the TCIA knowledge base);
5. a VR rule;
6. inside a sequence being replaced (D) or cleaned (C): replace / clean its text and dates;
7. group lengths and public tags the data dictionary does not know: remove (fail closed);
   other public tags: the ``unlisted_tags`` policy.

Among rules of one kind, the later rule wins. Combined codes (``conform``) are resolved
per SOP class from the attribute's Type in that IOD.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from pydicom.datadict import dictionary_has_tag, dictionary_keyword, dictionary_VR, repeater_has_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from anonymizer import standard
from anonymizer.dicom import rawtext
from anonymizer.dicom.tags import format_tag
from anonymizer.errors import InputError
from anonymizer.keys.secret import Secret
from anonymizer.pixels.rules import RuleIndex
from anonymizer.profile.actions import (
    ACTIONS,
    Action,
    FileContext,
    Lookup,
    resolve_combined,
    values,
)
from anonymizer.profile.loader import Profile, Rule
from anonymizer.text.cleaner import TextCleaner, identifier_strings
from anonymizer.version import __version__

IMPLEMENTATION_CLASS_UID = "2.25.160714952406958423389232520312386170093"
IMPLEMENTATION_VERSION = f"ANONYMIZER_{__version__.replace('.', '')}"[:16]
META_KEPT = frozenset({0x00020000, 0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013})
IDENTIFIER_VRS = frozenset({"PN", "LO", "SH", "AE", "UC"})  # dates: cleaner.PATTERNS
_TEXT_DATE = frozenset({"DA", "DT", "TM"})


@dataclass(frozen=True)
class Bound:
    """A resolved decision: the action object and where it came from."""

    action: Action
    origin: str
    combined: str = ""  # a PS3.15 combined code, resolved per IOD (action "conform")
    name: str = field(init=False)  # the action's name, read per element

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.action.name)


def _default(name: str, origin: str) -> Bound:
    return Bound(ACTIONS[name]({}), origin)


KEEP_UNLISTED = _default("keep", "unlisted_tags: keep")
REMOVE_UNLISTED = _default("remove", "unlisted_tags: remove")
REMOVE_UNKNOWN = _default("remove", "public tag not in the data dictionary (fail closed)")
REMOVE_GROUP_LENGTH = _default("remove", "group length (recomputed on write)")
REMOVE_PRIVATE = _default("remove", "private_tags: remove")
KEEP_PRIVATE = _default("keep", "private_tags: keep")
REMOVE_ILLEGAL_PRIVATE = _default("remove", "private element without a creator")
SAFE_PRIVATE = {
    "k": _default("keep", "private_tags: safe (TCIA knowledge base: keep)"),
    "k-text": _default("clean", "private_tags: safe (TCIA knowledge base: keep; text cleaned)"),
    "h": _default("remap_uid", "private_tags: safe (TCIA knowledge base: UID)"),
    "o": _default("shift_date", "private_tags: safe (TCIA knowledge base: date)"),
}
REMOVE_NOT_SAFE = _default("remove", "private_tags: safe (not known safe)")
IN_REPLACED = {
    vr: _default("replace", "inside a replaced sequence")
    for vr in ("PN", "LO", "SH", "ST", "LT", "UT", "UC", "UR", "AE", "DA", "DT", "TM")
}
IN_CLEANED = {
    vr: _default("clean", "inside a cleaned sequence")
    for vr in ("PN", "LO", "SH", "ST", "LT", "UT", "UC", "UR", "AE", "DA", "DT")
}
MODES = {"replace": "D", "clean": "C", "shift_date": "C"}
PRIVATE_TEXT = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN"})


GROUP_NAMES = {
    0x0008: "identification",
    0x0010: "patient",
    0x0012: "clinical trial",
    0x0018: "acquisition",
    0x0020: "relationship",
    0x0028: "image presentation",
    0x0032: "study",
    0x0038: "visit",
    0x0040: "procedure and content",
    0x0054: "nuclear medicine",
    0x0070: "presentation state",
    0x3006: "RT structure set",
    0x300A: "RT plan",
    0x300C: "RT relationship",
    0x300E: "RT approval",
    0x7FE0: "pixel data",
}


def group_name(group: int) -> str:
    """A plain name for a DICOM attribute group (for reports)."""
    if group & 1:
        return "private"
    if 0x5000 <= group <= 0x50FF:
        return "curves"
    if 0x6000 <= group <= 0x60FF:
        return "overlays"
    return GROUP_NAMES.get(group, "other")


def _known(tag: int) -> bool:
    """In the data dictionary, repeating groups (50xx, 60xx, 7Fxx) included."""
    return bool(dictionary_has_tag(tag) or repeater_has_tag(tag))


class Plan:
    """A compiled profile: rule indexes built once per run, resolvers cached per SOP class.

    Holds no PHI: the per-SOP-class cache is keyed by SOP Class UID.
    """

    def __init__(self, profile: Profile):
        self.profile = profile
        self._exact: dict[int, Bound] = {}
        self._pathed: dict[int, list[tuple[tuple[int, ...], Bound]]] = {}
        self._masks: list[tuple[int, int, Bound]] = []
        self._private: dict[tuple[int, str, int], Bound] = {}
        self._all_private: Bound | None = None
        self._vr: dict[str, Bound] = {}
        ordered_masks: list[tuple[int, int, int, int, Bound]] = []
        self._bounds: list[Bound] = []
        for order, rule in enumerate(profile.rules):
            combined = str(rule.params["code"]) if rule.action == "conform" else ""
            bound = Bound(ACTIONS[rule.action](rule.params, rule.base), rule.origin, combined)
            self._bounds.append(bound)
            self._index(rule, bound, order, ordered_masks)
        ordered_masks.sort(key=lambda m: (m[0], m[1]), reverse=True)
        self._masks = [(value, care, bound) for _, _, value, care, bound in ordered_masks]
        for rules in self._pathed.values():
            rules.sort(key=lambda item: len(item[0]), reverse=True)  # stable: later wins below
        self._resolved: dict[tuple[int, str | None, bool], Bound] = {}
        self._cache: dict[tuple[int, str, str, bool, str | None, str | None], Bound] = {}
        self.options = profile.options
        self.pixel_rules = RuleIndex(profile.pixels)
        self._marks: dict[tuple[bool, bool], dict[BaseTag, RawDataElement]] = {}

    def marks(self, encoding: tuple[bool | None, bool | None]) -> dict[BaseTag, RawDataElement]:
        """The de-identification marks as raw elements in ``encoding``, built once per plan."""
        key = (bool(encoding[0]), bool(encoding[1]))
        found = self._marks.get(key)
        if found is None:
            found = self._marks[key] = encoded_marks(self, *key)
        return found

    def lookup_records(self) -> list[tuple[str, str, str]]:
        """The pairs of every ``lookup`` crosswalk, as vault records."""
        records = []
        for bound, rule in zip(self._bounds, self.profile.rules, strict=True):
            if isinstance(bound.action, Lookup) and rule.selector.tag is not None:
                keyword = dictionary_keyword(rule.selector.tag) if _known(rule.selector.tag) else ""
                records += bound.action.records(keyword or format_tag(rule.selector.tag))
        return records

    def _index(self, rule: Rule, bound: Bound, order: int, masks: list[tuple[int, int, int, int, Bound]]) -> None:
        sel = rule.selector
        if sel.path and sel.tag is not None:
            entries = self._pathed.setdefault(sel.tag, [])
            entries[:] = [e for e in entries if e[0] != sel.path]
            entries.append((sel.path, bound))
        elif sel.tag is not None:
            self._exact[sel.tag] = bound
        elif sel.mask is not None:
            masks.append((sel.specificity, order, sel.mask[0], sel.mask[1], bound))
        elif sel.private is not None:
            self._private[sel.private] = bound
        elif sel.all_private:
            self._all_private = bound
        elif sel.vr is not None:
            self._vr[sel.vr] = bound

    @property
    def digest(self) -> str:
        """SHA-256 of the compiled rules (names the plan in reports)."""
        parts = [
            (r.selector.text, r.action, json.dumps(dict(r.params), sort_keys=True, default=str))
            for r in self.profile.rules
        ]
        payload = json.dumps(
            [
                parts,
                self.profile.private_tags,
                self.profile.unlisted_tags,
                self.profile.shift_days,
                list(self.options),
                json.dumps(asdict(self.profile.pixels), sort_keys=True, default=str),
            ]
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    # --- resolution ----------------------------------------------------------------------

    def _conformed(self, bound: Bound, tag: int, iod: str | None, nested: bool) -> Bound:
        code = bound.combined
        if not code:
            return bound
        key = (tag, iod, nested)
        found = self._resolved.get(key)
        if found is None:
            keyword = dictionary_keyword(tag) if _known(tag) else ""
            attr_type = standard.attribute_type(keyword, iod, nested)
            name = resolve_combined(code, attr_type)
            where = iod or "unknown SOP class"
            found = _default(name, f"{bound.origin} -> {name} (Type {attr_type or 'absent'} in {where})")
            self._resolved[key] = found
        return found

    def resolve(
        self, tag: int, vr: str, stack: tuple[int, ...], mode: str, creator: str | None, iod: str | None
    ) -> Bound:
        """The decision for one element (see the module docstring for the order).

        Decisions that do not depend on the sequence path are cached per plan, keyed by
        tag, VR, mode, depth, private creator and IOD (structure, never values).
        """
        if tag in self._pathed:
            return self._resolve(tag, vr, stack, mode, creator, iod)
        key = (tag, vr, mode, bool(stack), creator, iod)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._resolve(tag, vr, stack, mode, creator, iod)
        return found

    def _resolve(
        self, tag: int, vr: str, stack: tuple[int, ...], mode: str, creator: str | None, iod: str | None
    ) -> Bound:
        for path, bound in self._pathed.get(tag, ()):
            if stack[-len(path) :] == path:
                return self._conformed(bound, tag, iod, bool(stack))
        bound_or_none = self._exact.get(tag)
        if bound_or_none is not None:
            return self._conformed(bound_or_none, tag, iod, bool(stack))
        for value, care, bound in self._masks:
            if tag & care == value:
                return self._conformed(bound, tag, iod, bool(stack))
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2:
            return self._resolve_private(group, element, creator, vr)
        found = self._vr.get(vr)
        if found is not None:
            return found
        if mode == "D" and vr in IN_REPLACED:
            return IN_REPLACED[vr]
        if mode == "C" and vr in IN_CLEANED:
            return IN_CLEANED[vr]
        if element == 0 or not _known(tag):
            return REMOVE_GROUP_LENGTH if element == 0 else REMOVE_UNKNOWN
        return KEEP_UNLISTED if self.profile.unlisted_tags == "keep" else REMOVE_UNLISTED

    def _resolve_private(self, group: int, element: int, creator: str | None, vr: str) -> Bound:
        if creator is None:
            return REMOVE_ILLEGAL_PRIVATE
        found = self._private.get((group, creator, element & 0xFF)) or self._all_private
        if found is not None:
            return found
        policy = self.profile.private_tags
        if policy == "remove":
            return REMOVE_PRIVATE
        if policy == "keep":
            return KEEP_PRIVATE
        disposition = standard.private_dispositions().get(f"{group:04x}|{creator}|{element & 0xFF:02x}")
        if disposition == "k" and vr in PRIVATE_TEXT:
            disposition = "k-text"  # kept text still loses this object's identifiers
        return SAFE_PRIVATE.get(disposition or "", REMOVE_NOT_SAFE)

    def explain(self, sop_class_uid: str | None = None) -> Iterator[tuple[str, str, str, str]]:
        """Rows (tag, keyword, action, origin): every Table E.1-1 attribute, then the rest."""
        iod = standard.iod_for_sop_class(sop_class_uid) if sop_class_uid else None
        seen: set[int] = set()
        for attr in standard.attributes():
            if attr.tag == "PRIVATE":
                yield (
                    "(gggg,eeee) odd",
                    "private attributes",
                    f"private_tags: {self.profile.private_tags}",
                    "profile policy",
                )
                continue
            if "X" in attr.tag:
                bound = next(
                    (b for v, c, b in self._masks if int(attr.tag[1:5].replace("X", "0"), 16) << 16 == v & 0xFFFF0000),
                    None,
                )
                yield (
                    attr.tag,
                    attr.name,
                    bound.name if bound else "keep",
                    bound.origin if bound else "no rule",
                )
                continue
            tag = int(attr.tag[1:5] + attr.tag[6:10], 16)
            seen.add(tag)
            bound = self.resolve(tag, attr.vr, (), "", None, iod)
            yield (attr.tag, attr.keyword, bound.name, bound.origin)
        for tag, bound in sorted(self._exact.items()):
            if tag not in seen:
                keyword = dictionary_keyword(tag) if _known(tag) else ""
                yield (format_tag(tag), keyword, bound.name, bound.origin)
        for tag, entries in sorted(self._pathed.items()):
            for path, bound in entries:
                yield ("/".join(format_tag(t) for t in (*path, tag)), "", bound.name, bound.origin)
        for (group, creator, element), bound in sorted(self._private.items()):
            yield (f"({group:04X},xx{element:02X})@{creator}", "", bound.name, bound.origin)
        for vr, bound in sorted(self._vr.items()):
            yield (f"VR {vr}", "", bound.name, bound.origin)
        yield ("other public", "", self.profile.unlisted_tags, "unlisted_tags")


# --- applying a plan to one dataset ---------------------------------------------------------


@dataclass(slots=True)
class Change:
    """One element a plan changes: where it is, its VR, and the decision."""

    container: Dataset
    tag: int
    bound: Bound
    vr: str
    path: tuple[int, ...]


@dataclass
class Outcome:
    """What de-identifying one dataset did: counts per action and vault records."""

    counts: Counter[str] = field(default_factory=Counter)
    records: list[tuple[str, str, str]] = field(default_factory=list)
    groups: Counter[str] = field(default_factory=Counter)  # "attribute group/action"


def element_vr(ds: Dataset, tag: int, raw: RawDataElement | DataElement) -> str:
    """An element's VR without decoding its value (implicit VR and UN: the dictionaries)."""
    vr = raw.VR
    if vr is None or vr == "UN":
        if not tag >> 16 & 1 and _known(tag):
            return str(dictionary_VR(tag)).split(" ")[0]
        if raw.VR is None or (isinstance(raw, RawDataElement) and raw.length == 0xFFFFFFFF):
            return str(ds[tag].VR)  # converts (private or undefined-length UN): may be SQ
        return "UN"
    return str(vr)


def _creator(ds: Dataset, key: int, elem: RawDataElement | DataElement) -> str:
    """A private creator's name, lower case; read from the raw bytes when plain ASCII."""
    value = elem.value
    raw_lo = type(elem) is RawDataElement and elem.VR in ("LO", None)
    if raw_lo and isinstance(value, bytes) and value.isascii() and b"\\" not in value:
        return value.decode("ascii").rstrip("\x00 ").strip().lower()  # as pydicom decodes LO
    value = ds[key].value
    return str(value).strip().lower() if value else ""


class _Walker:
    """Collects the decisions for one dataset before anything is changed."""

    def __init__(self, plan: Plan, iod: str | None):
        self.plan, self.iod = plan, iod
        self.tasks: list[Change] = []
        self.creators: list[tuple[Dataset, int]] = []
        self.dropped: list[Sequence] = []
        self.groups: Counter[tuple[int, str]] = Counter()  # (DICOM group, action)

    def walk(self, ds: Dataset, stack: tuple[int, ...], mode: str) -> None:
        creators: dict[int, str] = {}
        resolve, iod, groups, tasks = self.plan.resolve, self.iod, self.groups, self.tasks
        # The dictionary's own keys: an int key would make every lookup call BaseTag.__eq__.
        for key, elem in list(ds._dict.items()):
            tag = int(key)
            group, element = tag >> 16, tag & 0xFFFF
            if group & 1 and 0x10 <= element <= 0xFF:
                creators[(group << 8) | element] = _creator(ds, key, elem)
                self.creators.append((ds, key))
                continue
            vr = elem.VR
            if vr is None or vr == "UN":
                vr = element_vr(ds, tag, elem)
            creator = creators.get((group << 8) | (element >> 8)) if group & 1 else None
            bound = resolve(tag, vr, stack, mode, creator, iod)
            groups[group, bound.name] += 1
            if vr == "SQ":
                self._sequence(ds, key, bound, stack, mode)
            elif bound.name != "keep":
                tasks.append(Change(ds, key, bound, vr, stack))

    def _sequence(self, ds: Dataset, tag: int, bound: Bound, stack: tuple[int, ...], mode: str) -> None:
        if bound.name in ("remove", "empty"):
            self.dropped.append(ds[tag].value)
            self.tasks.append(Change(ds, tag, bound, "SQ", stack))
            return
        inner = MODES.get(bound.name, mode)
        for item in ds[tag].value:
            self.walk(item, (*stack, tag), inner)


def planned_changes(ds: Dataset, plan: Plan) -> list[Change]:
    """What ``plan`` would change in ``ds`` (nothing is modified)."""
    walker = _Walker(plan, standard.iod_for_sop_class(str(ds.get("SOPClassUID", "") or "")))
    walker.walk(ds, (), "")
    return walker.tasks


class _Elements:
    """The element a task reads: a :class:`rawtext.TextElement` when the fast path applies."""

    def __init__(self) -> None:
        self._codecs: dict[int, str | None] = {}  # per container (id), while the walk's datasets live

    def get(self, ds: Dataset, key: int, vr: str) -> DataElement | rawtext.TextElement:
        container = id(ds)
        if container not in self._codecs:
            self._codecs[container] = rawtext.codec(ds)
        return rawtext.view(ds, key, vr, self._codecs[container]) or ds[key]


def _identifiers(walker: _Walker, elements: _Elements) -> list[str]:
    found: list[str] = []
    for task in walker.tasks:
        if task.bound.name == "shift_date":
            continue  # text under a date rule is cleaned, not an identifier of itself
        if task.bound.action.identifying and task.vr in IDENTIFIER_VRS:
            elem = elements.get(task.container, task.tag, task.vr)
            for value in values(elem):
                found.extend(identifier_strings(elem.keyword, task.vr, value))
    for seq in walker.dropped:
        for item in seq:
            found.extend(_sequence_identifiers(item, elements))
    return found


def _sequence_identifiers(ds: Dataset, elements: _Elements) -> Iterator[str]:
    for key, raw in list(ds._dict.items()):
        vr = element_vr(ds, key, raw)
        if vr == "SQ":
            for item in ds[key].value:
                yield from _sequence_identifiers(item, elements)
        elif vr in IDENTIFIER_VRS:
            elem = elements.get(ds, key, vr)
            for value in values(elem):
                yield from identifier_strings(elem.keyword, vr, value)


def _method_items(options: tuple[str, ...]) -> list[Dataset]:
    items = []
    for name in ("basic", *[o for o in standard.CID_7050 if o in options]):
        code, meaning = standard.CID_7050[name]
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "DCM", meaning
        items.append(item)
    return items


def deidentify(ds: FileDataset, plan: Plan, secret: Secret) -> Outcome:
    """De-identify ``ds`` in place according to ``plan``.

    pydicom's warnings quote element values, so they are silenced here; its ``pydicom``
    logger does the same and is the caller's to silence (the CLI disables it).

    Raises
    ------
    InputError
        ``missing-sop-instance-uid`` when the object has no SOP Instance UID.
    ActionError
        When an action cannot apply to an element.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _deidentify(ds, plan, secret)


def _deidentify(ds: FileDataset, plan: Plan, secret: Secret) -> Outcome:
    if not ds.get("SOPInstanceUID"):
        raise InputError("missing-sop-instance-uid")
    sop_class = str(ds.get("SOPClassUID", "") or "")
    iod = standard.iod_for_sop_class(sop_class)
    patient = str(ds.get("PatientID", "") or "").strip()
    low, high = plan.profile.shift_days
    offset = secret.day_offset(secret.token("PatientID", patient), low, high)

    walker = _Walker(plan, iod)
    walker.walk(ds, (), "")
    needs_cleaner = any(t.bound.name in ("clean", "shift_date") and t.vr not in _TEXT_DATE for t in walker.tasks)
    elements = _Elements()
    identifiers = _identifiers(walker, elements) if needs_cleaner else []
    ctx = FileContext(secret, patient, offset, lambda: TextCleaner(identifiers))
    for task in walker.tasks:
        if task.vr == "SQ":
            if task.bound.name == "remove":
                del task.container[task.tag]
            else:
                task.container[task.tag].value = []
            continue
        if task.bound.name == "remove":
            del task.container[task.tag]
            continue
        elem = elements.get(task.container, task.tag, task.vr)
        edit = task.bound.action(elem, ctx)
        if edit.op == "delete":
            del task.container[task.tag]
        elif edit.op == "set" and not (
            isinstance(elem, rawtext.TextElement) and rawtext.store(task.container, elem, edit.value)
        ):
            task.container[task.tag].value = edit.value
    _drop_orphan_creators(walker.creators)
    _mark(ds, plan)
    _clean_file_meta(ds)
    counts: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    for (group, action), n in walker.groups.items():
        counts[action] += n
        groups[f"{group_name(group)}/{action}"] += n
    return Outcome(counts, ctx.records, groups)


def _drop_orphan_creators(creators: list[tuple[Dataset, int]]) -> None:
    """Delete private creators whose block lost every element (one pass per dataset)."""
    used: dict[int, set[int]] = {}
    for ds, tag in creators:
        blocks = used.get(id(ds))
        if blocks is None:  # ds.keys(), not ds: iterating a Dataset decodes every element
            blocks = {(t >> 8) & 0xFFFFFF for t in ds.keys() if t >> 16 & 1 and t & 0xFFFF >= 0x1000}  # noqa: SIM118
            used[id(ds)] = blocks
        if (tag >> 16) << 8 | (tag & 0xFF) not in blocks:
            del ds[tag]


def _mark(ds: Dataset, plan: Plan) -> None:
    """Set the de-identification attributes: raw elements encoded once per plan when possible."""
    encoding = ds.original_encoding
    if None in encoding:
        for elem in _marking(plan):
            ds[elem.tag] = elem
        return
    ds._dict.update(plan.marks(encoding))


def _marking(plan: Plan) -> Dataset:
    """PatientIdentityRemoved, DeidentificationMethod (+ code sequence), LongitudinalTemporal..."""
    options, ds = plan.options, Dataset()
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = f"anonymizer-dicom {__version__} profile {plan.profile.name} {plan.profile.version}"[
        :64
    ]
    ds.DeidentificationMethodCodeSequence = _method_items(options)
    if "retain-longitudinal-full-dates" in options:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif "retain-longitudinal-modified-dates" in options:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"
    return ds


def encoded_marks(plan: Plan, implicit: bool, little: bool) -> dict[BaseTag, RawDataElement]:
    """The marking elements as raw elements in one encoding (immutable, safe to share)."""
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    write_dataset(fp, _marking(plan))
    parsed = read_dataset(io.BytesIO(fp.getvalue()), implicit, little)._dict
    if not all(isinstance(e, RawDataElement) for e in parsed.values()):  # defined lengths read raw
        raise RuntimeError("marking elements did not read back raw")
    return parsed  # type: ignore[return-value]


def _clean_file_meta(ds: FileDataset) -> None:
    meta = ds.file_meta
    for tag in list(meta.keys()):
        if int(tag) not in META_KEPT:
            del meta[tag]
    values = {0x00020003: str(ds.SOPInstanceUID), 0x00020012: IMPLEMENTATION_CLASS_UID}
    if "SOPClassUID" in ds:
        values[0x00020002] = str(ds.SOPClassUID)
    for number, uid in values.items():  # raw, as read: cheaper than pydicom's attribute setter
        data, tag = uid.encode("ascii") + b"\x00" * (len(uid) % 2), BaseTag(number)
        meta._dict[tag] = RawDataElement(tag, "UI", len(data), data, 0, False, True)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
