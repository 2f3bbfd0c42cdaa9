"""Residual-PHI scan of an output folder: against its inputs, and by rules.

:func:`collect` gathers the identifying values of the inputs: every value the profile
does not keep, at any depth (removed sequences and dropped file-meta elements included),
as whole values, name parts, ID fragments, institution and address words, UIDs and
dates. Values the profile keeps anywhere are not identifiers, and neither are the whole
values of cleaned text (whatever identifies in it comes from other elements). A match
inside an element the profile keeps, whose value is one of that attribute's input
values, is the profile's decision and not a finding. :func:`scan`
then searches every output: each element at every depth (file meta, sequences, private
blocks) with text decoded in its character set, dates per attribute, and the raw bytes
outside the Pixel Data value (image samples are not text).

:func:`check_rules` needs no inputs: person names, private elements outside the safe
list, original-looking UIDs, missing de-identification marks, burned-in annotation
without pixel cleaning, identifying patterns in text, identifying-looking paths.

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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from anonymizer import standard
from anonymizer.dicom import rawtext, walk
from anonymizer.dicom import vr as vrs
from anonymizer.dicom.reader import is_dicom, load, sniff
from anonymizer.dicom.tags import format_tag
from anonymizer.engine.apply import identifying, planned_changes
from anonymizer.engine.marks import META_KEPT
from anonymizer.engine.plan import Plan
from anonymizer.evidence import manifest
from anonymizer.inputs import discover
from anonymizer.text import identifiers
from anonymizer.text.cleaner import PATTERNS
from anonymizer.text.identifiers import values

_RICH = re.compile(r"[\w.^@+-]{3,}")
_RICH_BYTES = re.compile(rb"[A-Za-z0-9.^@+_-]{6,}")
_ALNUM = re.compile(r"[^\W_]+")
_NAMEISH = re.compile(r"[A-Za-z][^^]*\^[A-Za-z]")  # Family^Given
PIXEL_DATA = 0x7FE00010
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


def _read(path: Path, data: bytes | None, pixels: bool = True) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path if data is None else io.BytesIO(data), stop_before_pixels=not pixels)


def _load(path: Path) -> tuple[bool, bytes | None]:
    """(is DICOM, the bytes when small enough to hold); unreadable files count as DICOM."""
    try:
        data = load(path)
    except OSError:
        return True, None
    return is_dicom(path, data), data


Element = DataElement | rawtext.TextElement
SCANNED_VRS = vrs.TEXT | {"UI", "DA", "DT"}


def _elements(
    ds: Dataset, prefix: str = "", every: bool = False
) -> Iterator[tuple[str, int, Element | None, str | None]]:
    """``(path prefix, tag, element, private creator)`` at every depth, for the VRs verification reads.

    Other elements are not decoded (pydicom's conversion of every element would cost
    more than the whole scan); with ``every`` they are yielded with ``None``. The tag
    path of an element is ``prefix + format_tag(tag)``, e.g. ``(0040,0275)[0]/(0008,0050)``.
    """
    codecs: dict[int, str | None] = {}
    for where, container, (key, tag, _, vr, creator) in walk.deep(ds):
        here = prefix + walk.path_text(where, tag)[: -len(format_tag(tag))]
        if vr in SCANNED_VRS:
            if id(container) not in codecs:
                codecs[id(container)] = rawtext.codec(container)
            yield here, tag, rawtext.view(container, key, vr, codecs[id(container)]) or container[key], creator
        elif every:
            yield here, tag, None, creator


def _add_values(ids: Identifiers, elem: Element, vr: str) -> None:
    keyword = elem.keyword or "private"
    for found in identifiers.of_element(elem, vr):
        if found.kind == "date":
            ids.dates[keyword].add(found.text)
            for rendering in identifiers.date_renderings(found.text):
                if not rendering.isdigit():  # YYYYMMDD is checked per attribute, not as text
                    ids.add(rendering, "date")
        else:
            ids.add(found.text, found.kind)


def collect(inputs: Iterable[Path], plan: Plan) -> Identifiers:
    """The identifying values of every DICOM file among ``inputs``."""
    ids = Identifiers()
    for path in inputs:
        dicom, data = _load(path)
        if not dicom:
            continue
        try:
            ds = _read(path, data, pixels=False)  # identifiers are in the header
            changes = planned_changes(ds, plan)
        except Exception:
            continue
        touched = {(id(c.container), c.tag): c for c in changes}
        for elem in ds.file_meta:
            if int(elem.tag) not in META_KEPT:
                _add_values(ids, elem, elem.VR)
        _gather(ds, touched, ids, inside_removed=False)
    ids.finish()
    return ids


def _gather(ds: Dataset, touched: dict, ids: Identifiers, inside_removed: bool) -> None:  # type: ignore[type-arg]
    codec = rawtext.codec(ds)
    for key, _, _, vr, _ in walk.entries(ds):
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
            if vr not in vrs.DATE:
                kept = {v.strip().lower() for v in identifiers.values(elem)}
                ids.kept.update(kept)
                ids.kept_by[elem.keyword or "private"].update(kept)
            continue
        if change is not None and not identifying(change):
            continue  # cleaned text and remapped UIDs: what identifies in them comes from other elements
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
        text = raw
        try:
            ds = _read(path, data)
            found = list(_scan_dataset(ds, ids))
            text = _outside_pixels(ds, raw)
        except Exception:
            found = [("unreadable", "unreadable", "")]
        seen = {value.lower() for _, _, value in found}
        for token in set(_RICH_BYTES.findall(text)):
            key = token.decode("latin-1").lower()
            kind = ids.tokens.get(key)
            if kind and kind != "date" and key not in seen:
                found.append(("raw bytes", kind, key))
        for tag_path, kind, value in found:
            findings.append(Finding(rel, tag_path, kind, value if show_values else ""))
    return sorted(set(findings), key=lambda f: (f.file, f.path, f.kind)), files


def _outside_pixels(ds: Dataset, raw: bytes) -> bytes:
    """``raw`` without the Pixel Data value: image samples, not text (and most of the bytes)."""
    elem = ds._dict.get(PIXEL_DATA)  # type: ignore[call-overload]
    if not isinstance(elem, RawDataElement) or not elem.value:
        return raw
    start, value = elem.value_tell, elem.value
    if raw[start : start + 64] != value[:64]:  # offsets not in this buffer (e.g. deflated): scan it all
        return raw
    return raw[:start] + raw[start + len(value) :]


def _scan_dataset(ds: Dataset, ids: Identifiers) -> Iterator[tuple[str, str, str]]:
    for start, source in (("meta:", ds.file_meta), ("", ds)):
        for prefix, tag, elem, _ in _elements(source, start):
            assert elem is not None
            if elem.VR in ("DA", "DT"):
                originals = ids.dates.get(elem.keyword or "private", set())
                for value in values(elem):
                    if value.strip()[:8] in originals:
                        yield prefix + format_tag(tag), "date", value
            else:
                verbatim = ids.kept_by.get(elem.keyword or "private", set())
                for value in values(elem):
                    if value.strip().lower() not in verbatim:  # else: kept as is, by the profile's decision
                        yield from ((prefix + format_tag(tag), kind, text) for kind, text in _match(value, ids))


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
            ds = _read(path, None)
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
    if ds.get("BurnedInAnnotation") == "YES" and standard.CID_7050["clean-pixel-data"][0] not in codes:
        yield format_tag(0x00280301), "burned-in annotation without Clean Pixel Data"
    for prefix, tag, elem, creator in _elements(ds, every=True):
        group, element = tag >> 16, tag & 0xFFFF
        tag_path = prefix + format_tag(tag)
        if group & 1:
            if safe.get(f"{group:04x}|{creator}|{element & 0xFF:02x}") not in ("k", "h", "o"):  # type: ignore[attr-defined]
                yield tag_path, "private element outside the safe list"
        elif elem is None:
            continue
        elif elem.VR == "PN" and any(_NAMEISH.match(v) for v in values(elem)):
            yield tag_path, "person name"
        elif elem.keyword in INSTANCE_UIDS and standard.CID_7050["retain-uids"][0] not in codes:
            if any(not v.startswith("2.25.") for v in values(elem)):
                yield tag_path, "original-looking UID"
        elif elem.VR in vrs.FREE_TEXT and any(PATTERNS.search(v) for v in values(elem)):
            yield tag_path, "identifying pattern in text"


@dataclass
class Verification:
    """The outcome of a verification: mode, counts, findings (no value unless asked for)."""

    mode: str
    files: int
    identifiers: int
    seconds: float
    findings: list[Finding]

    @property
    def clean(self) -> bool:
        """No finding, and at least one file searched (nothing verified is not clean)."""
        return not self.findings and self.files > 0

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
        if findings:
            content["findings"] = [{"file": f.file, "path": f.path, "kind": f.kind} for f in self.findings]
        return content


def verify(
    out_dir: str | os.PathLike[str],
    inputs: str | os.PathLike[str] | None = None,
    plan: Plan | None = None,
    show_values: bool = False,
    pixels: str = "",
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
    pixels : str
        ``all``: run the text detector on every output image too; ``examined``: on those
        the pixel step examined (:mod:`anonymizer.evidence.pixelcheck`); ``""``: not.

    Returns
    -------
    Verification
    """
    started, out = time.monotonic(), Path(out_dir)
    listed = _manifest_findings(out)
    if pixels:
        from anonymizer.evidence.pixelcheck import check_pixels

        found, _ = check_pixels(out, show_values, examined_only=pixels == "examined")
        listed += [Finding(*f) for f in found]
    if inputs is None:
        findings, files = check_rules(out)
        return Verification("rules", files, 0, time.monotonic() - started, listed + findings)
    if plan is None:
        raise ValueError("verifying against inputs needs the plan OUT was made with")
    ids = collect(discover(Path(inputs), out), plan)
    findings, files = scan(out, ids, show_values)
    return Verification("against-inputs", files, len(ids), time.monotonic() - started, listed + findings)


def _manifest_findings(out: Path) -> list[Finding]:
    """OUT's files against its manifest (when it has one): missing, altered or unlisted files."""
    if not (out / manifest.MANIFEST).is_file():
        return []
    return [Finding(path, "manifest", kind) for path, kind in manifest.disagreements(out, manifest.load(out))]
