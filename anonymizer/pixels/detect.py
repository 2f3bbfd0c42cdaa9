"""A text detector and a recogniser on onnxruntime, with models shipped in a PyPI wheel.

The detector is PP-OCRv6's DB text detector (``PP-OCRv6_det_small.onnx``) and the
recogniser ``PP-OCRv6_rec_small.onnx`` (its character list is in the model's metadata).
Both ship inside the ``rapidocr`` wheel and run directly on onnxruntime's CPU provider:
the rapidocr package is located, never imported, and nothing is downloaded at run time.

:class:`Models` holds the two sessions (made on first use, per process). :func:`boxes`
turns a probability map into axis-aligned candidate boxes (DB post-processing),
:func:`merge` joins fragments of one line, :meth:`Models.read` returns the text and
mean character confidence the recogniser sees in 8-bit crops.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from anonymizer.pixels.rules import Box

DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
MODELS_FROM = "rapidocr"  # the wheel that ships both models (rapidocr==3.10.0)


def model_dir() -> Path | None:
    """The ``models`` folder of the installed rapidocr wheel, or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(MODELS_FROM)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def unavailable() -> str | None:
    """Why text detection cannot run here (None when it can); looks for the packages without importing them."""
    for package in ("cv2", "onnxruntime"):
        try:
            found = importlib.util.find_spec(package) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return "text detection needs OpenCV and onnxruntime (dependencies of anonymizer-dicom): reinstall it"
    folder = model_dir()
    if folder is None or not (folder / DET_MODEL).is_file() or not (folder / REC_MODEL).is_file():
        return "text detection needs the models of the rapidocr wheel (a dependency of anonymizer-dicom): reinstall it"
    return None


class Models:
    """The detector and recogniser sessions, loaded on first use (``threads``: onnxruntime's intra-op threads)."""

    def __init__(self, threads: int = 2) -> None:
        self.threads = threads
        self._sessions: dict[str, Any] = {}
        self._chars: list[str] | None = None

    def session(self, name: str) -> Any:
        if name not in self._sessions:
            import onnxruntime as ort

            folder = model_dir()
            path = folder / name if folder is not None else Path(name)
            if not path.is_file():
                raise RuntimeError(f"{name} is missing: the rapidocr wheel ships it")
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            options.enable_cpu_mem_arena = False  # input shapes vary per image: an arena only grows
            options.enable_mem_pattern = False
            self._sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return self._sessions[name]

    def probabilities(self, images: list[np.ndarray], size: tuple[int, int], batch: int = 4) -> list[np.ndarray]:
        """DB text probability maps (float32, each image's own size) of 8-bit grey images, run at ``size``."""
        import cv2

        height, width = size
        out: list[np.ndarray] = []
        for start in range(0, len(images), batch):
            part = images[start : start + batch]
            x = np.empty((len(part), 3, height, width), np.float32)
            for i, img in enumerate(part):
                interpolation = cv2.INTER_LINEAR if img.shape[0] < height else cv2.INTER_AREA
                scaled = np.asarray(cv2.resize(img, (width, height), interpolation=interpolation), dtype=np.float32)
                x[i] = (scaled * (2.0 / 255.0) - 1.0)[None]
            probs = self.session(DET_MODEL).run(None, {"x": x})[0][:, 0]
            for img, prob in zip(part, probs, strict=True):
                resized = cv2.resize(prob, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
                out.append(np.asarray(resized, dtype=np.float32))
        return out

    def read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """CTC reading of 8-bit grey crops: (text, mean character confidence) each."""
        import cv2

        if not crops:
            return []
        session = self.session(REC_MODEL)
        if self._chars is None:
            meta = session.get_modelmeta().custom_metadata_map
            self._chars = ["<blank>", *str(meta["character"]).splitlines(), " "]
        chars = self._chars
        out: list[tuple[str, float]] = []
        for start in range(0, len(crops), 8):
            part = crops[start : start + 8]
            ratio = max(320 / 48, *(c.shape[1] / max(1, c.shape[0]) for c in part))
            width = int(np.ceil(48 * ratio))
            batch = np.zeros((len(part), 3, 48, width), np.float32)
            for i, crop in enumerate(part):
                w = max(1, min(width, int(np.ceil(48 * crop.shape[1] / max(1, crop.shape[0])))))
                scaled = np.asarray(cv2.resize(crop, (w, 48)), dtype=np.float32)
                batch[i, :, :, :w] = (scaled * (2.0 / 255.0) - 1.0)[None]
            for probs in session.run(None, {"x": batch})[0]:
                index, confidence = probs.argmax(axis=1), probs.max(axis=1)
                text: list[str] = []
                confidences: list[float] = []
                previous = 0
                for j, k in enumerate(index):
                    if k != 0 and k != previous and k < len(chars):
                        text.append(chars[k])
                        confidences.append(float(confidence[j]))
                    previous = k
                out.append(("".join(text), float(np.mean(confidences)) if confidences else 0.0))
        return out


def readable(text: str, confidence: float, min_chars: int = 1, min_confidence: float = 0.5) -> bool:
    """The recogniser read at least ``min_chars`` letters or digits with at least ``min_confidence``."""
    return sum(ch.isalnum() for ch in text) >= min_chars and confidence >= min_confidence


def run_size(rows: int, columns: int, target: int, max_up: float) -> tuple[int, int]:
    """The detector's input size: short side scaled towards ``target`` (at most ``max_up``), multiples of 32."""
    scale = min(max_up, max(1.0, target / min(rows, columns)))
    return max(32, round(rows * scale / 32) * 32), max(32, round(columns * scale / 32) * 32)


def boxes(prob: np.ndarray, thresh: float, box_thresh: float, unclip: float = 1.6) -> list[tuple[Box, float]]:
    """DB post-processing on an axis-aligned grid: regions above ``thresh`` scoring ``box_thresh``, unclipped."""
    import cv2

    bitmap = (prob > thresh).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bitmap, connectivity=8)
    rows, columns = prob.shape
    out: list[tuple[Box, float]] = []
    for i in range(1, int(count)):
        x, y, w, h, area = (int(v) for v in stats[i])
        if min(w, h) < 2:
            continue
        inside = labels[y : y + h, x : x + w] == i
        score = float(prob[y : y + h, x : x + w][inside].mean())
        if score < box_thresh:
            continue
        d = area * unclip / max(1, 2 * (w + h))
        x0, y0 = max(0, int(np.floor(x - d))), max(0, int(np.floor(y - d)))
        x1, y1 = min(columns, int(np.ceil(x + w + d))), min(rows, int(np.ceil(y + h + d)))
        out.append(((x0, y0, x1 - x0, y1 - y0), score))
    return out


def same_line(a: Box, b: Box) -> bool:
    """Overlapping or touching boxes that are fragments of one line (or one holds the other)."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    if a[0] > bx1 or b[0] > ax1 or a[1] > by1 or b[1] > ay1:
        return False
    if (a[0] <= b[0] and a[1] <= b[1] and ax1 >= bx1 and ay1 >= by1) or (
        b[0] <= a[0] and b[1] <= a[1] and bx1 >= ax1 and by1 >= ay1
    ):
        return True
    rows = min(ay1, by1) - max(a[1], b[1])
    columns = min(ax1, bx1) - max(a[0], b[0])
    horizontal = rows >= 0.6 * min(a[3], b[3]) and abs(a[3] - b[3]) <= 0.5 * max(a[3], b[3])
    vertical = columns >= 0.6 * min(a[2], b[2]) and abs(a[2] - b[2]) <= 0.5 * max(a[2], b[2])
    return horizontal or vertical


def merge(found: list[Box]) -> list[Box]:
    """Merge fragments of one line (and nested boxes) until none are left; different lines may overlap.

    A bounding box around a block of lines would redact the gaps between them, so lines stay apart.
    """
    merged = sorted(set(found))
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for box in merged:
            for i, other in enumerate(out):
                if same_line(box, other):
                    x0, y0 = min(box[0], other[0]), min(box[1], other[1])
                    x1, y1 = max(box[0] + box[2], other[0] + other[2]), max(box[1] + box[3], other[1] + other[3])
                    out[i] = (x0, y0, x1 - x0, y1 - y0)
                    changed = True
                    break
            else:
                out.append(box)
        merged = sorted(set(out))
    return merged


def mask_of(found: list[Box], shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask of ``shape`` set inside every box."""
    mask = np.zeros(shape, dtype=bool)
    for x, y, w, h in found:
        mask[y : y + h, x : x + w] = True
    return mask
