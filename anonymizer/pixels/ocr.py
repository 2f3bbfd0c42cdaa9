"""Locate burned-in text lines with Tesseract (extra ``[ocr]`` + Debian's ``tesseract-ocr``).

OCR is used first as a *locator* (see the measurements in the README): recognising the
words of small burned-in text finds only about a third of them, but the boxes Tesseract
draws around text are far more reliable. Each frame is normalised to 8 bits, scaled up
(small images x4), read in both polarities, and every word box becomes part of a text
line; lines are padded and merged. In ``all`` mode every line is redacted; with
identifiers, only lines whose recognised text holds one of the object's identifiers
(names, IDs, dates in common renderings) or an identifying-looking pattern.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from anonymizer.pixels.rules import Box
from anonymizer.text.cleaner import TextCleaner

if TYPE_CHECKING:
    import numpy as np

MIN_CONFIDENCE = 10.0  # Tesseract's word confidence (0-100); below it, boxes on image noise dominate
CONFIG = "--psm 11 --oem 1"  # sparse text: annotations are scattered, not paragraphs


def unavailable() -> str | None:
    """Why OCR cannot run here (None when it can)."""
    try:
        import pytesseract  # noqa: F401
        from PIL import Image  # noqa: F401
    except ImportError:
        return "OCR needs the [ocr] extra: pip install 'anonymizer-dicom[ocr]'"
    if shutil.which("tesseract") is None:
        return "OCR needs the tesseract program (Debian: apt-get install tesseract-ocr)"
    return None


def to_gray8(frame: np.ndarray, interpretation: str) -> np.ndarray:
    """One frame (rows, columns, samples) -> 8-bit grey, dark background, min-max scaled."""
    import numpy as np

    data = frame.astype(np.float64)
    data = data.mean(axis=2) if data.shape[2] > 1 else data[:, :, 0]
    low, high = float(data.min()), float(data.max())
    scaled = (data - low) * (255.0 / (high - low)) if high > low else np.zeros_like(data)
    if interpretation == "MONOCHROME1":
        scaled = 255.0 - scaled
    return scaled.astype(np.uint8)


def locate(frame: np.ndarray, interpretation: str, identifiers: Iterable[str] | None) -> list[Box]:
    """Boxes (x, y, width, height) of the text lines to redact in one frame."""
    import numpy as np

    gray = to_gray8(frame, interpretation)
    rows, columns = gray.shape
    scale = 4 if max(rows, columns) < 400 else 2 if max(rows, columns) < 1200 else 1
    big = np.kron(gray, np.ones((scale, scale), dtype=np.uint8)) if scale > 1 else gray
    cleaner = None
    if identifiers is not None:
        cleaner = TextCleaner(identifiers)
    boxes: list[Box] = []
    for image in (big, 255 - big):
        for (x, y, w, h), text in _lines(image):
            if cleaner is not None and cleaner.clean(text) == text:
                continue
            line = (x // scale, y // scale, -(-w // scale), -(-h // scale))
            if line[3] > rows // 4:
                continue  # taller than any annotation line: image structure read as text
            boxes.append(_pad(extend(gray, line), rows, columns))
    return merge(boxes)


def extend(gray: np.ndarray, box: Box) -> Box:
    """Grow a line box sideways while the row band holds glyph-bright pixels.

    Tesseract often returns a box for part of a line (one word of three). The glyphs are
    the minority pixels inside the box (bright on dark, or dark on bright); glyph pixels
    are those within 20% of the glyphs' extreme; the box grows until a gap of one line
    height holds none, or 40 line heights.
    """
    x, y, w, h = box
    band = gray[y : y + h, :]
    if band.size == 0 or w == 0:
        return box
    inside = band[:, x : x + w]
    if float(inside.mean()) > (float(inside.min()) + float(inside.max())) / 2:  # dark glyphs on a bright ground
        band, inside = 255 - band, 255 - inside
    threshold = max(float(inside.max()) * 0.8, float(inside.mean()) + 0.5 * float(inside.std()) + 1.0)
    columns = cast("list[bool]", (band >= threshold).any(axis=0).tolist())
    gap, limit = max(h, 3), 40 * max(h, 1)
    x0, x1 = x, x + w
    for step in (-1, 1):
        edge, empty = (x0 if step < 0 else x1 - 1), 0
        position = edge
        while empty < gap and abs(position - edge) < limit and 0 <= position + step < len(columns):
            position += step
            if columns[position]:
                edge, empty = position, 0
            else:
                empty += 1
        if step < 0:
            x0 = min(x0, edge)
        else:
            x1 = max(x1, edge + 1)
    return (x0, y, x1 - x0, h)


def _lines(image: np.ndarray) -> list[tuple[Box, str]]:
    import pytesseract
    from PIL import Image

    data: dict[str, list[Any]] = pytesseract.image_to_data(
        Image.fromarray(image), config=CONFIG, output_type=pytesseract.Output.DICT
    )
    lines: dict[tuple[int, int, int], list[tuple[Box, str]]] = {}
    for i, word in enumerate(data["text"]):
        if not str(word).strip() or float(data["conf"][i]) < MIN_CONFIDENCE:
            continue
        if not any(c.isalnum() for c in str(word)):
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        box = (int(data["left"][i]), int(data["top"][i]), int(data["width"][i]), int(data["height"][i]))
        lines.setdefault(key, []).append((box, str(word)))
    out = []
    for words in lines.values():
        x0 = min(b[0] for b, _ in words)
        y0 = min(b[1] for b, _ in words)
        x1 = max(b[0] + b[2] for b, _ in words)
        y1 = max(b[1] + b[3] for b, _ in words)
        out.append(((x0, y0, x1 - x0, y1 - y0), " ".join(w for _, w in words)))
    return out


def _pad(box: Box, rows: int, columns: int) -> Box:
    """Grow a line box: glyph edges and the characters Tesseract leaves out at line ends."""
    x, y, w, h = box
    vertical = max(2, h // 3)
    horizontal = max(3, h)
    x0, y0 = max(0, x - horizontal), max(0, y - vertical)
    x1, y1 = min(columns, x + w + horizontal), min(rows, y + h + vertical)
    return (x0, y0, x1 - x0, y1 - y0)


def merge(boxes: list[Box]) -> list[Box]:
    """Merge overlapping or touching boxes until none overlap (order-independent result)."""
    merged = sorted(set(boxes))
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for box in merged:
            for i, other in enumerate(out):
                if _touch(box, other):
                    out[i] = _union(box, other)
                    changed = True
                    break
            else:
                out.append(box)
        merged = sorted(set(out))
    return merged


def _touch(a: Box, b: Box) -> bool:
    return a[0] <= b[0] + b[2] and b[0] <= a[0] + a[2] and a[1] <= b[1] + b[3] and b[1] <= a[1] + a[3]


def _union(a: Box, b: Box) -> Box:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)
