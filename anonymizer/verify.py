"""Residual-PHI scan of an output folder: against its inputs, and by rules.

:func:`collect` gathers the identifying values of the inputs: every value the profile
does not keep, at any depth (removed sequences and dropped file-meta elements included),
as whole values, name parts, ID fragments, institution and address words, UIDs and
dates. Values the profile keeps anywhere are not identifiers, and neither are the whole
values of cleaned text (whatever identifies in it comes from other elements). A match
inside an element the profile keeps, whose value is one of that attribute's input
values, is the profile's decision and not a finding. :func:`scan`
then searches every output: each element at every depth (file meta, sequences, private
blocks) with text decoded in its character set, dates per attribute, and the raw bytes.

:func:`check_rules` needs no inputs: person names, private elements outside the safe
list, original-looking UIDs, missing de-identification marks, burned-in annotation
without pixel cleaning, identifying patterns in text, identifying-looking paths.

A finding names the output file (relative path), the tag path and the kind of
identifier; never the value, unless the caller asks for it.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from anonymizer import standard
from anonymizer.actions import values
from anonymizer.cleaner import PATTERNS, date_renderings, identifier_strings
from anonymizer.engine import META_KEPT, Plan, planned_changes
from anonymizer.reader import sniff
from anonymizer.tags import format_tag

TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_RICH = re.compile(r"[\w.^@+-]{3,}")
_RICH_BYTES = re.compile(rb"[A-Za-z0-9.^@+_-]{6,}")
_ALNUM = re.compile(r"[^\W_]+")
_NAMEISH = re.compile(r"[A-Za-z][^^]*\^[A-Za-z]")  # Family^Given
INSTANCE_UIDS = frozenset(
    {"SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "ReferencedSOPInstanceUID"}
)


@dataclass(frozen=True)
class Finding:
    """One residual identifier: where, and of which kind (the value only on request)."""

    file: str
    path: str
    kind: str
    value: str = field(default="", compare=False)


@dataclass
class Identifiers:
    """What must not appear in the outputs, lower-cased, with the kind of each."""

    tokens: dict[str, str] = field(default_factory=dict)  # one token -> kind
    phrases: dict[str, dict[str, str]] = field(
        default_factory=lambda: defaultdict(dict)
    )  # first token -> {phrase: kind}
    dates: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # keyword -> original DA values
    kept: set[str] = field(default_factory=set)
    kept_by: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # keyword -> kept values

    def add(self, text: str, kind: str) -> None:
        key = text.strip().lower()
        if len(key) < 3 or (key.isdigit() and len(key) < 5):
            return
        words = _ALNUM.findall(key)
        if len(words) <= 1 or _RICH.fullmatch(key):
            self.tokens.setdefault(key, kind)
        else:
            self.phrases[words[0]].setdefault(key, kind)

    def finish(self) -> None:
        """Forget what the profile keeps somewhere (not an identifier by its own rules)."""
        for key in self.kept:
            self.tokens.pop(key, None)
            first = _ALNUM.findall(key)[:1]
            if first:
                self.phrases.get(first[0], {}).pop(key, None)

    def __len__(self) -> int:
        return len(self.tokens) + sum(len(p) for p in self.phrases.values())


def kind_of(keyword: str, vr: str) -> str:
    """The kind of identifier an attribute holds."""
    if vr == "PN":
        return "person-name"
    if vr == "UI":
        return "uid"
    if vr in ("DA", "DT"):
        return "date"
    for word, kind in (("Address", "address"), ("Institution", "institution"), ("Telephone", "phone")):
        if word in keyword:
            return kind
    if keyword.endswith(("ID", "IDs", "Number", "Numbers")) or "Identifier" in keyword:
        return "id"
    return "text"


def _read(path: Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def _walk(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, DataElement]]:
    """Every element at every depth, with its tag path (``(0040,0275)[0]/(0008,0050)``)."""
    for elem in ds:
        here = f"{prefix}{format_tag(elem.tag)}"
        yield here, elem
        if elem.VR == "SQ":
            for n, item in enumerate(elem.value):
                yield from _walk(item, f"{here}[{n}]/")


def _add_values(ids: Identifiers, elem: DataElement) -> None:
    vr, keyword = elem.VR, elem.keyword or "private"
    kind = kind_of(keyword, vr)
    for value in values(elem):
        if vr in ("DA", "DT"):
            ids.dates[keyword].add(value.strip()[:8])
            for rendering in date_renderings(value):
                if not rendering.isdigit():  # YYYYMMDD is checked per attribute, not as text
                    ids.add(rendering, "date")
        elif vr == "UI":
            ids.add(value, "uid")
        elif vr in TEXT_VRS:
            for text in identifier_strings(keyword, vr, value):
                ids.add(text, kind)


def collect(inputs: Iterable[Path], plan: Plan) -> Identifiers:
    """The identifying values of every DICOM file among ``inputs``."""
    ids = Identifiers()
    for path in inputs:
        if not sniff(path):
            continue
        try:
            ds = _read(path)
            changes = planned_changes(ds, plan)
        except Exception:
            continue
        touched = {(id(c.container), c.tag): c for c in changes}
        for elem in ds.file_meta:
            if int(elem.tag) not in META_KEPT:
                _add_values(ids, elem)
        _gather(ds, touched, ids, inside_removed=False)
    ids.finish()
    return ids


def _gather(ds: Dataset, touched: dict, ids: Identifiers, inside_removed: bool) -> None:  # type: ignore[type-arg]
    for elem in ds:
        change = touched.get((id(ds), int(elem.tag)))
        removed = inside_removed or (change is not None and change.bound.name in ("remove", "empty"))
        if elem.VR == "SQ":
            for item in elem.value:
                _gather(item, touched, ids, removed)
            continue
        if change is None and not inside_removed:
            if elem.VR in TEXT_VRS or elem.VR == "UI":
                kept = {v.strip().lower() for v in values(elem)}
                ids.kept.update(kept)
                ids.kept_by[elem.keyword or "private"].update(kept)
            continue
        if elem.VR == "TM" or (change is not None and change.bound.name == "generalize"):
            continue  # times and coarsened ages identify no one on their own
        if change is not None and change.bound.name in ("clean", "shift_date") and elem.VR not in ("DA", "DT"):
            continue  # cleaned text: what identifies in it comes from other elements, collected there
        _add_values(ids, elem)


def scan(out_dir: Path, ids: Identifiers, show_values: bool = False) -> tuple[list[Finding], int]:
    """Findings in every output under ``out_dir`` and the number of files scanned."""
    findings: list[Finding] = []
    files = 0
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        if not sniff(path):
            continue
        files += 1
        rel = str(path.relative_to(out_dir))
        try:
            ds = _read(path)
            found = list(_scan_dataset(ds, ids))
        except Exception:
            found = [("unreadable", "unreadable", "")]
        seen = {value.lower() for _, _, value in found}
        raw = path.read_bytes()
        for token in set(_RICH_BYTES.findall(raw)):
            key = token.decode("latin-1").lower()
            kind = ids.tokens.get(key)
            if kind and kind != "date" and key not in seen:
                found.append(("raw bytes", kind, key))
        for tag_path, kind, value in found:
            findings.append(Finding(rel, tag_path, kind, value if show_values else ""))
    return sorted(set(findings), key=lambda f: (f.file, f.path, f.kind)), files


def _scan_dataset(ds: Dataset, ids: Identifiers) -> Iterator[tuple[str, str, str]]:
    for prefix, source in (("meta:", ds.file_meta), ("", ds)):
        for tag_path, elem in _walk(source, prefix):
            if elem.VR in ("DA", "DT"):
                originals = ids.dates.get(elem.keyword or "private", set())
                for value in values(elem):
                    if value.strip()[:8] in originals:
                        yield tag_path, "date", value
            elif elem.VR in TEXT_VRS or elem.VR == "UI":
                verbatim = ids.kept_by.get(elem.keyword or "private", set())
                for value in values(elem):
                    if value.strip().lower() not in verbatim:  # else: kept as is, by the profile's decision
                        yield from ((tag_path, kind, text) for kind, text in _match(value, ids))


def _match(value: str, ids: Identifiers) -> Iterator[tuple[str, str]]:
    lower = value.lower()
    candidates = {lower, *_RICH.findall(lower), *_ALNUM.findall(lower)}
    for token in candidates:
        kind = ids.tokens.get(token)
        if kind:
            yield kind, token
    for word in set(_ALNUM.findall(lower)):
        for phrase, kind in ids.phrases.get(word, {}).items():
            if phrase in lower:
                yield kind, phrase


# --- rules, without the inputs ---------------------------------------------------------

_NAME_IN_PATH = re.compile(r"[\^@]|[A-Z][a-z]+ [A-Z][a-z]+")  # DICOM PN, e-mail, "Given Family"
FREE_TEXT = frozenset({"LO", "ST", "LT", "UT", "UC"})  # SH holds codes and short labels


def check_rules(out_dir: Path) -> tuple[list[Finding], int]:
    """Rule-based findings in every output under ``out_dir``."""
    findings: list[Finding] = []
    files = 0
    safe = standard.private_dispositions()
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = str(path.relative_to(out_dir))
        if not sniff(path):
            continue
        files += 1
        for part in path.relative_to(out_dir).parts:
            if _NAME_IN_PATH.search(part):
                findings.append(Finding(rel, "file name", "identifying-looking name"))
                break
        try:
            ds = _read(path)
        except Exception:
            findings.append(Finding(rel, "", "unreadable"))
            continue
        findings += [Finding(rel, p, k) for p, k in _rules(ds, safe)]
    return sorted(set(findings), key=lambda f: (f.file, f.path, f.kind)), files


def _rules(ds: Dataset, safe: object) -> Iterator[tuple[str, str]]:
    codes = {str(i.get("CodeValue", "")) for i in ds.get("DeidentificationMethodCodeSequence", [])}
    if ds.get("PatientIdentityRemoved") != "YES":
        yield format_tag(0x00120062), "missing PatientIdentityRemoved=YES"
    if "LongitudinalTemporalInformationModified" not in ds:
        yield format_tag(0x00280303), "missing LongitudinalTemporalInformationModified"
    if ds.get("BurnedInAnnotation") == "YES" and "113101" not in codes:
        yield format_tag(0x00280301), "burned-in annotation without Clean Pixel Data"
    creators: dict[tuple[int, int], str] = {}
    for tag_path, elem in _walk(ds):
        tag = int(elem.tag)
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1 and 0x10 <= element <= 0xFF:
            creators[(group, element)] = str(elem.value).strip().lower()
        elif group & 1:
            creator = creators.get((group, element >> 8), "")
            if safe.get(f"{group:04x}|{creator}|{element & 0xFF:02x}") not in ("k", "h", "o"):  # type: ignore[attr-defined]
                yield tag_path, "private element outside the safe list"
        elif elem.VR == "PN" and any(_NAMEISH.match(str(v)) for v in values(elem)):
            yield tag_path, "person name"
        elif elem.keyword in INSTANCE_UIDS and "113110" not in codes:
            if any(not str(v).startswith("2.25.") for v in values(elem)):
                yield tag_path, "original-looking UID"
        elif elem.VR in FREE_TEXT and any(PATTERNS.search(v) for v in values(elem)):
            yield tag_path, "identifying pattern in text"


def summary(findings: list[Finding], files: int, mode: str, seconds: float, identifiers: int = 0) -> dict[str, object]:
    """A PHI-free summary of a verification (for JSON output, the manifest and reports)."""
    kinds: dict[str, int] = defaultdict(int)
    for finding in findings:
        kinds[finding.kind] += 1
    return {
        "mode": mode,
        "files": files,
        "identifiers": identifiers,
        "seconds": round(seconds, 3),
        "clean": not findings,
        "findings_by_kind": dict(sorted(kinds.items())),
        "findings": [{"file": f.file, "path": f.path, "kind": f.kind} for f in findings],
    }
