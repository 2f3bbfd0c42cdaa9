"""A review queue on the operator's machine: a copy of each input that fails, and why.

``--quarantine DIR`` (outside IN and OUT, created 0700) receives, for every failed or
quarantined input, a copy named by a digest of its path (``<digest>.dcm``) and a JSON
sidecar (``<digest>.json``: ordinal, reason, detail, the input's path, the run and the
time). A reviewer looks, adds a rule, and reruns with ``--retry-failed``; an input that
later succeeds leaves the queue. Like the state, this folder holds input paths and
original data: it stays local and private.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

from anonymizer.errors import FolderError
from anonymizer.pipeline.settle import storage_fault
from anonymizer.pipeline.worker import STORAGE_ERRNOS, FileResult


class Quarantine:
    """The review folder of one run."""

    def __init__(self, folder: Path):
        self.folder = folder
        for missing in reversed([f for f in (folder, *folder.parents) if not f.exists()]):
            missing.mkdir(mode=0o700, exist_ok=True)

    def _names(self, path: Path) -> tuple[Path, Path]:
        digest = hashlib.sha256(os.fsencode(path.absolute())).hexdigest()[:20]
        return self.folder / f"{digest}.dcm", self.folder / f"{digest}.json"

    def settle(self, path: Path, result: FileResult, run_id: str) -> None:
        """Queue a failed input; take a succeeded or skipped one out of the queue."""
        copy, sidecar = self._names(path)
        try:
            if result.status != "failed":
                copy.unlink(missing_ok=True)
                sidecar.unlink(missing_ok=True)
                return
            note = {
                "ordinal": result.ordinal,
                "reason": result.reason,
                "detail": result.detail,
                "input": os.fsdecode(path),
                "run_id": run_id,
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            if path.is_file():
                shutil.copyfile(path, copy)
                copy.chmod(0o600)
            fd = os.open(sidecar, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(note, fh, sort_keys=True)
        except OSError as exc:
            if exc.errno in STORAGE_ERRNOS:
                raise storage_fault(exc) from None
            raise FolderError("the quarantine folder cannot be written") from None
