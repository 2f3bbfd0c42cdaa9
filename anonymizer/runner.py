"""Run a plan over a folder: discover inputs, de-identify each file, write, summarise.

Inputs are numbered by their position in sorted discovery order (the *ordinal*); that
number, never the path, names a file in messages, so nothing identifying reaches logs.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileDataset

from anonymizer.engine import Plan, deidentify
from anonymizer.errors import ActionError, AnonymizerError, InputError
from anonymizer.secret import Secret
from anonymizer.vault import Vault
from anonymizer.writer import write_atomic

log = logging.getLogger(__name__)
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
UNDEFINED = 0xFFFFFFFF
DEFLATED = "1.2.840.10008.1.2.1.99"
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)


@dataclass(frozen=True)
class FileResult:
    """The outcome of one input: status ``done``, ``failed`` or ``skipped``.

    ``reason`` is a stable code; ``detail`` holds safe fields only (tag, keyword, VR).
    """

    ordinal: int
    status: str
    reason: str = ""
    detail: str = ""
    output: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    records: tuple[tuple[str, str, str], ...] = ()


@dataclass
class RunSummary:
    """Counts for a whole run; holds no value and no input path."""

    done: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)

    def add(self, result: FileResult) -> None:
        if result.status == "done":
            self.done += 1
            self.actions.update(result.counts)
        elif result.status == "failed":
            self.failed[result.reason] += 1
        else:
            self.skipped[result.reason] += 1

    @property
    def exit_code(self) -> int:
        """0 when no file failed, 1 otherwise."""
        return 1 if self.failed else 0


def discover(root: Path) -> Iterator[Path]:
    """Every regular file under ``root``, in sorted order, symlinked folders not followed."""
    if root.is_file():
        yield root
        return
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            if path.is_file():
                yield path


def sniff(path: Path) -> bool:
    """True when the file has the DICOM Part 10 preamble and ``DICM`` magic."""
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return True  # let the reader report it as unreadable
    return len(head) == 132 and head[128:] == b"DICM"


def read(path: Path) -> FileDataset:
    """Read a DICOM file, failing closed on truncation (pydicom accepts short reads).

    Raises
    ------
    InputError
        ``truncated`` when any top-level element holds fewer bytes than it declares,
        or pydicom hit the end of the file inside an element.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = pydicom.dcmread(path)
    if any("end of file" in str(w.message).lower() or "EOF" in str(w.message) for w in caught):
        raise InputError("truncated")
    end = 0
    for raw in ds._dict.values():
        if not isinstance(raw, RawDataElement) or raw.value is None:
            continue
        if raw.length == UNDEFINED:
            end = max(end, raw.value_tell + len(raw.value) + 8)  # value, then its delimiter
        elif len(raw.value) != raw.length:
            raise InputError("truncated")
        else:
            end = max(end, raw.value_tell + raw.length)
    if end == 0:
        raise InputError("empty-dataset")
    if "Rows" in ds and not any(t in ds for t in PIXEL_TAGS):
        raise InputError("missing-pixel-data")  # most often a file cut before its pixels
    deflated = ds.file_meta.get("TransferSyntaxUID") == DEFLATED  # offsets are in the inflated stream
    if not deflated and end != path.stat().st_size:
        raise InputError("truncated")
    return ds


def prepare(ordinal: int, path: Path, plan: Plan, secret: Secret) -> tuple[FileResult, FileDataset | None]:
    """Read and de-identify one file in memory; never raises for a bad input."""
    if not sniff(path):
        return FileResult(ordinal, "skipped", "not-dicom"), None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warnings quote values
        return _prepare(ordinal, path, plan, secret)


def _prepare(ordinal: int, path: Path, plan: Plan, secret: Secret) -> tuple[FileResult, FileDataset | None]:
    try:
        ds = read(path)
        if str(ds.file_meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_CLASS:
            return FileResult(ordinal, "skipped", "dicomdir"), None
        outcome = deidentify(ds, plan, secret)
        name = f"{ds.SOPInstanceUID}.dcm"
    except Exception as exc:
        return _failure(ordinal, exc), None
    done = FileResult(ordinal, "done", output=name, counts=outcome.counts, records=tuple(outcome.records))
    return done, ds


def _failure(ordinal: int, exc: Exception) -> FileResult:
    """A failed result with a stable reason; pydicom's messages (values) are dropped."""
    if isinstance(exc, ActionError):
        return FileResult(ordinal, "failed", "action", str(exc))
    if isinstance(exc, InputError):
        return FileResult(ordinal, "failed", exc.reason)
    if isinstance(exc, AnonymizerError):
        return FileResult(ordinal, "failed", exc.code)
    if isinstance(exc, OSError):
        return FileResult(ordinal, "failed", "io", type(exc).__name__)
    return FileResult(ordinal, "failed", "invalid-dicom", type(exc).__name__)


def check_folders(in_dir: Path, out_dir: Path) -> None:
    """Refuse OUT inside IN (a re-run would read its own output) and IN inside OUT."""
    src, dst = in_dir.resolve(), out_dir.resolve()
    if src == dst or src in dst.parents or dst in src.parents:
        raise InputError("folders", "OUT and IN must not contain one another")


def run(
    in_dir: Path,
    out_dir: Path | None,
    plan: Plan,
    secret: Secret,
    vault: Vault,
    on_result: Callable[[FileResult], None] = lambda r: None,
) -> RunSummary:
    """De-identify every file under ``in_dir`` into ``out_dir`` (None: dry run).

    Per file: read, de-identify, record its tokens in ``vault`` (a collision fails the
    file), then write atomically. A failed file leaves no output.
    """
    summary = RunSummary()
    written: set[str] = set()
    for ordinal, path in enumerate(discover(in_dir), start=1):
        result, ds = prepare(ordinal, path, plan, secret)
        if ds is not None:
            result = _commit(result, ds, vault, out_dir, written)
        summary.add(result)
        if result.status == "failed":
            log.warning("file #%d failed: %s %s", ordinal, result.reason, result.detail)
        on_result(result)
    return summary


def _commit(
    result: FileResult, ds: FileDataset, vault: Vault, out_dir: Path | None, written: set[str]
) -> FileResult:
    if result.output in written:
        return FileResult(result.ordinal, "failed", "duplicate-sop-instance")
    try:
        vault.add(result.records)
        if out_dir is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom's warnings quote values
                write_atomic(ds, out_dir / result.output)
    except Exception as exc:
        return _failure(result.ordinal, exc)
    written.add(result.output)
    return result
