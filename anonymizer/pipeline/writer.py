"""Atomic writes: a temporary file in the destination folder, fsync, rename.

A reader (or a re-run after a crash) sees either no file or the whole file, never a
partial one. Temporary files start with ``.tmp-`` and end with ``.part``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from pydicom.dataset import FileDataset

from anonymizer.dicom.encoder import encode

TEMP_PREFIX, TEMP_SUFFIX = ".tmp-", ".part"
FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def write_temp(data: bytes | Iterable[bytes], folder: Path, sync: bool = True) -> Path:
    """Write ``data`` (bytes, or bytes in pieces) to a new temporary file in ``folder``; fsync unless ``sync`` is False.

    The batch runner passes ``sync=False`` and makes a whole batch durable with one
    :func:`os.sync` before it records the batch as done.
    """
    tmp = folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
    try:
        fd = os.open(tmp, FLAGS, 0o666)  # the umask applies: OUT is shareable
    except FileNotFoundError:  # the folder's first file (trying first spares a mkdir per file)
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, FLAGS, 0o666)
    try:
        try:
            for piece in (data,) if isinstance(data, bytes) else _gathered(data):
                view = memoryview(piece)
                while view:
                    view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _gathered(pieces: Iterable[bytes], size: int = 1 << 16) -> Iterable[bytes]:
    """Small pieces joined into writes of about ``size`` bytes."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        if len(buffer) >= size:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def publish(temp: Path, final: Path) -> None:
    """Move a temporary file to its final name (atomic within one file system)."""
    os.replace(temp, final)


def write_atomic(ds: FileDataset, path: Path) -> None:
    """Write ``ds`` to ``path`` atomically (temporary file, fsync, rename)."""
    publish(write_temp(encode(ds), path.parent), path)


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
