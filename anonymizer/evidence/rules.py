"""Rule-based verification (``anonymizer verify OUT``): no inputs needed.

Findings: person names in PN elements, private elements outside the safe list,
original-looking UIDs, missing de-identification marks, burned-in annotation without
pixel cleaning, PHI the free-text detector finds in any text element (our own marks and
dummy values aside), identifying-looking file names, and files that cannot be read.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from anonymizer import standard
from anonymizer.dicom import rawtext, walk
from anonymizer.dicom import vr as vrs
from anonymizer.dicom.reader import sniff
from anonymizer.dicom.tags import format_tag
from anonymizer.evidence.search import Finding, ours
from anonymizer.text.cleaner import DEFAULT, detector
from anonymizer.text.identifiers import values

NAME_IN_PATH = re.compile(r"[\^@]|[A-Z][a-z]+ [A-Z][a-z]+")  # DICOM PN, e-mail, "Given Family"
NAMEISH = re.compile(r"[A-Za-z][^^]*\^[A-Za-z]")  # Family^Given
DETECTED_VRS = vrs.TEXT - {"PN", "CS", "AE", "UR"}  # LO LT SH ST UC UT: names, places, numbers in words
MARKS = frozenset({0x00120063, 0x00120062, 0x00280303})  # DeidentificationMethod, PatientIdentityRemoved, ...
METHOD_CODES = 0x00120064  # DeidentificationMethodCodeSequence: our CID 7050 codes
CODES = frozenset({0x00080100, 0x00080102, 0x00080103, 0x00080119, 0x00080120})  # code values, schemes, versions
INSTANCE_UIDS = frozenset(
    {"SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "ReferencedSOPInstanceUID"}
)


def check_rules(out_dir: Path) -> tuple[list[Finding], int]:
    """Rule-based findings in every output under ``out_dir`` and the number of files checked."""
    findings: list[Finding] = []
    files = 0
    safe = standard.private_dispositions()
    own = ours()
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = str(path.relative_to(out_dir))
        if not sniff(path):
            continue
        files += 1
        for part in path.relative_to(out_dir).parts:
            if NAME_IN_PATH.search(part):
                findings.append(Finding(rel, "file name", "identifying-looking name"))
                break
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
            found = [Finding(rel, p, k) for p, k in _rules(ds, safe, own)]
        except Exception:  # pydicom raises many kinds on damaged files: the file is the finding
            found = [Finding(rel, "", "unreadable")]
        findings += found
    return sorted(set(findings), key=lambda f: (f.file, f.path, f.kind)), files


def _rules(ds: Dataset, safe: object, own: frozenset[str]) -> Iterator[tuple[str, str]]:
    codes = {str(i.get("CodeValue", "")) for i in ds.get("DeidentificationMethodCodeSequence", [])}
    if ds.get("PatientIdentityRemoved") != "YES":
        yield format_tag(0x00120062), "missing PatientIdentityRemoved=YES"
    if "LongitudinalTemporalInformationModified" not in ds:
        yield format_tag(0x00280303), "missing LongitudinalTemporalInformationModified"
    if ds.get("BurnedInAnnotation") == "YES" and standard.CID_7050["clean-pixel-data"][0] not in codes:
        yield format_tag(0x00280301), "burned-in annotation without Clean Pixel Data"
    find = detector(DEFAULT).find
    codecs: dict[int, str | None] = {}
    for where, container, (key, tag, _, vr, creator) in walk.deep(ds):
        group, element = tag >> 16, tag & 0xFFFF
        tag_path = walk.path_text(where, tag)
        if group & 1:
            if safe.get(f"{group:04x}|{creator}|{element & 0xFF:02x}") not in ("k", "h", "o"):  # type: ignore[attr-defined]
                yield tag_path, "private element outside the safe list"
            continue
        if (vr not in vrs.TEXT and vr != "UI") or tag in MARKS or tag in CODES:
            continue
        if any(t == METHOD_CODES for t, _ in where):
            continue
        if id(container) not in codecs:
            codecs[id(container)] = rawtext.codec(container)
        elem = rawtext.view(container, key, vr, codecs[id(container)]) or container[key]
        if vr == "PN" and any(NAMEISH.match(v) for v in values(elem)):
            yield tag_path, "person name"
        elif elem.keyword in INSTANCE_UIDS and standard.CID_7050["retain-uids"][0] not in codes:
            if any(not v.startswith("2.25.") for v in values(elem)):
                yield tag_path, "original-looking UID"
        elif vr in DETECTED_VRS and any(_detected(find, v, own) for v in values(elem)):
            yield tag_path, "identifying pattern in text"


def _detected(find: object, value: str, own: frozenset[str]) -> bool:
    """Whether the detector finds PHI in ``value`` that is not one of our own marks."""
    spans = find(value)  # type: ignore[operator]
    return any(value[s.start : s.end].strip().lower() not in own for s in spans)
