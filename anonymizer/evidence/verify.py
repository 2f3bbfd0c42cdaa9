"""Residual-PHI scan of an output folder: against its inputs, and by rules.

:func:`collect` gathers the identifying values of the inputs: every value the profile
does not keep, at any depth (removed sequences and dropped file-meta elements included),
as whole values, name parts, ID fragments, institution and address words, UIDs and
dates, plus what the free-text detector finds in the inputs' cleaned and removed text.
Values the profile keeps anywhere are not identifiers, nor are the tool's own marks and
dummy values. Inputs that failed in the run (the state's record, or the run's own reader
rejecting them) contribute nothing; inputs verification cannot read or plan are counted,
and a verdict over them is never clean.

:func:`scan` then decodes every output (deflated ones included) and searches it element
by element with a tag path: text in its character set, binary values also as UTF-16 and
Latin-1, and every date against the original dates of identifying attributes, whatever
attribute it now sits in. A raw-bytes pass (outside Pixel Data) reports a token only when
no decoded value of that file contains it. A match inside an element the profile keeps,
whose value is one of that attribute's input values, is the profile's decision.

A finding names the output file (relative path), the tag path and the kind of
identifier; never the value, unless the caller asks for it.
"""

from __future__ import annotations

import io
import os
import re
import time
import warnings
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from anonymizer.dicom import rawtext, reader, walk
from anonymizer.dicom import vr as vrs
from anonymizer.dicom.tags import format_tag
from anonymizer.engine.apply import identifying, planned_changes
from anonymizer.engine.marks import META_KEPT, marking
from anonymizer.engine.plan import Plan
from anonymizer.errors import InputError
from anonymizer.evidence import manifest
from anonymizer.evidence.rules import check_rules
from anonymizer.evidence.search import DETECTED_KIND, Finding, Identifiers, ours
from anonymizer.inputs import discover
from anonymizer.text import identifiers
from anonymizer.text.cleaner import DEFAULT, detector
from anonymizer.text.identifiers import values
from anonymizer.text.lexicon import lexicon

__all__ = ["Finding", "Identifiers", "Verification", "check_rules", "collect", "scan", "verify"]
_RICH_BYTES = re.compile(rb"[A-Za-z0-9.^@+_-]{6,}")
PIXEL_DATA = 0x7FE00010
DETECT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})  # text the detector reads in the inputs
BINARY_TEXT = ("utf-16-le", "utf-16-be", "latin-1")
CODE_MEANING = 0x00080104
NOT_MATCHED = (vrs.NUMBER | vrs.TEMPORAL) - vrs.DATE  # IS DS US ... TM: searched for no identifier
# YYYYMMDD, alone or opening a DT value; never inside a UID or a longer number
BINARY_DATE = re.compile(r"(?<![\d.])((?:19|20)\d{6})(?:\d{2,6}(?:\.\d{1,6})?(?:[+-]\d{4})?)?(?![\d.])")


@dataclass
class Inputs:
    """How the inputs were used: read, failed in the run (excluded), unreadable here."""

    read: int = 0
    excluded: int = 0
    unreadable: int = 0


def _load(path: Path) -> tuple[bool, bytes | None]:
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
        dicom, data = _load(path)
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
        ids.date_records.append(_top_dates(ds))


def _top_dates(ds: Dataset) -> dict[str, str]:
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
            for item in ds[key].value:
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


def scan(out_dir: Path, ids: Identifiers, show_values: bool = False) -> tuple[list[Finding], int]:
    """Findings in every output under ``out_dir`` and the number of files scanned."""
    findings: list[Finding] = []
    files = 0
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        dicom, data = _load(path)
        if not dicom:
            continue
        files += 1
        rel = str(path.relative_to(out_dir))
        raw = data if data is not None else path.read_bytes()
        decoded: list[str] = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(io.BytesIO(raw))
                found = list(_scan_dataset(ds, ids, decoded))
                if any(kind == "date" for _, kind, _ in found):
                    found = _unexplained(found, _top_dates(ds), ids)
            text = b"" if ds.file_meta.get("TransferSyntaxUID") == pydicom.uid.DeflatedExplicitVRLittleEndian else raw
            text = _outside_pixels(ds, text)
        except Exception:  # pydicom raises many kinds on damaged files: the file is the finding
            found, text = [("unreadable", "unreadable", "")], raw
        seen = {value.lower() for _, _, value in found}
        for token in set(_RICH_BYTES.findall(text)):
            key = token.decode("latin-1").lower()
            kind = ids.tokens.get(key)
            if kind and kind != "date" and key not in seen and not any(key in v for v in decoded):
                found.append(("raw bytes", kind, key))
        for tag_path, kind, value in found:
            findings.append(Finding(rel, tag_path, kind, value if show_values else ""))
    return sorted(set(findings), key=lambda f: (f.file, f.path, f.kind)), files


Hit = tuple[str, str, str]  # tag path, kind, value


def _unexplained(found: list[Hit], dates: dict[str, str], ids: Identifiers) -> list[Hit]:
    """``found`` less the top-level dates that the shift of one input's own dates put there (an
    output date may equal another patient's original date by chance)."""
    by_path = {format_tag(tag_for_keyword(k) or 0): k for k in dates}
    return [
        (path, kind, value)
        for path, kind, value in found
        if not (kind == "date" and path in by_path and ids.shifted_onto(by_path[path], value[:8], dates))
    ]


def _outside_pixels(ds: Dataset, raw: bytes) -> bytes:
    """``raw`` without the Pixel Data value: image samples, not text (and most of the bytes)."""
    elem = ds._dict.get(PIXEL_DATA)  # type: ignore[call-overload]
    if not isinstance(elem, RawDataElement) or not elem.value or not raw:
        return raw
    start, value = elem.value_tell, elem.value
    if raw[start : start + 64] != value[:64]:  # offsets not in this buffer: scan it all
        return raw
    return raw[:start] + raw[start + len(value) :]


def _scan_dataset(ds: Dataset, ids: Identifiers, decoded: list[str]) -> Iterator[tuple[str, str, str]]:
    for start, source in (("meta:", ds.file_meta), ("", ds)):
        codecs: dict[int, str | None] = {}
        levels: set[int] = set()
        for where, container, (key, tag, _, vr, _) in walk.deep(source):
            tag_path = start + walk.path_text(where, tag)
            if id(container) not in levels:
                levels.add(id(container))
                yield from _scan_creators(container, tag_path.rsplit("(", 1)[0], ids, decoded)
            if vr == "SQ" or tag == PIXEL_DATA:
                continue
            if vr in vrs.BINARY:
                verbatim = ids.kept_by.get(container[key].keyword or "private", set())
                yield from _scan_binary(container[key].value, tag_path, ids, verbatim)
                continue
            if id(container) not in codecs:
                codecs[id(container)] = rawtext.codec(container)
            elem = rawtext.view(container, key, vr, codecs[id(container)]) or container[key]
            keyword = elem.keyword or "private"
            verbatim = ids.kept_by.get(keyword, set())
            for value in values(elem):
                lower = value.strip().lower()
                decoded.append(lower)
                if lower in verbatim:
                    continue  # kept as is, by the profile's decision
                if vr in vrs.DATE:
                    if lower[:8] in ids.dates:
                        yield tag_path, "date", value
                    continue
                if vr in NOT_MATCHED:
                    continue  # a count, a measurement or a time: digits that are no one's ID
                for kind, text in ids.match(value):
                    if not (tag == CODE_MEANING and kind == "person-name" and _ordinary(text)):
                        yield tag_path, kind, text


def _ordinary(token: str) -> bool:
    """A frequent or clinical word (``observer``): in a code meaning it is vocabulary, even when
    some input's name has it as a part."""
    lex = lexicon()
    return token in lex.common or token in lex.clinical


def _scan_creators(
    container: Dataset, where: str, ids: Identifiers, decoded: list[str]
) -> Iterator[tuple[str, str, str]]:
    """The private creators of one level: decoded (the raw pass leaves them alone) and searched
    unless an input had the same creator (a vendor's block name, kept with its block)."""
    for key, name in walk.creators(container).values():
        decoded.append(name)
        if name and name not in ids.kept_by["creator"]:
            yield from ((where + format_tag(int(key)), kind, text) for kind, text in ids.match(name))


def _scan_binary(
    value: object, tag_path: str, ids: Identifiers, verbatim: Collection[str] = ()
) -> Iterator[tuple[str, str, str]]:
    """Identifiers in a binary value read as text: an ID written as UTF-16 into a private OB,
    an original date in a private DA that an implicit-VR file gives back as UN (``verbatim``:
    the values the profile kept in that attribute)."""
    if not isinstance(value, bytes) or not value or len(value) > 1 << 20:
        return
    seen: set[str] = set()
    for encoding in BINARY_TEXT:
        text = value.decode(encoding, "ignore").replace("\x00", " ")
        if text.strip().lower() in verbatim:
            continue
        for kind, found in ids.match(text):
            if found not in seen:
                seen.add(found)
                yield tag_path, kind, found
        for date in BINARY_DATE.findall(text):
            if date in ids.dates and date not in seen:
                seen.add(date)
                yield tag_path, "date", date


@dataclass
class Verification:
    """The outcome of a verification: mode, counts, findings (no value unless asked for)."""

    mode: str
    files: int
    identifiers: int
    seconds: float
    findings: list[Finding]
    inputs: Inputs = field(default_factory=Inputs)

    @property
    def clean(self) -> bool:
        """No finding, at least one file searched, and every input read (nothing verified is not clean)."""
        return not self.findings and self.files > 0 and self.inputs.unreadable == 0

    def as_dict(self, findings: bool = True) -> dict[str, object]:
        """A PHI-free summary (for JSON output, the manifest and reports)."""
        kinds: dict[str, int] = defaultdict(int)
        for finding in self.findings:
            kinds[finding.kind] += 1
        content: dict[str, object] = {
            "mode": self.mode,
            "files": self.files,
            "identifiers": self.identifiers,
            "seconds": round(self.seconds, 3),
            "clean": self.clean,
            "findings_by_kind": dict(sorted(kinds.items())),
        }
        if self.mode == "against-inputs":
            content["inputs"] = {
                "read": self.inputs.read,
                "failed_in_run": self.inputs.excluded,
                "unreadable": self.inputs.unreadable,
            }
        if findings:
            content["findings"] = [{"file": f.file, "path": f.path, "kind": f.kind} for f in self.findings]
        return content


def verify(
    out_dir: str | os.PathLike[str],
    inputs: str | os.PathLike[str] | None = None,
    plan: Plan | None = None,
    show_values: bool = False,
    failed: Collection[int] = (),
) -> Verification:
    """Search OUT for residual identifiers: against the inputs (with their plan) or by rules.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The de-identified files.
    inputs : str or os.PathLike or None
        The inputs OUT was made from; None runs the rule-based checks.
    plan : Plan or None
        The plan OUT was made with (needed with ``inputs``).
    show_values : bool
        Keep the identifying values in the findings (they are identifying!).
    failed : collection of int
        Ordinals of the inputs the run failed on (from its state): they have no output and
        contribute nothing.

    Returns
    -------
    Verification
        ``clean`` only when nothing was found in at least one file and every input was read.
    """
    started, out = time.monotonic(), Path(out_dir)
    listed = _manifest_findings(out)
    if inputs is None:
        findings, files = check_rules(out)
        return Verification("rules", files, 0, time.monotonic() - started, listed + findings)
    if plan is None:
        raise ValueError("verifying against inputs needs the plan OUT was made with")
    counts = Inputs()
    ids = collect(discover(Path(inputs), out), plan, frozenset(failed), counts)
    findings, files = scan(out, ids, show_values)
    return Verification("against-inputs", files, len(ids), time.monotonic() - started, listed + findings, counts)


def _manifest_findings(out: Path) -> list[Finding]:
    """OUT's files against its manifest (when it has one): missing, altered or unlisted files."""
    if not (out / manifest.MANIFEST).is_file():
        return []
    return [Finding(path, "manifest", kind) for path, kind in manifest.disagreements(out, manifest.load(out))]
