"""The identifying values of the inputs OUT was made from, for :func:`~anonymizer.evidence.verify.verify`.

Every value the profile does not keep, at any depth (removed sequences and dropped
file-meta elements included), as whole values, name parts, ID fragments, institution and
address words, UIDs and dates, plus what the free-text detector finds in the inputs'
cleaned and removed text. Values the profile keeps anywhere are not identifiers, nor are
the tool's own marks and dummy values. Inputs that failed in the run contribute nothing;
inputs that cannot be read or planned are counted.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from anonymizer.dicom import rawtext, reader, walk
from anonymizer.dicom import vr as vrs
from anonymizer.engine.apply import identifying, planned_changes
from anonymizer.engine.marks import META_KEPT, marking
from anonymizer.engine.plan import Plan
from anonymizer.errors import InputError
from anonymizer.evidence.search import DETECTED_KIND, Identifiers, ours
from anonymizer.text import identifiers
from anonymizer.text.cleaner import DEFAULT, detector
from anonymizer.text.identifiers import values

DETECT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})  # text the detector reads in the inputs


@dataclass
class Inputs:
    """How the inputs were used: read, failed in the run (excluded), unreadable here."""

    read: int = 0
    excluded: int = 0
    unreadable: int = 0


def load_file(path: Path) -> tuple[bool, bytes | None]:
    """(is DICOM, the bytes when small enough to hold); unreadable files count as DICOM."""
    try:
        data = reader.load(path)
    except OSError:
        return True, None
    return reader.is_dicom(path, data), data


def collect(
    inputs: Iterable[Path], plan: Plan, failed: Collection[int] = (), counts: Inputs | None = None
) -> Identifiers:
    """The identifying values of every DICOM file among ``inputs``, in ordinal order (``failed``:
    the ordinals of the inputs the run failed on, counted from 1)."""
    ids, counts = Identifiers(), counts if counts is not None else Inputs()
    for ordinal, path in enumerate(inputs, 1):
        if ordinal in failed:
            counts.excluded += 1
            continue
        dicom, data = load_file(path)
        if not dicom:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = reader.read(path, data)  # the run's reader: what it rejects has no output
        except InputError:
            counts.excluded += 1
            continue
        except Exception:  # pydicom raises many kinds on damaged files
            counts.unreadable += 1
            continue
        try:
            _gather_file(ds, plan, ids)
        except Exception:  # a structure planning cannot walk: counted, never silently clean
            counts.unreadable += 1
            continue
        counts.read += 1
    ids.finish(ours(_mark_texts(plan)))
    return ids


def _mark_texts(plan: Plan) -> list[str]:
    marks = marking(plan)
    return [str(marks.DeidentificationMethod)] + [str(i.CodeMeaning) for i in marks.DeidentificationMethodCodeSequence]


def _gather_file(ds: Dataset, plan: Plan, ids: Identifiers) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        changes = planned_changes(ds, plan)
        touched = {(id(c.container), c.tag): c for c in changes}
        for elem in ds.file_meta:
            if int(elem.tag) not in META_KEPT:
                try:
                    _add_values(ids, elem, elem.VR)
                except Exception:  # a garbage VR in the meta (the run drops the element)
                    ids.add(bytes(elem.value or b"").decode("latin-1"), "text")
        _gather(ds, touched, ids, inside_removed=False)
        ids.date_records.append(top_dates(ds))


def top_dates(ds: Dataset) -> dict[str, str]:
    """The dataset's top-level dates by keyword (``YYYYMMDD``)."""
    found = {}
    for key, _, _, vr, _ in walk.entries(ds):
        keyword = ds[key].keyword if vr == "DA" else ""
        if keyword:
            value = str(ds[key].value or "").strip()
            if len(value) == 8 and value.isdigit():
                found[keyword] = value
    return found


def _add_values(ids: Identifiers, elem: identifiers.Element, vr: str) -> None:
    for found in identifiers.of_element(elem, vr):
        if found.kind == "date":
            ids.dates.add(found.text)
            for rendering in identifiers.date_renderings(found.text):
                if not rendering.isdigit():  # YYYYMMDD is checked per element, not as text
                    ids.add(rendering, "date")
        else:
            ids.add(found.text, found.kind)


def _add_detected(ids: Identifiers, elem: identifiers.Element) -> None:
    """What the free-text detector finds in a cleaned or removed text value."""
    find = detector(DEFAULT).find
    for value in values(elem):
        for span in find(value):
            if span.cls != "age":
                ids.add(value[span.start : span.end], DETECTED_KIND.get(span.cls, span.cls), detected=True)


def _gather(ds: Dataset, touched: dict, ids: Identifiers, inside_removed: bool) -> None:  # type: ignore[type-arg]
    codec = rawtext.codec(ds)
    creators = ids.kept_by["creator"]
    for key, _, _, vr, _ in walk.entries(ds, lambda _, name: creators.add(name)):
        change = touched.get((id(ds), key))
        removed = inside_removed or (change is not None and change.bound.name in ("remove", "empty"))
        if vr == "SQ":
            for item in walk.items(ds, key):
                _gather(item, touched, ids, removed)
            continue
        if vr not in identifiers.SOURCE_VRS:
            continue  # numbers and binary values identify no one on their own
        elem = rawtext.view(ds, key, vr, codec) or ds[key]
        if change is None and not inside_removed:
            kept = {v.strip().lower() for v in identifiers.values(elem)}
            if vr not in vrs.DATE:
                ids.kept.update(kept)
            ids.kept_by[elem.keyword or "private"].update(kept)
            continue
        if vr in DETECT_VRS:
            _add_detected(ids, elem)  # names, phones, places in cleaned and removed text
        if change is not None and not identifying(change):
            continue  # the rest of cleaned text and remapped UIDs: what identifies comes from other elements
        _add_values(ids, elem, vr)
