"""``verify --pixels``: the text detector run on the outputs (imported only with --pixels).

Every output with pixel data is decoded and examined by the detector and recogniser
(:meth:`anonymizer.pixels.loop.TextDetector.inspect`). The areas OUT's manifest says
were redacted are masked to their surroundings first (a filled box's edges are not
text). A finding names the output, ``pixels [x, y, width, height]`` and the kind
``burned-in text``; the recognised text only when the caller asks for values.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom

from anonymizer.evidence import manifest
from anonymizer.pixels import codec, detect

KIND = "burned-in text"
Finding = tuple[str, str, str, str]  # file, path, kind, value


def redacted_boxes(out: Path) -> dict[str, list[dict[str, Any]]]:
    """Each output's pixel records (rule names, boxes) from OUT's manifest ({} without one)."""
    if not (out / manifest.MANIFEST).is_file():
        return {}
    files = manifest.load(out).get("files", [])
    return {str(f["path"]): list(f.get("pixels", [])) for f in files if isinstance(f, dict) and "path" in f}


def check_pixels(
    out: Path,
    show_values: bool = False,
    examined_only: bool = False,
    is_output: Callable[[Path], bool] = lambda p: True,
) -> tuple[list[Finding], int]:
    """Findings of the detector in OUT's images and the number of images examined.

    ``examined_only``: only outputs the pixel step examined (listed with pixel records in
    the manifest), as ``run --verify`` does after a run with ``--burned-in ocr``.

    Raises
    ------
    RuntimeError
        When text detection cannot run here (the message says what to install).
    """
    why = detect.unavailable()
    if why is not None:
        raise RuntimeError(why)
    import numpy as np

    from anonymizer.pixels.loop import TextDetector

    records = redacted_boxes(out)
    detector = TextDetector("boxes")
    findings: list[Finding] = []
    images = 0
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != manifest.MANIFEST):
        rel = str(path.relative_to(out))
        if (examined_only and not records.get(rel)) or not is_output(path):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
            if "PixelData" not in ds:
                continue
            frames = codec.frames(ds)
        except Exception:
            continue  # not an image we can decode: the rule checks report unreadable files
        images += 1
        rows, columns = frames.shape[1:3]
        mask = np.zeros((rows, columns), dtype=bool)
        for record in records.get(rel, []):
            keep = np.zeros_like(mask)
            for x, y, w, h in record.get("keep", []):
                keep[y : y + h, x : x + w] = True
            for x, y, w, h in record.get("redact", []):
                region = np.zeros_like(mask)
                region[y : y + h, x : x + w] = True
                mask |= region & ~keep
        for (x, y, w, h), text, _ in detector.inspect(frames, codec.photometric(ds), mask):
            findings.append((rel, f"pixels [{x}, {y}, {w}, {h}]", KIND, text if show_values else ""))
    return findings, images
