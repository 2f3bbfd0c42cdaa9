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
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from anonymizer.dicom import rawtext, walk
from anonymizer.dicom import vr as vrs
from anonymizer.dicom.tags import format_tag
from anonymizer.engine.plan import Plan
from anonymizer.evidence import manifest
from anonymizer.evidence.collect import Inputs, collect, load_file, top_dates
from anonymizer.evidence.rules import check_rules
from anonymizer.evidence.search import Finding, Identifiers
from anonymizer.inputs import discover
from anonymizer.text.identifiers import values
from anonymizer.text.lexicon import lexicon

__all__ = ["Finding", "Identifiers", "Verification", "check_rules", "collect", "scan", "verify"]
_RICH_BYTES = re.compile(rb"[A-Za-z0-9.^@+_-]{6,}")
PIXEL_DATA = 0x7FE00010
BINARY_TEXT = ("utf-16-le", "utf-16-be", "latin-1")
CODE_MEANING = 0x00080104
NOT_MATCHED = (vrs.NUMBER | vrs.TEMPORAL) - vrs.DATE  # IS DS US ... TM: searched for no identifier
# YYYYMMDD, alone or opening a DT value; never inside a UID or a longer number
BINARY_DATE = re.compile(r"(?<![\d.])((?:19|20)\d{6})(?:\d{2,6}(?:\.\d{1,6})?(?:[+-]\d{4})?)?(?![\d.])")


def scan(out_dir: Path, ids: Identifiers, show_values: bool = False) -> tuple[list[Finding], int]:
    """Findings in every output under ``out_dir`` and the number of files scanned."""
    findings: list[Finding] = []
    files = 0
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        dicom, data = load_file(path)
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
                    found = _unexplained(found, top_dates(ds), ids)
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
        """A PHI-free summary (for JSON output, the manifest and reports).

        Parameters
        ----------
        findings : bool
            Add the list of findings (file, path and kind of each; never a value).

        Returns
        -------
        dict of str to object
            ``mode``, ``files``, ``identifiers``, ``seconds``, ``clean`` and
            ``findings_by_kind``; ``inputs`` (read, failed in the run, unreadable) when
            verifying against inputs; ``findings`` when asked.
        """
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
    failed : collection of int
        Ordinals of the inputs the run failed on (from its state): they have no output and
        contribute nothing.
    pixels : str
        ``all``: run the text detector on every output image too; ``examined``: on those
        the pixel step examined (:mod:`anonymizer.evidence.pixelcheck`); ``""``: not.

    Returns
    -------
    Verification
        ``clean`` only when nothing was found in at least one file and every input was read.

    Raises
    ------
    ValueError
        ``inputs`` given without ``plan``.
    RuntimeError
        ``pixels`` asked for, but text detection cannot run here (the message says what to install).
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
    counts = Inputs()
    ids = collect(discover(Path(inputs), out), plan, frozenset(failed), counts)
    findings, files = scan(out, ids, show_values)
    return Verification("against-inputs", files, len(ids), time.monotonic() - started, listed + findings, counts)


def _manifest_findings(out: Path) -> list[Finding]:
    """OUT's files against its manifest (when it has one): missing, altered or unlisted files."""
    if not (out / manifest.MANIFEST).is_file():
        return []
    return [Finding(path, "manifest", kind) for path, kind in manifest.disagreements(out, manifest.load(out))]
