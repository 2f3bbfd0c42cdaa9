"""Atomic writes: a temporary file in the destination folder, fsync, rename.

A reader (or a re-run after a crash) sees either no file or the whole file, never a
partial one. Temporary files start with ``.tmp-`` and end with ``.part``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileDataset

TEMP_PREFIX, TEMP_SUFFIX = ".tmp-", ".part"


def write_atomic(ds: FileDataset, path: Path) -> None:
    """Write ``ds`` as a DICOM file (preamble, file meta, its transfer syntax) to ``path``."""
    _match_encoding(ds)
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


def _match_encoding(ds: FileDataset) -> None:
    """Decode raw elements read in another VR encoding than the transfer syntax declares.

    Some files carry implicit VR data under an explicit VR transfer syntax; pydicom reads
    them (reporting explicit VR all the same), but their raw elements have no VR and
    cannot be written explicitly until converted. Only such files pay for it.
    """
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None or syntax.is_implicit_VR:
        return
    if any(isinstance(e, RawDataElement) and e.VR is None for e in ds._dict.values()):
        for _ in ds.iterall():  # converting looks each VR up in the data dictionary
            pass


def sweep_temporaries(folder: Path) -> int:
    """Delete temporary files a killed run left in ``folder``; return how many.

    Only names this module makes (``.tmp-*.part``) are touched.
    """
    count = 0
    if folder.is_dir():
        for leftover in folder.rglob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
            leftover.unlink(missing_ok=True)
            count += 1
    return count
