"""Apply a profile's pixel policy to one input object, before its header is de-identified.

Rules are evaluated on the input's own header (Modality, Manufacturer, ...). An object
no rule applies to and that is not flagged keeps its PixelData bytes and transfer syntax
unchanged, and nothing is decoded. A flagged object (BurnedInAnnotation YES, or a
capture modality without the attribute) that no rule covers goes by ``burned_in``:
``quarantine`` fails the file, ``ocr`` redacts the text lines OCR finds, ``keep`` ships
the pixels as they are (and leaves BurnedInAnnotation as it was).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset, FileDataset

from anonymizer import standard
from anonymizer.errors import InputError
from anonymizer.pixels import codec
from anonymizer.pixels.rules import Box, BoxSpec, PixelPolicy, RuleIndex, flagged, matching

if TYPE_CHECKING:
    import numpy as np

CLEAN_PIXEL_CODE = standard.CID_7050["clean-pixel-data"]
Locator = Callable[["np.ndarray", str, Iterable[str] | None], list[Box]]


@dataclass(frozen=True)
class PixelOutcome:
    """``status``: untouched, redacted (pixels were examined and cleaned) or kept (policy keep).

    ``boxes`` holds coordinates and rule names only: ``(source, name, redact, keep)``.
    """

    status: str = "untouched"
    boxes: tuple[dict[str, Any], ...] = ()


def apply(
    ds: FileDataset,
    policy: PixelPolicy,
    locator: Locator | None = None,
    index: RuleIndex | None = None,
    identifiers: Callable[[], list[str]] = list,
) -> PixelOutcome:
    """Redact ``ds``'s pixels in place as ``policy`` says (``index``: ``policy``'s, memoized).

    ``identifiers`` gives the object's own identifying strings, asked for only when OCR
    keeps just the lines that hold one (``ocr: identifiers``).

    Raises
    ------
    InputError
        ``burned-in`` (quarantine), ``pixel-decode`` / ``pixel-encode`` (codec problems).
    """
    if 0x7FE00010 not in ds:
        return PixelOutcome()
    rules = index.matching(ds) if index is not None else matching(ds, policy)
    if not rules:
        if not flagged(ds):
            return PixelOutcome()
        if policy.burned_in == "keep":
            return PixelOutcome("kept")
        if policy.burned_in == "quarantine":
            raise InputError("burned-in", "may hold burned-in text and no pixel rule covers it (policy quarantine)")
        if locator is None:
            raise InputError("ocr-unavailable", "policy ocr, but OCR cannot run here")
    import numpy as np

    arr = codec.frames(ds)
    _, rows, columns, _ = arr.shape
    records: list[dict[str, Any]] = []
    for rule in rules:
        redacted = [box for spec in rule.redact for box in resolve(spec, ds, rows, columns)]
        kept = [box for spec in rule.keep for box in resolve(spec, ds, rows, columns)]
        records.append({"source": "rule", "name": rule.name, "redact": redacted, "keep": kept})
    if not rules:
        assert locator is not None
        wanted = None if policy.ocr == "all" else identifiers()
        found = _locate_all_frames(arr, codec.photometric(ds), locator, wanted)
        records.append({"source": "ocr", "name": f"ocr:{policy.ocr}", "redact": found, "keep": []})
    keep = _mask([box for record in records for box in record["keep"]], rows, columns)
    fills = [rule.fill if rule.fill is not None else policy.fill for rule in rules] or [policy.fill]
    plans = [
        (_mask(record["redact"], rows, columns) & ~keep, fill) for record, fill in zip(records, fills, strict=True)
    ]
    touched = np.zeros((rows, columns), dtype=bool)
    for region, fill in plans:
        if region.any():
            arr[:, region, :] = fill_value(fill, ds)
            touched |= region
    if touched.any():
        _clear_overlays(ds, touched)
        codec.store(ds, arr)
    listed = ({**r, "redact": [list(b) for b in r["redact"]], "keep": [list(b) for b in r["keep"]]} for r in records)
    return PixelOutcome("redacted", tuple(listed))


def _mask(boxes: list[Box], rows: int, columns: int) -> np.ndarray:
    import numpy as np

    mask = np.zeros((rows, columns), dtype=bool)
    for x, y, w, h in boxes:
        mask[y : y + h, x : x + w] = True
    return mask


def _locate_all_frames(
    arr: np.ndarray, interpretation: str, locator: Locator, identifiers: Iterable[str] | None
) -> list[Box]:
    """Boxes over every distinct frame (identical frames are examined once)."""
    seen: set[bytes] = set()
    found: list[Box] = []
    for frame in arr:
        digest = hashlib.sha256(frame.tobytes()).digest()
        if digest in seen:
            continue
        seen.add(digest)
        found += [b for b in locator(frame, interpretation, identifiers) if b not in found]
    return found


def resolve(spec: BoxSpec, ds: Dataset, rows: int, columns: int) -> list[Box]:
    """A box spec -> concrete boxes clipped to the frame (empty ones dropped)."""
    if spec == "all":
        return [(0, 0, columns, rows)]
    if spec == "ultrasound-regions":
        boxes = []
        for region in ds.get("SequenceOfUltrasoundRegions", []):
            try:
                x0, y0 = int(region.RegionLocationMinX0), int(region.RegionLocationMinY0)
                x1, y1 = int(region.RegionLocationMaxX1), int(region.RegionLocationMaxY1)
            except (AttributeError, TypeError, ValueError):
                continue
            boxes.append((x0, y0, x1 - x0 + 1, y1 - y0 + 1))
        return [b for b in (_clip(b, rows, columns) for b in boxes) if b is not None]
    assert isinstance(spec, tuple)
    clipped = _clip(spec, rows, columns)
    return [clipped] if clipped is not None else []


def _clip(box: Box, rows: int, columns: int) -> Box | None:
    x, y, w, h = box
    x0, y0, x1, y1 = max(0, x), max(0, y), min(columns, x + w), min(rows, y + h)
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def fill_value(spec: str | int, ds: FileDataset) -> int:
    """The stored value that displays black (``min``) or white (``max``), or ``spec`` clipped to range."""
    bits = int(ds.get("BitsStored", 8) or 8)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if isinstance(spec, int):
        return min(max(spec, low), high)
    interpretation = codec.photometric(ds)
    if interpretation == "PALETTE COLOR":
        return _darkest_palette_index(ds, spec == "max")
    black, white = (high, low) if interpretation == "MONOCHROME1" else (low, high)
    return black if spec == "min" else white


def _darkest_palette_index(ds: Dataset, brightest: bool) -> int:
    import numpy as np
    from pydicom.pixels.processing import apply_color_lut

    try:
        entries, first, _ = (int(v) for v in ds.RedPaletteColorLookupTableDescriptor)
        indexes = np.arange(first, first + (entries or 65536), dtype=np.uint16)
        rgb = apply_color_lut(indexes, ds).astype(np.int64).sum(axis=-1)
    except Exception:
        return 0
    return int(indexes[int(rgb.argmax() if brightest else rgb.argmin())])


def _clear_overlays(ds: Dataset, region: np.ndarray) -> None:
    """Clear overlay bits (60xx,3000) that fall inside the redacted region."""
    import numpy as np
    from pydicom.pixels.utils import pack_bits, unpack_bits

    for group in range(0x6000, 0x6020, 2):
        tag = group << 16 | 0x3000
        if tag not in ds:
            continue
        try:
            o_rows, o_cols = int(ds[group << 16 | 0x0010].value), int(ds[group << 16 | 0x0011].value)
            origin = ds[group << 16 | 0x0050].value if group << 16 | 0x0050 in ds else [1, 1]
            count = int(ds[group << 16 | 0x0015].value) if group << 16 | 0x0015 in ds else 1
            bits = np.asarray(unpack_bits(ds[tag].value))[: count * o_rows * o_cols].reshape(count, o_rows, o_cols)
        except Exception:
            del ds[tag]  # an overlay we cannot read cannot be shown to be clean
            continue
        top, left = int(origin[0]) - 1, int(origin[1]) - 1
        ys, xs = np.nonzero(region)
        oy, ox = ys - top, xs - left
        inside = (oy >= 0) & (oy < o_rows) & (ox >= 0) & (ox < o_cols)
        bits[:, oy[inside], ox[inside]] = 0
        packed = pack_bits(bits.ravel())
        ds[tag].value = packed + b"\x00" * (len(packed) % 2)


def mark_clean(ds: Dataset) -> None:
    """After the header is de-identified: BurnedInAnnotation NO and the Clean Pixel Data code."""
    ds.BurnedInAnnotation = "NO"
    items = ds.get("DeidentificationMethodCodeSequence")
    if items is None:
        return
    if not any(str(item.get("CodeValue", "")) == CLEAN_PIXEL_CODE[0] for item in items):
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = CLEAN_PIXEL_CODE[0], "DCM", CLEAN_PIXEL_CODE[1]
        items.append(item)
