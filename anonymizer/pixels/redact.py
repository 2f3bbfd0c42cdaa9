"""Apply a profile's pixel policy to one input object, before its header is de-identified.

Rules are evaluated on the input's own header (Modality, Manufacturer, ...). An object
no rule applies to and that is not flagged keeps its PixelData bytes and transfer syntax
unchanged, and nothing is decoded. A flagged object (BurnedInAnnotation YES, or a
capture modality without the attribute) goes by ``burned_in`` when no rule covers it:
``quarantine`` fails the file, ``keep`` ships the pixels as they are (BurnedInAnnotation
as it was). ``ocr`` runs the closed redaction loop (:mod:`anonymizer.pixels.loop`) on
every flagged object, after its rules (text inside an ultrasound region is found too):
the object is redacted and certified clean, or fails with ``burned-in-residual``
(:func:`verdict`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset, FileDataset

from anonymizer import standard
from anonymizer.errors import InputError
from anonymizer.pixels import codec
from anonymizer.pixels.rules import Box, BoxSpec, PixelPolicy, RuleIndex, flagged, matching

if TYPE_CHECKING:
    import numpy as np

    from anonymizer.pixels.loop import LoopResult, TextDetector

CLEAN_PIXEL_CODE = standard.CID_7050["clean-pixel-data"]
Detectors = Callable[[str], "TextDetector"]  # redact mode (boxes | band) -> the detector


@dataclass(frozen=True)
class PixelOutcome:
    """``status``: untouched, redacted (pixels were examined and cleaned) or kept (policy keep).

    ``boxes`` holds coordinates and rule names only: ``(source, name, redact, keep)``.
    """

    status: str = "untouched"
    boxes: tuple[dict[str, Any], ...] = ()


def verdict(result: LoopResult, says_yes: bool, covered: bool) -> str | None:
    """Why the loop's redaction cannot be certified clean (None: it can).

    Text left after the last pass or a doubt of the certification pass; and an object
    that says BurnedInAnnotation YES where nothing was found and no rule covers it
    (text the owner knows is there but the detector cannot see is not clean).
    """
    if result.residual:
        return f"text left after {result.passes} passes"
    if result.doubts:
        return "certification doubt: " + ", ".join(result.doubts)
    if result.found_nothing and says_yes and not covered:
        return "BurnedInAnnotation YES and no text found"
    return None


def says_yes(ds: Dataset) -> bool:
    """The object's BurnedInAnnotation is YES."""
    return str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"


def apply(
    ds: FileDataset,
    policy: PixelPolicy,
    detectors: Detectors | None = None,
    index: RuleIndex | None = None,
) -> PixelOutcome:
    """Redact ``ds``'s pixels in place as ``policy`` says (``index``: ``policy``'s, memoized).

    ``detectors`` gives the text detector (None: none can run here).

    Raises
    ------
    InputError
        ``burned-in`` (quarantine), ``burned-in-residual`` (the loop cannot certify),
        ``ocr-unavailable``, ``pixel-decode`` / ``pixel-encode`` (codec problems).
    """
    if 0x7FE00010 not in ds:
        return PixelOutcome()
    rules = index.matching(ds) if index is not None else matching(ds, policy)
    examine = policy.burned_in == "ocr" and flagged(ds)
    if not rules:
        if not flagged(ds):
            return PixelOutcome()
        if policy.burned_in == "keep":
            return PixelOutcome("kept")
        if policy.burned_in == "quarantine":
            raise InputError("burned-in", "may hold burned-in text and no pixel rule covers it (policy quarantine)")
    if examine and detectors is None:
        raise InputError("ocr-unavailable", "policy ocr, but text detection cannot run here")
    import numpy as np

    arr = codec.frames(ds)
    _, rows, columns, _ = arr.shape
    records: list[dict[str, Any]] = []
    for rule in rules:
        redacted = [box for spec in rule.redact for box in resolve(spec, ds, rows, columns)]
        kept = [box for spec in rule.keep for box in resolve(spec, ds, rows, columns)]
        records.append({"source": "rule", "name": rule.name, "redact": redacted, "keep": kept})
    keep = _mask([box for record in records for box in record["keep"]], rows, columns)
    plans = [
        (_mask(record["redact"], rows, columns) & ~keep, rule.fill if rule.fill is not None else policy.fill)
        for record, rule in zip(records, rules, strict=True)
    ]
    if examine:
        assert detectors is not None
        by_rules = np.zeros((rows, columns), dtype=bool)
        for region, _ in plans:
            by_rules |= region
        mode = policy.redact_mode(str(ds.get("Modality", "") or ""))
        result = detectors(mode).run(arr, codec.photometric(ds), by_rules if rules else None)
        why = verdict(result, says_yes(ds), bool(rules))
        if why is not None:
            raise InputError("burned-in-residual", why)
        records.append({"source": "ocr", "name": f"detector:{mode}", "redact": result.boxes, "keep": []})
        plans.append((_mask(result.boxes, rows, columns), policy.fill))  # a rule's keep boxes do not keep text
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
