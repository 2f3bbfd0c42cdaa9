"""Atomic writes: a temporary file in the destination folder, fsync, rename.

A reader (or a re-run after a crash) sees either no file or the whole file, never a
partial one. Temporary files start with ``.tmp-`` and end with ``.part``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydicom.dataset import FileDataset

TEMP_PREFIX, TEMP_SUFFIX = ".tmp-", ".part"


def write_atomic(ds: FileDataset, path: Path) -> None:
    """Write ``ds`` as a DICOM file (preamble, file meta, its transfer syntax) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            ds.save_as(fh, enforce_file_format=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
