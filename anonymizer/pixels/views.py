"""The 8-bit images the text detector sees of one object's frames (numpy, OpenCV).

*Planes* are float32 images where bright means displayed bright: luminance (MONOCHROME1
negated) and, for colour, chroma (max - min of the samples; coloured text on grey). A
multi-frame object (identical frames examined once) gives per-pixel max and min
projections of luminance, the max projection of chroma and one sampled frame: text drawn
on some frames only survives in a projection.

*Views* map a plane to 8 bits. Chosen by measurement (see the README's "Burned-in text"):

- ``local2``: local contrast around the 9x9 mean, grey-centred (a flat ground -> 128).
  Finds text one to three grey levels off a saturated ground, where no window does.
- ``inv``: the inverted min/max window (dark text on bright annotation bars).
- ``blackhat``: a 9x9 black-hat (dark-on-dark text over structure).
- ``minmax``: the min/max window (used for chroma).

:func:`mask_to_surroundings` fills redacted areas from their surroundings (inpainting
plus noise as strong as the ring around them) so that the next detection pass meets
no black edges to answer to.
"""

from __future__ import annotations

import hashlib
from typing import Any

import cv2
import numpy as np

Plane = np.ndarray[Any, np.dtype[np.float32]]
Image8 = np.ndarray[Any, np.dtype[np.uint8]]
KERNEL = 9  # px: the morphology and local-contrast neighbourhood (annotation strokes are thinner)


def stretch(plane: np.ndarray, low: float, high: float) -> Image8:
    """``plane`` mapped from [low, high] to [0, 255] (clipped)."""
    if high <= low:
        return np.zeros(plane.shape, np.uint8)
    return np.clip((plane - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)


def kernel(size: int) -> np.ndarray:
    """A square structuring element."""
    return np.asarray(cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))


def view(plane: Plane, name: str) -> Image8:
    """One 8-bit view of a float32 plane (see the module docstring)."""
    low, high = float(plane.min()), float(plane.max())
    if name == "minmax":
        return stretch(plane, low, high)
    if name == "inv":
        return 255 - stretch(plane, low, high)
    if name == "blackhat":
        hat = np.asarray(cv2.morphologyEx(plane, cv2.MORPH_BLACKHAT, kernel(KERNEL)))
        top = float(np.percentile(hat, 99.9))
        return stretch(hat, 0.0, top if top > 0 else float(hat.max()))
    if name == "local2":
        mean = np.asarray(cv2.blur(plane, (KERNEL, KERNEL)))
        spread = np.asarray(
            cv2.blur(
                np.asarray(cv2.dilate(plane, kernel(KERNEL))) - np.asarray(cv2.erode(plane, kernel(KERNEL))),
                (KERNEL, KERNEL),
            )
        )
        eps = max(1e-6, (high - low) / 4096)
        return np.clip(128.0 + 255.0 * (plane - mean) / np.maximum(spread, eps), 0, 255).astype(np.uint8)
    raise ValueError(f"unknown view {name!r}")


def distinct_frames(data: np.ndarray) -> list[np.ndarray]:
    """The frames of ``data`` (frames, rows, columns, samples), identical ones once."""
    seen: set[bytes] = set()
    out: list[np.ndarray] = []
    for frame in data:
        digest = hashlib.sha256(np.ascontiguousarray(frame).tobytes()).digest()
        if digest not in seen:
            seen.add(digest)
            out.append(frame)
    return out


def planes(data: np.ndarray, photometric: str) -> dict[str, Plane]:
    """Float32 planes (bright = displayed bright) of frames shaped (frames, rows, columns, samples).

    One distinct frame: ``lum`` (+ ``chroma``). Several: ``lum_max``, ``lum_min``
    (+ ``chroma_max``) and ``lum_f`` (the middle distinct frame).
    """
    colour = data.shape[3] > 1
    negate = photometric.strip() == "MONOCHROME1"

    def lum(frame: np.ndarray) -> Plane:
        f = frame.astype(np.float32)
        if colour:
            return np.asarray(f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114, dtype=np.float32)
        return np.asarray(-f[..., 0] if negate else f[..., 0], dtype=np.float32)

    def chroma(frame: np.ndarray) -> Plane:
        f = frame.astype(np.float32)
        return np.asarray(f.max(axis=2) - f.min(axis=2), dtype=np.float32)

    frames = distinct_frames(data)
    if len(frames) == 1:
        out = {"lum": lum(frames[0])}
        if colour:
            out["chroma"] = chroma(frames[0])
        return out
    first = lum(frames[0])
    high, low = first.copy(), first.copy()
    colour_high = chroma(frames[0]) if colour else None
    for frame in frames[1:]:
        grey = lum(frame)
        np.maximum(high, grey, out=high)
        np.minimum(low, grey, out=low)
        if colour_high is not None:
            np.maximum(colour_high, chroma(frame), out=colour_high)
    out = {"lum_max": high, "lum_min": low}
    if colour_high is not None:
        out["chroma_max"] = colour_high
    out["lum_f"] = lum(frames[int(np.linspace(0, len(frames) - 1, 3).round()[1])])
    return out


def mask_to_surroundings(plane: Plane, mask: np.ndarray, seed: int = 0) -> Plane:
    """``plane`` with ``mask`` inpainted from its surroundings, plus noise as strong as the surroundings'."""
    if not mask.any():
        return plane
    marks = mask.astype(np.uint8)
    filled: Plane = np.asarray(cv2.inpaint(plane.astype(np.float32), marks, 3, cv2.INPAINT_TELEA), dtype=np.float32)
    ring = np.asarray(cv2.dilate(marks, kernel(9))).astype(bool) & ~mask
    if ring.any():
        high = plane - np.asarray(cv2.blur(plane, (3, 3)))
        sigma = 1.4826 * float(np.median(np.abs(high[ring] - np.median(high[ring])))) * 1.5
        if sigma > 0:
            rng = np.random.default_rng(seed)
            filled[mask] += rng.normal(0.0, sigma, int(mask.sum())).astype(np.float32)
    return filled


def speckle(plane: Plane, box: tuple[int, int, int, int], span: float) -> float:
    """How rough the ground around ``box`` is: the robust spread of its fine structure over ``span``.

    Fine structure is each pixel minus its 3x3 mean, in a ring as wide as the box's short
    side (at least 4 px) around it; ``span`` is the image's own range (1st to 99th
    percentile). Ultrasound speckle scores high, a flat or smooth ground near 0: small
    text over speckle is where the detector finds lines only in part.
    """
    x, y, w, h = box
    rows, columns = plane.shape
    reach = max(4, min(w, h))
    x0, y0, x1, y1 = max(0, x - reach), max(0, y - reach), min(columns, x + w + reach), min(rows, y + h + reach)
    around = plane[y0:y1, x0:x1]
    ring = np.ones(around.shape, dtype=bool)
    ring[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = False
    if not ring.any():
        return 0.0
    fine = (around - np.asarray(cv2.blur(around, (3, 3))))[ring]
    return 1.4826 * float(np.median(np.abs(fine - np.median(fine)))) / max(span, 1e-6)


def roughness(plane: Plane, box: tuple[int, int, int, int], span: float) -> float:
    """How rough the ground inside ``box`` is: the robust spread of its fine structure over ``span``.

    Fine structure is each pixel minus its 3x3 mean; ``span`` is the image's own range
    (1st to 99th percentile). Speckle scores high, a flat or smooth ground (or thin text
    on it) low: where the recogniser cannot tell text from the ground.

    Parameters
    ----------
    plane : numpy.ndarray
        A float32 plane.
    box : tuple of int
        x, y, width, height.
    span : float
        The plane's display range.

    Returns
    -------
    float
        The spread (0: flat).
    """
    x, y, w, h = box
    inside = plane[y : y + h, x : x + w]
    if inside.size == 0:
        return 0.0
    fine = inside - np.asarray(cv2.blur(inside, (3, 3)))
    return 1.4826 * float(np.median(np.abs(fine - np.median(fine)))) / max(span, 1e-6)
