"""Settle each result in OUT, in input order: vault tokens, one SOP instance once, paths, renames.

For a de-identified file (a temporary file beside its destination):

1. its tokens go into the vault (a token that would stand for two originals fails the file);
2. one SOP Instance UID, one output: if another input already made an output with the
   same new SOP Instance UID, the file is a ``duplicate`` when the two inputs hold the
   same dataset (bytes outside the file meta, compared only then), and fails with ``sop-instance-conflict``
   when they differ (the earlier one stays);
3. a path another instance owns gets a suffix from the new SOP Instance UID;
4. the file is renamed into place and recorded with its size, time, SHA-256 and owner.

An input processed again (changed, or redone) replaces its own earlier output: when the
new output has another path, or the input now fails, the earlier file is removed. At
the end of a whole pass, outputs that the current binding did not make (left by an
earlier plan after ``--force``) are removed, so OUT holds only what this plan made.

Faults of the storage (full disk, read-only OUT) raise :class:`StorageError`: the run
stops, nothing is recorded as failed, and the same command resumes.
"""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from pathlib import Path

from anonymizer.dicom.reader import source_digest
from anonymizer.errors import StorageError, TokenCollisionError
from anonymizer.keys.store import Vault
from anonymizer.pipeline.layout import disambiguate, path_key
from anonymizer.pipeline.state import Output, Previous, StateStore
from anonymizer.pipeline.worker import STORAGE_ERRNOS, FileResult
from anonymizer.pipeline.writer import publish


def _digest_of(path: bytes) -> str:
    """The SHA-256 of an input's dataset outside its file meta, or "" when it cannot be read."""
    try:
        return source_digest(Path(os.fsdecode(path)), None)
    except OSError:
        return ""


def storage_fault(exc: OSError) -> StorageError:
    """The run-stopping error for a fault of the storage (errno name only, never a path)."""
    name = errno.errorcode.get(exc.errno or 0, "EIO")
    return StorageError(f"OUT's storage failed ({name}); free space or fix the mount, then run the same command")


class Settler:
    """Settles results into OUT for one run (``out_dir`` None: a dry run, nothing written)."""

    def __init__(self, out_dir: Path | None, vault: Vault, state: StateStore, binding: str):
        self.out_dir, self.vault, self.state, self.binding = out_dir, vault, state, binding
        self.removed = 0  # outputs removed because their input changed, failed or vanished

    def settle(self, result: FileResult, path: Path, previous: Previous | None) -> FileResult:
        """Put a worker's result into OUT and return what became of the file."""
        if result.status == "fault":
            raise StorageError(f"OUT's storage failed ({result.detail}); free space or fix the mount, then rerun")
        if result.status == "done":
            result = self._place(result, path)
        if previous is not None and previous.output and previous.output != result.output:
            self._remove(previous.output, os.fsencode(path))  # the input's earlier output
        return result

    def _place(self, result: FileResult, path: Path) -> FileResult:
        temp = Path(result.temp) if result.temp else None
        me = os.fsencode(path)
        try:
            verdict = self._same_instance(result, me)
            if verdict is not None:
                return verdict
            self.vault.add(result.records)
            output = result.output
            owner = self.state.owner(path_key(output))
            if owner is not None and owner[0] != result.sop_uid:
                output = disambiguate(output, result.sop_uid)
            size = mtime = -1
            if self.out_dir is not None and temp is not None:
                final = self.out_dir / output
                publish(temp, final)
                temp = None
                stat = final.stat()
                size, mtime = stat.st_size, stat.st_mtime_ns
            record = Output(output, result.sop_uid, result.sha256, result.pixels, size, mtime, self.binding, me)
            self.state.claim(path_key(output), record)
        except TokenCollisionError as exc:
            return FileResult(result.ordinal, "failed", exc.reason, exc.detail)
        except OSError as exc:
            if exc.errno in STORAGE_ERRNOS:
                raise storage_fault(exc) from None
            return FileResult(result.ordinal, "failed", "io", type(exc).__name__)
        finally:
            if temp is not None:
                temp.unlink(missing_ok=True)
        return replace(result, output=output, temp="")

    def _same_instance(self, result: FileResult, me: bytes) -> FileResult | None:
        """A duplicate or a conflict when another input already made this SOP instance.

        Rare, so the two inputs' datasets (bytes outside the file meta) are read and
        compared only then; an earlier input that is gone counts as another dataset.
        """
        found = self.state.by_sop(result.sop_uid)
        if found is None or found[1] == me:
            return None
        if _digest_of(found[1]) == _digest_of(me) != "":
            return FileResult(result.ordinal, "skipped", "duplicate")
        return FileResult(result.ordinal, "failed", "sop-instance-conflict", "another input holds this SOP instance")

    def _remove(self, output: str, owner: bytes) -> None:
        """Remove an output of ``owner`` from OUT and from the state (if it still owns it)."""
        key = path_key(output)
        held = self.state.owner(key)
        if held is None or held[1] != owner:
            return
        if self.out_dir is not None:
            try:
                (self.out_dir / output).unlink(missing_ok=True)
            except OSError as exc:
                raise storage_fault(exc) from None
        self.state.release(key)
        self.removed += 1

    def collect_garbage(self) -> int:
        """Remove outputs the current binding did not make (after a ``--force`` pass); return how many."""
        before = self.removed
        for output in list(self.state.outputs(other_than=self.binding)):
            self._remove(output.path, output.input)
        return self.removed - before
