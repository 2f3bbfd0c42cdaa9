"""Reading one input, failing closed: DICOM sniffing and truncation checks.

pydicom accepts short reads silently (a value shorter than its declared length, or a
file cut inside an element header, reads as a shorter dataset). De-identifying such a
file would ship a damaged object, so :func:`read` refuses it.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileDataset
from pydicom.filereader import read_file_meta_info
from pydicom.uid import UID

from anonymizer.dicom import vr as vrs
from anonymizer.errors import InputError

DEFLATED = "1.2.840.10008.1.2.1.99"
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
IN_MEMORY = 256 * 1024 * 1024  # files up to this size are read whole (one read, parsed from memory)
LONG_HEADER_VRS = frozenset(v.encode() for v in vrs.LONG_LENGTH)


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


def looks_raw(head: bytes) -> bool:
    """A dataset without preamble (``head``: the first bytes): its first element is in the
    file meta group or group 0008, little or big endian. Such a file is read with
    ``force`` and written back as a proper Part 10 file; if it does not parse, it fails."""
    if len(head) < 8:
        return False
    return any(struct.unpack_from(f"{order}H", head)[0] in (0x0002, 0x0008) for order in "<>")


def is_dicom(path: Path, data: bytes | None) -> bool:
    """:func:`sniff` on the bytes :func:`load` returned (or on the file when it returned None)."""
    return is_part10(data) if data is not None else sniff(path)


def head_of(path: Path, data: bytes | None) -> bytes:
    """The first 132 bytes of the file (from ``data`` when it was loaded)."""
    if data is not None:
        return data[:132]
    try:
        with path.open("rb") as fh:
            return fh.read(132)
    except OSError:
        return b""  # the reader reports it


def load(path: Path, max_size: int | None = None) -> bytes | None:
    """The file's bytes when it is small enough to parse from memory, else None.

    Raises
    ------
    InputError
        ``too-large`` when the file has more than ``max_size`` bytes.
    OSError
        When the file cannot be read.
    """
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if max_size is not None and size > max_size:
            raise InputError("too-large", f"over the --max-file-size of {max_size} bytes")
        return None if size > IN_MEMORY else fh.read()


def dataset_offset(head: bytes) -> int:
    """Where the dataset starts: after the preamble, ``DICM`` and the file meta group (explicit VR LE)."""
    if not is_part10(head):
        return 0
    offset = 132
    while offset + 8 <= len(head) and head[offset : offset + 2] == b"\x02\x00":
        vr = head[offset + 4 : offset + 6]
        if vr in LONG_HEADER_VRS:
            offset += 12 + struct.unpack_from("<L", head, offset + 8)[0]
        else:
            offset += 8 + struct.unpack_from("<H", head, offset + 6)[0]
    return offset


def source_digest(path: Path, data: bytes | None) -> str:
    """SHA-256 of the dataset bytes outside the file meta (two copies of one object agree)."""
    if data is not None:
        return hashlib.sha256(memoryview(data)[dataset_offset(data) :]).hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        fh.seek(dataset_offset(fh.read(65536)))
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def precheck(path: Path) -> None:
    """Walk the top-level element headers of a file read from disk, before pydicom allocates.

    A file too large to read whole is checked first: every declared length must fit in
    the bytes left and the tags must ascend, so a corrupt length or a run of zero bytes
    fails at once instead of being parsed (or allocated) for minutes.

    Raises
    ------
    InputError
        ``truncated`` (a length beyond the end) or ``malformed`` (tags out of order).
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(65536)
        offset = dataset_offset(head)
        syntax = _meta_syntax(head)
        if syntax is None or syntax == DEFLATED:
            return
        implicit, little = syntax == "1.2.840.10008.1.2", syntax != "1.2.840.10008.1.2.2"
        order = "<" if little else ">"
        previous = -1
        while offset + 8 <= size:
            fh.seek(offset)
            header = fh.read(12)
            group, element = struct.unpack_from(f"{order}HH", header)
            tag = group << 16 | element
            if tag <= previous:
                raise InputError("malformed", "element tags out of order")
            previous = tag
            if implicit:
                length, start = struct.unpack_from(f"{order}L", header, 4)[0], offset + 8
            elif header[4:6] in LONG_HEADER_VRS:
                length, start = struct.unpack_from(f"{order}L", header, 8)[0], offset + 12
            else:
                length, start = struct.unpack_from(f"{order}H", header, 6)[0], offset + 8
            if length == vrs.UNDEFINED:
                return  # a sequence or encapsulated pixels: pydicom parses on (values are small then)
            if start + length > size:
                raise InputError("truncated", "a declared length exceeds the file")
            offset = start + length


def _meta_syntax(head: bytes) -> str | None:
    """The Transfer Syntax UID of the file meta, read from the raw bytes."""
    marker = head.find(b"\x02\x00\x10\x00UI")
    if marker < 0 or marker > dataset_offset(head):
        return None
    length = struct.unpack_from("<H", head, marker + 6)[0]
    return head[marker + 8 : marker + 8 + length].rstrip(b"\x00 ").decode("ascii", "replace")


def _part10_meta(ds: FileDataset) -> None:
    """Give a dataset read without preamble or file meta the meta its encoding needs (it is
    written as a proper Part 10 file); without SOP UIDs it is not an object we can write."""
    if not ds.get("SOPClassUID") or not ds.get("SOPInstanceUID"):
        raise InputError("not-dicom-dataset", "no preamble, and no SOP Class and Instance UID read")
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit, little = ds.original_encoding
        if implicit is None:
            raise InputError("not-dicom-dataset", "no preamble, and no encoding recognised")
        syntax = "1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2"
        ds.file_meta.TransferSyntaxUID = UID(syntax)


def read(path: Path, data: bytes | None = None) -> FileDataset:
    """Read a DICOM file, failing closed on truncation (pydicom accepts short reads).

    ``data``, the file's bytes from :func:`load`, saves reading it again.

    Raises
    ------
    InputError
        ``truncated`` when any top-level element holds fewer bytes than it declares,
        or pydicom hit the end of the file inside an element.
    """
    if data is None:
        precheck(path)
    raw = not is_part10(head_of(path, data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = pydicom.dcmread(path if data is None else io.BytesIO(data), force=raw)
    if raw:
        _part10_meta(ds)
    if any("end of file" in str(w.message).lower() or "EOF" in str(w.message) for w in caught):
        raise InputError("truncated")
    size = path.stat().st_size if data is None else len(data)
    if not _ends_at(ds, size):  # the common case in one step; else every element is looked at
        _check_lengths(ds, size)
    image = "Rows" in ds or "Image Storage" in getattr(ds.get("SOPClassUID"), "name", "")
    if image and not any(t in ds for t in PIXEL_TAGS):
        raise InputError("missing-pixel-data")  # most often a file cut before its pixels
    return ds


def _ends_at(ds: FileDataset, size: int) -> bool:
    """The last element read is raw, whole, and ends where the file does (so none is short)."""
    last = next(reversed(ds._dict.values()), None)  # type: ignore[call-overload]  # a dict
    if type(last) is not RawDataElement or last.value is None or last.length == vrs.UNDEFINED:
        return False
    return len(last.value) == last.length and last.value_tell + last.length == size


def _check_lengths(ds: FileDataset, size: int) -> None:
    """Fail closed on an element shorter than it declares, a raw element last in the file that
    does not end with it, or no element at all."""
    end, last_start, last_is_raw = 0, -1, False
    for elem in ds._dict.values():
        if not isinstance(elem, RawDataElement):  # a sequence pydicom parsed while reading
            start = elem.file_tell if elem.file_tell is not None else -1
            if start > last_start:
                last_start, last_is_raw = start, False
            continue
        if elem.value is None:  # zero length
            elem_end = elem.value_tell
        elif elem.length == vrs.UNDEFINED:
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
    deflated = ds.file_meta.get("TransferSyntaxUID") == DEFLATED  # offsets are in the inflated stream
    # A parsed sequence last in the file was read to its delimiters (pydicom raises there)
    if last_is_raw and not deflated and end != size:
        raise InputError("truncated")


def read_meta(path: Path) -> FileDataset:
    """The file meta group of a Part 10 file (pydicom's errors propagate)."""
    return read_file_meta_info(path)  # type: ignore[return-value]
