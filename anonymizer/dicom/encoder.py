"""A dataset's Part 10 bytes, copying elements that were never decoded.

pydicom's writer spends most of a plain read+write in per-element overhead, although
an element still held raw (never accessed since reading) is written as its original
value bytes. :func:`encode` writes such elements itself (tag, VR, length and the raw
value, one ``struct.pack`` each) and hands every other element to pydicom's
``write_data_element``. The output is byte for byte what ``dcmwrite(...,
enforce_file_format=True)`` writes (a test checks it across pydicom's test files);
whenever a dataset needs re-encoding (transfer syntax or character set changed since
reading, deflate), the whole dataset goes through pydicom instead.
"""

from __future__ import annotations

import io
import struct

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset, validate_file_meta
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_data_element, write_dataset
from pydicom.tag import BaseTag
from pydicom.uid import DeflatedExplicitVRLittleEndian

from anonymizer.dicom import vr as vrs

GROUP_LENGTH = 0x00020000
DEFAULT_CHARSET = "iso8859"  # pydicom's default_encoding
PIXEL_DATA = 0x7FE00010
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD


def encode(ds: FileDataset) -> bytes:
    """The file's bytes: preamble, file meta, dataset in its own transfer syntax."""
    _match_encoding(ds)
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None or syntax.is_private or not syntax.is_transfer_syntax or syntax == DeflatedExplicitVRLittleEndian:
        return _pydicom_encode(ds)
    _mark_pixel_length(ds, syntax.is_compressed)
    fp = DicomBytesIO()
    fp.write(ds.preamble or b"\x00" * 128)
    fp.write(b"DICM")
    fp.write(_file_meta(ds))
    fp.is_implicit_VR, fp.is_little_endian = syntax.is_implicit_VR, syntax.is_little_endian
    _Writer(syntax.is_implicit_VR, syntax.is_little_endian).dataset(fp, ds, DEFAULT_CHARSET)
    return fp.getvalue()


def _file_meta(ds: FileDataset) -> bytes:
    """The File Meta Information group as ``write_file_meta_info(enforce_standard=True)`` writes it."""
    meta = FileMetaDataset()
    meta._dict.update(ds.file_meta._dict)  # a copy: as dcmwrite, the dataset's own meta is left alone
    for key, source in (("MediaStorageSOPClassUID", "SOPClassUID"), ("MediaStorageSOPInstanceUID", "SOPInstanceUID")):
        value = ds.get(source)
        if key not in meta or (value and value != meta[key].value):
            setattr(meta, key, value)
    validate_file_meta(meta, enforce_standard=True)  # adds the defaults pydicom adds, or raises
    body = DicomBytesIO()
    body.is_implicit_VR, body.is_little_endian = False, True
    _EXPLICIT_LE.elements(body, meta, [DEFAULT_CHARSET], skip=GROUP_LENGTH)
    value = body.getvalue()
    return _EXPLICIT_LE.header(GROUP_LENGTH, "UL", 4) + struct.pack("<L", len(value)) + value


def _pydicom_encode(ds: FileDataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _mark_pixel_length(ds: Dataset, compressed: bool) -> None:
    """As ``dcmwrite``: encapsulated pixel data has undefined length, native does not."""
    elem = ds._dict.get(PIXEL_DATA)  # type: ignore[call-overload]
    if elem is None or (isinstance(elem, RawDataElement) and (elem.length == vrs.UNDEFINED) == compressed):
        return  # a raw value already has the right form (no decoding needed)
    ds[PIXEL_DATA].is_undefined_length = compressed


class _Writer:
    """Writes datasets in one encoding, copying raw elements."""

    def __init__(self, implicit: bool, little: bool):
        order = "<" if little else ">"
        self.implicit = implicit
        self.encoding = (implicit, little)
        self._marker = struct.Struct(f"{order}HHL").pack  # also the implicit VR header
        self._short = struct.Struct(f"{order}HH2sH").pack
        self._long = struct.Struct(f"{order}HH2s2xL").pack
        self.item_tag = self.marker(ITEM, 0)[:4]

    def marker(self, tag: int, length: int) -> bytes:
        """Tag and 4-byte length: items, delimiters, implicit VR element headers."""
        return self._marker(tag >> 16, tag & 0xFFFF, length)

    def header(self, tag: int, vr: str, length: int) -> bytes:
        if self.implicit:
            return self.marker(tag, length)
        pack = self._long if vr in vrs.LONG_LENGTH else self._short
        return pack(tag >> 16, tag & 0xFFFF, vr.encode(), length)

    def dataset(self, fp: DicomBytesIO, ds: Dataset, parent_encoding: str | list[str]) -> None:
        if ds.original_encoding != self.encoding or ds.original_character_set != ds._character_set:
            write_dataset(fp, ds, parent_encoding)  # pydicom re-encodes every element
            return
        self.elements(fp, ds, ds.get("SpecificCharacterSet", parent_encoding))

    def elements(self, fp: DicomBytesIO, ds: Dataset, encodings: str | list[str], skip: int = -1) -> None:
        """Every element of ``ds`` in tag order (raw ones copied), ``skip`` left out."""
        elements = ds._dict
        for key in sorted(elements, key=int):  # int keys: BaseTag's own comparison is Python code
            tag = int(key)
            if (tag & 0xFFFF == 0 and tag >> 16 > 6) or tag == skip:
                continue  # retired group lengths are not written (PS3.5 7.2)
            elem = elements[key]
            if isinstance(elem, RawDataElement):
                if elem.value is not None and (elem.VR is not None or self.implicit):
                    self.raw(fp, elem)
                    continue
                elem = ds[key]  # pydicom's writer converts empty raw values too (UN -> known VR)
            if elem.VR == "SQ":
                self.sequence(fp, elem.tag, elem.value, elem.is_undefined_length, encodings)
                continue
            value = _plain_value(elem)
            if value is None:
                write_data_element(fp, elem, encodings)
            else:
                fp.write(self.header(tag, elem.VR, len(value)))
                fp.write(value)

    def raw(self, fp: DicomBytesIO, elem: RawDataElement) -> None:
        value = elem.value or b""
        undefined = elem.length == vrs.UNDEFINED
        if undefined and elem.tag == PIXEL_DATA and not value.startswith(self.item_tag):
            raise ValueError("encapsulated pixel data without items")  # pydicom refuses it too
        fp.write(self.header(elem.tag, elem.VR or "", vrs.UNDEFINED if undefined else len(value)))
        fp.write(value)
        if undefined:
            fp.write(self.marker(SEQUENCE_END, 0))

    def sequence(
        self, fp: DicomBytesIO, tag: int, items: list[Dataset], undefined: bool, encodings: str | list[str]
    ) -> None:
        body = DicomBytesIO()
        body.is_implicit_VR, body.is_little_endian = fp.is_implicit_VR, fp.is_little_endian
        for item in items:
            start = body.tell()
            body.write(self.marker(ITEM, vrs.UNDEFINED))
            self.dataset(body, item, encodings)
            if getattr(item, "is_undefined_length_sequence_item", False):
                body.write(self.marker(ITEM_END, 0))
            else:
                end = body.tell()
                body.seek(start)
                body.write(self.marker(ITEM, end - start - 8))
                body.seek(end)
        value = body.getvalue()
        fp.write(self.header(tag, "SQ", vrs.UNDEFINED if undefined else len(value)))
        fp.write(value)
        if undefined:
            fp.write(self.marker(SEQUENCE_END, 0))


_EXPLICIT_LE = _Writer(False, True)  # the File Meta Information's encoding
PLAIN_PADDING = {"UI": b"\x00", "AE": b" ", "CS": b" ", "SH": b" ", "LO": b" "}


def _plain_value(elem: DataElement) -> bytes | None:
    """A decoded element's value bytes when it is one ASCII string of a VR in
    :data:`PLAIN_PADDING` or defined-length OB bytes, as pydicom's writers encode them
    (ASCII is itself in every DICOM character set); None for anything else."""
    value, vr = elem.value, elem.VR
    if vr == "OB":
        if type(value) is not bytes or elem.is_undefined_length:
            return None
        return value + b"\x00" if len(value) % 2 else value
    padding = PLAIN_PADDING.get(vr)
    if padding is None or not isinstance(value, str) or not value.isascii():
        return None
    data = value.encode("ascii")
    return data + padding if len(data) % 2 else data


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


def raw_elements(ds: Dataset, implicit: bool, little: bool) -> dict[BaseTag, RawDataElement]:
    """``ds``'s elements encoded once as raw elements in one encoding (safe to share).

    Raises
    ------
    RuntimeError
        When an element does not read back raw (an undefined length).
    """
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    write_dataset(fp, ds)
    parsed = read_dataset(io.BytesIO(fp.getvalue()), implicit, little)._dict
    if not all(isinstance(e, RawDataElement) for e in parsed.values()):
        raise RuntimeError("elements did not read back raw")
    return parsed  # type: ignore[return-value]
