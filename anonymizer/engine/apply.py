"""Apply a :class:`~anonymizer.engine.plan.Plan` to one dataset: walk, decide, then edit.

The walk collects a decision for every element at every depth before anything is
changed (so identifiers are learned from the untouched object), then each action's
:class:`~anonymizer.profile.actions.Edit` is applied, orphaned private creators are
dropped, the marks are set and the file meta is cleaned.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.sequence import Sequence

from anonymizer import standard
from anonymizer.dicom import rawtext, walk
from anonymizer.dicom import vr as vrs
from anonymizer.dicom.tags import dictionary_vr
from anonymizer.engine import marks
from anonymizer.engine.bound import CLEAN_PRIVATE_MEANING, KEEP_VOCABULARY, Bound, default
from anonymizer.engine.hierarchy import patient_key
from anonymizer.engine.plan import Plan
from anonymizer.errors import InputError
from anonymizer.keys.secret import Secret, Subkeys
from anonymizer.profile.actions import FileContext
from anonymizer.text import identifiers
from anonymizer.text.cleaner import TextCleaner

MODES = {"replace": "D", "clean": "C", "shift_date": "C"}
CLEANER_SOURCES = identifiers.SOURCE_VRS - {"UI", "CS", "TM", "AS", "DA", "DT"}  # what can name a person or a place
_TEXT_DATE = frozenset({"DA", "DT", "TM"})
# PS3.3 C.7.1.1 Patient Module: Type 2C "required if the Patient is an animal" (the species is
# given); Table E.1-1's X would leave such an object invalid, so it is emptied there (Z).
ANIMAL_2C = frozenset({0x00102297, 0x00102299})  # ResponsiblePerson, ResponsibleOrganization
ANIMAL = (0x00102201, 0x00102202)  # PatientSpeciesDescription, PatientSpeciesCodeSequence
EMPTY_ANIMAL_2C = default("empty", "Type 2C for an animal patient (species present): emptied, not removed")
OVERLAYS = tuple(range(0x6000, 0x6020, 2))
REMOVE_MISSTORED = default("remove", "stored as a sequence, not with its dictionary VR (fail closed)")
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


class _Walker:
    """Collects the decisions for one dataset before anything is changed."""

    def __init__(self, plan: Plan, iod: str | None):
        self.plan, self.iod = plan, iod
        self.tasks: list[Change] = []
        self.creators: list[tuple[Dataset, int]] = []
        self.dropped: list[Sequence] = []
        self.groups: Counter[tuple[int, str]] = Counter()  # (DICOM group, action)

    def walk(self, ds: Dataset, stack: tuple[int, ...], mode: str) -> None:
        resolve, iod, groups, tasks = self.plan.resolve, self.iod, self.groups, self.tasks
        creators = self.creators
        for key, tag, _, vr, creator in walk.entries(ds, lambda key, _: creators.append((ds, key))):
            bound = resolve(tag, vr, stack, mode, creator, iod)
            if bound is CLEAN_PRIVATE_MEANING and not _private_scheme(ds):
                bound = KEEP_VOCABULARY
            elif tag in ANIMAL_2C and bound.name == "remove" and not stack and any(t in ds for t in ANIMAL):
                bound = EMPTY_ANIMAL_2C
            groups[tag >> 16, bound.name] += 1
            if vr == "SQ":
                self._sequence(ds, key, tag, bound, stack, mode)
            elif bound.name != "keep":
                tasks.append(Change(ds, key, bound, vr, stack))

    def _sequence(self, ds: Dataset, key: int, tag: int, bound: Bound, stack: tuple[int, ...], mode: str) -> None:
        misstored = bound.name != "keep" and dictionary_vr(tag) not in (None, "SQ")
        if bound.name in ("remove", "empty") or misstored:
            self.dropped.append(walk.items(ds, key))
            self.tasks.append(Change(ds, key, REMOVE_MISSTORED if misstored else bound, "SQ", stack))
            return
        inner = MODES.get(bound.name, mode)
        for item in walk.items(ds, key):
            self.walk(item, (*stack, tag), inner)


def _private_scheme(item: Dataset) -> bool:
    """The item's code is from a private ("99...") or local ("L") coding scheme: its meaning is free text."""
    scheme = str(item.get("CodingSchemeDesignator", "") or "").strip().upper()
    return not scheme or scheme.startswith("99") or scheme == "L"


def _walked(ds: Dataset, plan: Plan) -> _Walker:
    walker = _Walker(plan, standard.iod_for_sop_class(str(ds.get("SOPClassUID", "") or "")))
    walker.walk(ds, (), "")
    return walker


def planned_changes(ds: Dataset, plan: Plan) -> list[Change]:
    """What ``plan`` would change in ``ds`` (nothing is modified)."""
    return _walked(ds, plan).tasks


class _Elements:
    """The element a task reads: a :class:`rawtext.TextElement` when the fast path applies."""

    def __init__(self) -> None:
        self._codecs: dict[int, str | None] = {}  # per container (id), while the walk's datasets live

    def get(self, ds: Dataset, key: int, vr: str) -> DataElement | rawtext.TextElement:
        container = id(ds)
        if container not in self._codecs:
            self._codecs[container] = rawtext.codec(ds)
        return rawtext.view(ds, key, vr, self._codecs[container]) or ds[key]


def identifying(change: Change) -> bool:
    """Does the plan treat this element's value as an identifier (one that must not survive)?

    Removed, emptied, replaced, hashed, pseudonymized, looked-up values, remapped UIDs and
    original dates are; kept and cleaned values are not (what identifies in cleaned text
    comes from other elements), nor text under a date rule.
    """
    if not change.bound.action.identifying:
        return False
    return change.bound.name != "shift_date" or change.vr in ("DA", "DT")


def _learned(walker: _Walker, elements: _Elements) -> list[identifiers.Identifier]:
    """The identifiers a cleaner removes, from every attribute the plan treats as identifying
    (by tag: whatever VR it was stored with, at any depth, inside sequences it drops).

    Only elements whose bytes can name a person or a place are read (UIDs, codes, dates,
    numbers and binary values are not decoded: decoding would also cost the encoder its
    raw copy; the detector removes every date rendering whoever's date it is).
    """
    found: list[identifiers.Identifier] = []
    for task in walker.tasks:
        if task.vr not in CLEANER_SOURCES or not identifying(task):
            continue  # a dropped sequence's content is learned below
        if (dictionary_vr(task.tag) or task.vr) in vrs.BINARY:
            continue  # bytes nobody declared as text (a private OB, padding): not read
        found += identifiers.of_element(elements.get(task.container, task.tag, task.vr), task.vr)
    for items in walker.dropped:
        found += identifiers.in_items(items, CLEANER_SOURCES)
    return found


def identifiers_of(ds: Dataset, plan: Plan) -> list[identifiers.Identifier]:
    """The identifiers ``plan`` would learn from ``ds`` (nothing is modified).

    Parameters
    ----------
    ds : Dataset
        An input object, before de-identification.
    plan : Plan
        Decides which attributes are identifying.

    Returns
    -------
    list of Identifier
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        walker, elements = _walked(ds, plan), _Elements()
        found: list[identifiers.Identifier] = []
        for task in walker.tasks:
            if task.vr != "SQ" and identifying(task) and task.vr in identifiers.SOURCE_VRS:
                found += identifiers.of_element(elements.get(task.container, task.tag, task.vr), task.vr)
        for items in walker.dropped:
            found += identifiers.in_items(items)
        return found


def deidentify(ds: FileDataset, plan: Plan, secret: Secret | Subkeys) -> Outcome:
    """De-identify ``ds`` in place according to ``plan``.

    pydicom's warnings quote element values, so they are silenced here; its ``pydicom``
    logger does the same and is the caller's to silence (the CLI disables it).

    Parameters
    ----------
    ds : FileDataset
        The object, changed in place.
    plan : Plan
        The compiled profile.
    secret : Secret or Subkeys
        The keyed functions (a worker holds only :class:`~anonymizer.keys.secret.Subkeys`).

    Returns
    -------
    Outcome
        Counts per action and attribute group, and the records for the vault.

    Raises
    ------
    InputError
        ``missing-sop-instance-uid`` when the object has no SOP Instance UID.
    ActionError
        When an action cannot apply to an element.
    """
    keys = secret.subkeys if isinstance(secret, Secret) else secret
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _deidentify(ds, plan, keys)


def _deidentify(ds: FileDataset, plan: Plan, keys: Subkeys) -> Outcome:
    if not ds.get("SOPInstanceUID"):
        raise InputError("missing-sop-instance-uid")
    patient = str(ds.get("PatientID", "") or "").strip()
    low, high = plan.profile.shift_days
    offset = keys.day_offset(keys.token("PatientID", patient_key(ds)), low, high)

    overlays = [group for group in OVERLAYS if group << 16 | 0x3000 in ds]
    walker = _walked(ds, plan)
    needs_cleaner = any(t.bound.name in ("clean", "shift_date") and t.vr not in _TEXT_DATE for t in walker.tasks)
    elements = _Elements()
    learned = _learned(walker, elements) if needs_cleaner else []
    ctx = FileContext(keys, patient, offset, lambda: TextCleaner((i.text, i.kind) for i in learned))
    for task in walker.tasks:
        if task.vr == "SQ":
            if task.bound.name == "empty":
                task.container[task.tag].value = []
            else:
                del task.container[task.tag]
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
    dropped_overlays = _drop_dataless_overlays(ds, overlays)
    marks.mark(ds, plan)
    marks.clean_file_meta(ds)
    counts: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    for (group, action), n in walker.groups.items():
        counts[action] += n
        groups[f"{group_name(group)}/{action}"] += n
    if ctx.fitted:
        counts["values cut to the VR's maximum"] += ctx.fitted
    if dropped_overlays:
        counts["overlays removed with their data"] += dropped_overlays
    return Outcome(counts, ctx.records, groups)


def _drop_dataless_overlays(ds: Dataset, overlays: list[int]) -> int:
    """Remove each overlay group whose OverlayData was removed: a plane without its data is invalid."""
    gone = [group for group in overlays if group << 16 | 0x3000 not in ds]
    for tag in [t for t in ds.keys() if t >> 16 in gone]:  # noqa: SIM118 (keys: no decoding)
        del ds[tag]
    return len(gone)


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
