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

from pydicom.dataset import FileDataset

from anonymizer.engine import Plan, deidentify
from anonymizer.errors import ActionError, AnonymizerError, InputError, ProfileError
from anonymizer.reader import read, sniff
from anonymizer.secret import Secret
from anonymizer.vault import TokenCollisionError, Vault
from anonymizer.writer import sweep_temporaries, write_atomic

log = logging.getLogger(__name__)
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


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
    batch: int = 256,
) -> RunSummary:
    """De-identify every file under ``in_dir`` into ``out_dir`` (None: dry run).

    Per file: read, de-identify, check and stage its tokens in ``vault`` (a collision
    fails the file), then write atomically. Staged tokens are committed every ``batch``
    files and at the end, in one transaction each: a crash loses at most the last
    batch, and re-running the same command completes the vault (inserts are idempotent).
    A failed file leaves no output.
    """
    summary = RunSummary()
    written: set[str] = set()
    if out_dir is not None and sweep_temporaries(out_dir):
        log.info("removed temporary files of an interrupted run")
    try:
        vault.add(plan.lookup_records())  # the controller's crosswalks, whole
    except TokenCollisionError:
        raise ProfileError("a lookup table gives two originals one pseudonym") from None
    vault.commit()
    for ordinal, path in enumerate(discover(in_dir), start=1):
        result, ds = prepare(ordinal, path, plan, secret)
        if ds is not None:
            result = _commit(result, ds, vault, out_dir, written)
        summary.add(result)
        if result.status == "failed":
            log.warning("file #%d failed: %s %s", ordinal, result.reason, result.detail)
        on_result(result)
        if ordinal % batch == 0:
            vault.commit()
    vault.commit()
    return summary


def _commit(result: FileResult, ds: FileDataset, vault: Vault, out_dir: Path | None, written: set[str]) -> FileResult:
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
