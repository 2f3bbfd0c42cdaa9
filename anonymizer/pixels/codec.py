"""Decode an object's pixel data to an array and store an edited array back, losslessly.

Decoding goes through pydicom's pixel backends (pylibjpeg with libjpeg, openjpeg and
rle for JPEG, JPEG-LS, JPEG 2000 and RLE). Colour data in a YBR space is converted to
RGB, as pydicom does when it displays it, and stored as RGB: every pixel outside the
edited boxes decodes to what the input decoded to.

Storing never re-encodes lossily: native (uncompressed) inputs keep their transfer
syntax, big endian becomes explicit VR little endian, compressed inputs become RLE
Lossless. An input that was lossy-compressed keeps (or gains) LossyImageCompression
``01``: its pixels went through a lossy codec once, and that stays true.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pydicom.dataset import FileDataset
from pydicom.pixels.utils import compress, pixel_array, set_pixel_data
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, RLELossless

from anonymizer.errors import InputError

if TYPE_CHECKING:
    import numpy as np

LOSSY_METHODS = {
    "1.2.840.10008.1.2.4.50": "ISO_10918_1",  # JPEG baseline
    "1.2.840.10008.1.2.4.51": "ISO_10918_1",  # JPEG extended
    "1.2.840.10008.1.2.4.81": "ISO_14495_1",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91": "ISO_15444_1",  # JPEG 2000
    "1.2.840.10008.1.2.4.93": "ISO_15444_1",  # JPEG 2000 Part 2
}
_SWAP = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null while a native codec runs: a Rust decoder's panic message
    (no values, but not a log line) must not break a JSON log; the failure is reported as a reason."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def frames(ds: FileDataset) -> np.ndarray:
    """Every frame as an array shaped (frames, rows, columns, samples)."""
    import numpy as np

    try:
        with quiet_stderr():
            arr = pixel_array(ds)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise InputError("pixel-decode", type(exc).__name__) from None
    count = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    native = arr.astype(arr.dtype.newbyteorder("="), copy=False)  # big endian input decodes as '>u2'
    return np.ascontiguousarray(native.reshape(count, int(ds.Rows), int(ds.Columns), samples))


def photometric(ds: FileDataset) -> str:
    """The photometric interpretation of the decoded array (YBR spaces decode to RGB)."""
    value = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    return "RGB" if value.startswith("YBR") else value


def store(ds: FileDataset, arr: np.ndarray) -> None:
    """Put ``arr`` (shaped as :func:`frames` returns) back, in a lossless transfer syntax."""
    syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    if syntax in LOSSY_METHODS:
        ds.LossyImageCompression = "01"
        if "LossyImageCompressionMethod" not in ds:
            ds.LossyImageCompressionMethod = LOSSY_METHODS[syntax]
    if syntax == ExplicitVRBigEndian:
        to_little_endian(ds)
    shaped = arr[..., 0] if arr.shape[3] == 1 else arr  # pydicom's shapes: (frames,) rows, columns (, samples)
    if arr.shape[0] == 1:
        shaped = shaped[0]
    try:
        if int(ds.BitsAllocated) > 16:  # pydicom's setter and RLE encoder stop at 16 bits
            _store_native(ds, arr)
            return
        set_pixel_data(ds, shaped, photometric(ds), int(ds.BitsStored), generate_instance_uid=False)
        if syntax.is_compressed:
            with quiet_stderr():
                compress(ds, RLELossless, generate_instance_uid=False)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise InputError("pixel-encode", type(exc).__name__) from None


def _store_native(ds: FileDataset, arr: np.ndarray) -> None:
    """Uncompressed little endian pixel data, written directly (32- and 64-bit samples)."""
    if UID(str(ds.file_meta.TransferSyntaxUID)).is_compressed:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    ds.PixelData = data + b"\x00" * (len(data) % 2)
    ds["PixelData"].VR = "OW"
    ds["PixelData"].is_undefined_length = False
    ds.PhotometricInterpretation = photometric(ds)
    if arr.shape[3] > 1:
        ds.PlanarConfiguration = 0


def to_little_endian(ds: FileDataset) -> None:
    """Re-declare a big endian object as explicit VR little endian (values decoded first).

    Decoded numbers are written in the new byte order by pydicom; binary ``O*`` values
    are kept as bytes by pydicom, so their words are swapped here.
    """
    import numpy as np

    for elem in ds.iterall():  # converts every raw element, reading it big endian
        width = _SWAP.get(elem.VR)
        if width and isinstance(elem.value, bytes) and elem.tag != 0x7FE00010 and len(elem.value) % width == 0:
            elem.value = np.frombuffer(elem.value, dtype=f">u{width}").astype(f"<u{width}").tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_original_encoding(False, True, ds.original_character_set)
