"""Reading one input, failing closed: DICOM sniffing and truncation checks.

pydicom accepts short reads silently (a value shorter than its declared length, or a
file cut inside an element header, reads as a shorter dataset). De-identifying such a
file would ship a damaged object, so :func:`read` refuses it.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileDataset

from anonymizer.errors import InputError

UNDEFINED = 0xFFFFFFFF
DEFLATED = "1.2.840.10008.1.2.1.99"
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
IN_MEMORY = 256 * 1024 * 1024  # files up to this size are read whole (one read, parsed from memory)


def sniff(path: Path) -> bool:
    """True when the file has the DICOM Part 10 preamble and ``DICM`` magic."""
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return True  # let the reader report it as unreadable
    return is_part10(head)


def is_part10(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) has the preamble and ``DICM`` magic."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def is_dicom(path: Path, data: bytes | None) -> bool:
    """:func:`sniff` on the bytes :func:`load` returned (or on the file when it returned None)."""
    return is_part10(data) if data is not None else sniff(path)


def load(path: Path) -> bytes | None:
    """The file's bytes when it is small enough to parse from memory, else None (raises OSError)."""
    with path.open("rb") as fh:
        return None if os.fstat(fh.fileno()).st_size > IN_MEMORY else fh.read()


def read(path: Path, data: bytes | None = None) -> FileDataset:
    """Read a DICOM file, failing closed on truncation (pydicom accepts short reads).

    ``data``, the file's bytes from :func:`load`, saves reading it again.

    Raises
    ------
    InputError
        ``truncated`` when any top-level element holds fewer bytes than it declares,
        or pydicom hit the end of the file inside an element.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = pydicom.dcmread(path if data is None else io.BytesIO(data))
    if any("end of file" in str(w.message).lower() or "EOF" in str(w.message) for w in caught):
        raise InputError("truncated")
    end, last_start, last_is_raw = 0, -1, False
    for elem in ds._dict.values():
        if not isinstance(elem, RawDataElement):  # a sequence pydicom parsed while reading
            start = elem.file_tell if elem.file_tell is not None else -1
            if start > last_start:
                last_start, last_is_raw = start, False
            continue
        if elem.value is None:  # zero length
            elem_end = elem.value_tell
        elif elem.length == UNDEFINED:
            elem_end = elem.value_tell + len(elem.value) + 8  # value, then its delimiter
        elif len(elem.value) != elem.length:
            raise InputError("truncated")
        else:
            elem_end = elem.value_tell + elem.length
        end = max(end, elem_end)
        if elem.value_tell > last_start:
            last_start, last_is_raw = elem.value_tell, True
    if last_start < 0:
        raise InputError("empty-dataset")
    image = "Rows" in ds or "Image Storage" in getattr(ds.get("SOPClassUID"), "name", "")
    if image and not any(t in ds for t in PIXEL_TAGS):
        raise InputError("missing-pixel-data")  # most often a file cut before its pixels
    deflated = ds.file_meta.get("TransferSyntaxUID") == DEFLATED  # offsets are in the inflated stream
    # A parsed sequence last in the file was read to its delimiters (pydicom raises there)
    size = path.stat().st_size if data is None else len(data)
    if last_is_raw and not deflated and end != size:
        raise InputError("truncated")
    return ds
