"""Images with text drawn into the pixels, in every codec the pixel tests cover.

Each factory returns the dataset, the box the drawn text occupies (x, y, width, height)
and the strings drawn. Text is drawn with Pillow's bundled fonts (FreeType "Aileron" at
a given size, or its classic 6x11 bitmap font), so CI and laptops draw the same pixels.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import compress
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    generate_uid,
)

Box = tuple[int, int, int, int]
NAME, DATE = "DOE^JANE SNTBURN", "1961-07-23"
US_CLASS = "1.2.840.10008.5.1.4.1.1.3.1"  # Ultrasound Multi-frame Image Storage
MR_CLASS = "1.2.840.10008.5.1.4.1.1.4"
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"


def font(size: int | None) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled fonts: None = the 6x11 bitmap font, else Aileron at ``size`` px."""
    return ImageFont.load_default_imagefont() if size is None else ImageFont.load_default(size=size)


def draw_text(
    shape: tuple[int, int], lines: list[str], at: tuple[int, int], size: int | None = 11
) -> tuple[np.ndarray, Box]:
    """A boolean ink mask of ``shape`` with ``lines`` drawn from ``at``, and the ink's box."""
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(canvas)
    x, y = at
    face = font(size)
    for line in lines:
        draw.text((x, y), line, fill=255, font=face)
        _, top, _, bottom = draw.textbbox((x, y), line, font=face)
        y = bottom + max(2, (bottom - top) // 3)
    ink = np.asarray(canvas) > 100
    ys, xs = np.nonzero(ink)
    return ink, (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))


def _base(sop_class: str, modality: str, syntax: str) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID = sop_class, syntax
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = FileDataset("", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = modality, NAME, "SNTBURNID1"
    ds.StudyDate, ds.PatientBirthDate = "20200301", "19610723"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.BurnedInAnnotation = "YES"
    return ds


def _image_attrs(ds: Dataset, rows: int, cols: int, samples: int, bits: int, signed: bool, photometric: str) -> None:
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, samples
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = int(signed)
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = 0


def background(rows: int, cols: int, high: int, seed: int) -> np.ndarray:
    """Image-like content in [0, high): a gradient, a few smooth blobs and mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    image = (yy + xx) / (rows + cols) * 0.3
    for _ in range(4):
        cy, cx = rng.uniform(0, rows), rng.uniform(0, cols)
        radius = rng.uniform(0.1, 0.35) * min(rows, cols)
        image += rng.uniform(0.2, 0.6) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
    image += rng.normal(0, 0.03, size=(rows, cols))
    return (np.clip(image / max(image.max(), 1e-9), 0, 0.999) * high).astype(np.int64)


def us_rgb_multiframe(
    frames: int = 3, size: tuple[int, int] = (120, 160), text_size: int | None = 11
) -> tuple[FileDataset, Box, list[str]]:
    """US, RGB, 8 bit, ``frames`` frames, native little endian, text in the top rows."""
    rows, cols = size
    ds = _base(US_CLASS, "US", ExplicitVRLittleEndian)
    _image_attrs(ds, rows, cols, 3, 8, False, "RGB")
    ds.NumberOfFrames = frames
    ink, box = draw_text((rows, cols), [NAME, DATE], (4, 3), text_size)
    stack = []
    for f in range(frames):
        grey = background(rows, cols, 180, f)
        rgb = np.stack([grey, grey // 2, grey], axis=-1)
        rgb[ink] = (255, 255, 0)
        stack.append(rgb)
    ds.PixelData = np.stack(stack).astype(np.uint8).tobytes()
    region = Dataset()
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, box[1] + box[3] + 2
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = cols - 1, rows - 1
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    return ds, box, [NAME, DATE]


def mr_16bit(size: int = 128, signed: bool = False, text_size: int | None = 11) -> tuple[FileDataset, Box, list[str]]:
    """MONOCHROME2, 16 bit, native little endian, bright text over image content."""
    ds = _base(MR_CLASS, "MR", ExplicitVRLittleEndian)
    _image_attrs(ds, size, size, 1, 16, signed, "MONOCHROME2")
    ink, box = draw_text((size, size), [NAME, DATE], (3, size - 30 if size < 200 else 10), text_size)
    pixels = background(size, size, 2000, 7) - (1000 if signed else 0)
    pixels[ink] = 4000
    ds.PixelData = pixels.astype(np.int16 if signed else np.uint16).tobytes()
    return ds, box, [NAME, DATE]


def big_endian(size: int = 96) -> tuple[FileDataset, Box, list[str]]:
    """MONOCHROME2, 16 bit, explicit VR big endian."""
    ds, box, texts = mr_16bit(size)
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    ds.PixelData = np.frombuffer(ds.PixelData, dtype="<u2").astype(">u2").tobytes()
    return ds, box, texts


def ybr_jpeg(size: tuple[int, int] = (128, 160)) -> tuple[FileDataset, Box, list[str]]:
    """Secondary capture, JPEG baseline, YBR_FULL_422 (Pillow's encoder, 4:2:2)."""
    rows, cols = size
    ds = _base(SC_CLASS, "OT", JPEGBaseline8Bit)
    _image_attrs(ds, rows, cols, 3, 8, False, "YBR_FULL_422")
    ink, box = draw_text((rows, cols), [NAME, DATE], (6, 6))
    grey = background(rows, cols, 200, 3)
    rgb = np.stack([grey, grey, grey // 3], axis=-1)
    rgb[ink] = (255, 255, 255)
    buffer = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8), "RGB").save(buffer, "JPEG", quality=95, subsampling=1)
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    return ds, box, [NAME, DATE]


def j2k(size: int = 128) -> tuple[FileDataset, Box, list[str]]:
    """MONOCHROME2, 16 bit, JPEG 2000 lossless (openjpeg)."""
    ds, box, texts = mr_16bit(size)
    compress(ds, JPEG2000Lossless, generate_instance_uid=False)
    return ds, box, texts


FACTORIES: dict[str, Callable[[], tuple[FileDataset, Box, list[str]]]] = {
    "us-rgb-multiframe": us_rgb_multiframe,
    "mr-16bit": mr_16bit,
    "big-endian": big_endian,
    "ybr-jpeg": ybr_jpeg,
    "j2k": j2k,
}


def save(ds: FileDataset, path: str) -> None:
    """Write ``ds`` (big endian datasets in big endian)."""
    if ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian:
        dcmwrite(path, ds, implicit_vr=False, little_endian=False, force_encoding=True)
    else:
        ds.save_as(path, enforce_file_format=True)
