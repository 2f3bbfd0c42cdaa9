"""The closed redaction loop: detect text lines, redact, look again, certify or not.

Pass 1 runs the detector on every view of the object (:mod:`anonymizer.pixels.views`)
and keeps each candidate shaped like a text line (short side <= min(64 px, 0.45 x the
image's short side): the detector also answers to textured regions, never line-shaped).
Each line is padded (``boxes``) or widened to its rows across the full width (``band``;
columns over the full height for vertical text). Later passes mask the redacted areas to
their surroundings and detect again in crops around them; a later-pass candidate counts
only when the recogniser reads characters in it (the others are the detector answering
to patch edges), and strips one line pitch beside each line found are read too
(annotation lines come in blocks). The loop ends when a pass finds nothing new; after
``max_passes`` redactions, what the last pass found is ``residual``.

Then the certification pass (:func:`anonymizer.pixels.certify.certify`): text the loop
may have missed where detection is known to be weak. A line ending on rough ground
(speckle) is redacted four line heights further; strips continuing each line are read
with the recogniser (a line found in part), and the first pass's maps are checked at a
lenient threshold for line-shaped answers left outside the redaction (small text over
speckle). Each doubt is a reason not to certify.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anonymizer.pixels import detect, views
from anonymizer.pixels.certify import certify
from anonymizer.pixels.certify import judge as judge  # the benchmark re-judges records with it
from anonymizer.pixels.rules import Box

SINGLE_VIEWS = (("lum", "local2"), ("lum", "inv"), ("lum", "blackhat"), ("chroma", "minmax"), ("lum", "local2@r"))
MULTI_VIEWS = (
    *(("lum_max", v) for v in ("local2", "inv", "blackhat")),
    *(("lum_min", v) for v in ("local2", "inv", "blackhat")),
    ("chroma_max", "minmax"),
    ("lum_f", "local2"),
    ("lum_max", "local2@r"),
    ("lum_min", "local2@r"),
)
MODES = ("boxes", "band")
View = tuple[str, np.ndarray, bool]  # name, 8-bit image, examined rotated by 90 degrees


@dataclass(frozen=True)
class Candidate:
    """A detected text line (box in pixels), its detector score and the view that found it."""

    box: Box
    score: float
    view: str


@dataclass
class LoopResult:
    """What the loop redacted and whether it can certify that no text is left.

    ``certified``: the last pass found nothing new outside the redacted areas and the
    certification pass has no doubt. ``found_nothing``: pass 1 found no text at all.
    ``doubts`` name why certification failed (never text, only kinds and counts).
    """

    boxes: list[Box]
    residual: list[Box]
    passes: int
    found_nothing: bool
    doubts: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def certified(self) -> bool:
        return not self.residual and not self.doubts


@dataclass(frozen=True)
class Settings:
    """The loop's knobs (defaults chosen by ``benchmarks/ocr_recall.py``)."""

    target: int = 512  # the detector sees the short side scaled up to this (at most max_up x)
    max_up: float = 4.0
    second_target: int = 1024  # when pass 1 finds nothing at ``target``, it looks again at this (small text)
    thresh: float = 0.3  # DB binarisation threshold
    box_thresh: float = 0.5  # DB box score
    max_line: int = 64  # px: a line's short side at most this ...
    max_line_share: float = 0.45  # ... and this share of the image's short side
    pad: float = 0.2  # x the line's short side (at least 2 px) ...
    pad_along: float = 1.0  # ... and along the line's axis (the detector may stop a line a character short)
    margin: int = 48  # px around redacted areas re-examined by later passes
    max_passes: int = 3
    strip_chars: int = 3  # a neighbour strip is a line when read with >= 3 characters ...
    strip_confidence: float = 0.75  # ... at this confidence
    doubt_chars: int = 1  # certification: a continuation strip read with >= this many characters ...
    doubt_confidence: float = 0.6  # ... at this confidence is a doubt ...
    doubt_map: float = 0.2  # ... (one character: where some pass-1 map reaches this in the strip)
    lenient_thresh: float = 0.2  # certification: pass 1's maps re-read at these thresholds ...
    lenient_box: float = 0.35
    lenient_score: float = 0.36  # ... a line-shaped answer left outside scoring >= this ...
    lenient_side: int = 6  # ... with a short side >= this (px) is a doubt
    fragment_aspect: float = 3.0  # certification: a found line shorter than this x its thickness ...
    fragment_side: int = 24  # ... and at most this thick (px: small text) is a doubt ...
    fragment_min: int = 6  # ... unless thinner than this (px: a map blob thinner than any stroke) ...
    fragment_speckle: float = 0.02  # ... or on ground smoother than this (views.speckle: pieces come from speckle)
    rough: float = 0.05  # certification: a line's continuation this rough (views.roughness) is redacted


class TextDetector:
    """Text-line detection over one object's frames, and the closed redaction loop.

    ``mode``: ``boxes`` (padded line boxes) or ``band`` (the line's rows across the full width).
    """

    def __init__(self, mode: str = "boxes", settings: Settings | None = None, models: detect.Models | None = None):
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: boxes or band")
        self.mode, self.settings = mode, settings or Settings()
        self.models = models or detect.Models()

    def _views(self, planes: dict[str, views.Plane]) -> list[View]:
        wanted = MULTI_VIEWS if "lum" not in planes else SINGLE_VIEWS
        made: dict[tuple[str, str], np.ndarray] = {}
        out: list[View] = []
        for plane, name in wanted:
            base, rotated = name.removesuffix("@r"), name.endswith("@r")
            if plane not in planes:
                continue
            if (plane, base) not in made:
                made[(plane, base)] = views.view(planes[plane], base)
            out.append((f"{plane}:{name}", made[(plane, base)], rotated))
        return out

    def _limit(self, rows: int, columns: int) -> int:
        s = self.settings
        return min(s.max_line, max(12, int(s.max_line_share * min(rows, columns))))

    def _maps(self, seen: list[View], crop: Box, target: int = 0) -> list[np.ndarray]:
        """Each view's probability map over ``crop`` (full-image coordinates; ``target``: other than the default)."""
        rows, columns = seen[0][1].shape
        full_h, full_w = detect.run_size(rows, columns, target or self.settings.target, self.settings.max_up)
        sy, sx = full_h / rows, full_w / columns
        cx, cy, cw, ch = crop
        groups: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
        for i, (_, img, rotated) in enumerate(seen):
            sub = img[cy : cy + ch, cx : cx + cw]
            if rotated:
                sub = np.ascontiguousarray(np.rot90(sub))
            h = max(32, round(sub.shape[0] * (sx if rotated else sy) / 32) * 32)
            w = max(32, round(sub.shape[1] * (sy if rotated else sx) / 32) * 32)
            groups.setdefault((h, w), []).append((i, sub))
        maps: list[np.ndarray] = [np.zeros(0)] * len(seen)
        for size, items in groups.items():
            for (i, _), prob in zip(items, self.models.probabilities([s for _, s in items], size), strict=True):
                maps[i] = np.ascontiguousarray(np.rot90(prob, -1)) if seen[i][2] else prob
        return maps

    def _lines(
        self, seen: list[View], maps: list[np.ndarray], crop: Box, allowed: np.ndarray | None, thresh: float, box: float
    ) -> list[Candidate]:
        """Line-shaped candidates in the maps of one crop, reaching ``allowed`` pixels."""
        rows, columns = seen[0][1].shape
        limit = self._limit(rows, columns)
        cx, cy, cw, ch = crop
        found: list[Candidate] = []
        for (name, _, rotated), prob in zip(seen, maps, strict=True):
            if allowed is not None:
                prob = np.where(allowed[cy : cy + ch, cx : cx + cw], prob, 0.0).astype(np.float32)
            for (x, y, w, h), score in detect.boxes(prob, thresh, box):
                if min(w, h) > limit:
                    continue  # not shaped like a line: a textured region
                if rotated and h <= w:
                    continue  # the rotated views are there for vertical lines only
                found.append(Candidate((x + cx, y + cy, w, h), score, name))
        return found

    def _confirm(self, found: list[Candidate], seen: list[View]) -> tuple[list[Candidate], int]:
        """The candidates the recogniser reads characters in, and how many it rejected."""
        images = {name: img for name, img, _ in seen}
        crops: list[np.ndarray] = []
        owners: list[int] = []
        for i, c in enumerate(found):
            x, y, w, h = c.box
            crop = images[c.view][max(0, y - 2) : y + h + 2, max(0, x - 2) : x + w + 2]
            if crop.size == 0:
                continue
            turns = (1, -1) if h > 1.5 * w else (0,)
            crops += [np.ascontiguousarray(np.rot90(crop, k)) for k in turns]
            owners += [i] * len(turns)
        ok = [False] * len(found)
        for i, (text, confidence) in zip(owners, self.models.read(crops), strict=True):
            ok[i] = ok[i] or detect.readable(text, confidence)
        return [c for c, k in zip(found, ok, strict=True) if k], ok.count(False)

    def _strips(self, lines: list[Box], covered: np.ndarray, along: bool) -> list[tuple[Box, bool]]:
        """Strips beside each line (``along``: continuing it along its axis), not mostly covered already.

        Beside: one line pitch away, as long as the line plus half its length each way.
        Along: beyond each end, four line heights long.
        """
        rows, columns = covered.shape
        out: list[tuple[Box, bool]] = []
        for x, y, w, h in lines:
            vertical = h > w
            thick, length = (w, h) if vertical else (h, w)
            for side in (-1, 1):
                if along:
                    reach = 4 * thick
                    start = (y if vertical else x) + (-reach if side < 0 else (h if vertical else w))
                    strip = (x, start, w, reach) if vertical else (start, y, reach, h)
                else:
                    offset, size = round(0.9 * thick) * side, round(1.2 * thick)
                    if vertical:
                        strip = (x + w // 2 + offset - size // 2, y - length // 2, size, 2 * length)
                    else:
                        strip = (x - length // 2, y + h // 2 + offset - size // 2, 2 * length, size)
                x0, y0 = max(0, strip[0]), max(0, strip[1])
                x1, y1 = min(columns, strip[0] + strip[2]), min(rows, strip[1] + strip[3])
                if x1 - x0 < 4 or y1 - y0 < 4 or covered[y0:y1, x0:x1].mean() > 0.9:
                    continue
                out.append(((x0, y0, x1 - x0, y1 - y0), vertical))
        return out

    def _read_strips(self, strips: list[tuple[Box, bool]], seen: list[View]) -> list[tuple[Box, str, float]]:
        """Every reading of each strip in the luminance views (both directions when vertical)."""
        wanted = [(n, img) for n, img, rot in seen if not rot and n.startswith("lum")]
        wanted = [(n, img) for n, img in wanted if n.split(":")[1] in ("minmax", "inv", "local2")][:3]
        crops: list[np.ndarray] = []
        owners: list[Box] = []
        for (x, y, w, h), vertical in strips:
            for _, img in wanted:
                crop = img[y : y + h, x : x + w]
                for k in (1, -1) if vertical else (0,):
                    crops.append(np.ascontiguousarray(np.rot90(crop, k)))
                    owners.append((x, y, w, h))
        return [(box, text, conf) for box, (text, conf) in zip(owners, self.models.read(crops), strict=True)]

    def _grow(self, found: list[Candidate], rows: int, columns: int) -> list[Box]:
        out: list[Box] = []
        for c in found:
            x, y, w, h = c.box
            p = max(2, round(self.settings.pad * min(w, h)))
            along = max(p, round(self.settings.pad_along * min(w, h)))  # the detector may stop a line short
            px, py = (p, along) if h > 1.5 * w else (along, p)
            x0, y0, x1, y1 = max(0, x - px), max(0, y - py), min(columns, x + w + px), min(rows, y + h + py)
            if self.mode == "band":
                if (y1 - y0) > 1.5 * (x1 - x0):
                    y0, y1 = 0, rows
                else:
                    x0, x1 = 0, columns
            out.append((x0, y0, x1 - x0, y1 - y0))
        return detect.merge(out)

    def run(self, frames: np.ndarray, photometric: str, excluded: np.ndarray | None = None) -> LoopResult:
        """Detect, redact, mask to the surroundings, detect again; then the certification pass.

        Parameters
        ----------
        frames : numpy.ndarray
            Shaped (frames, rows, columns, samples) as :func:`anonymizer.pixels.codec.frames` returns.
        photometric : str
            Of the decoded array (YBR decodes to RGB).
        excluded : numpy.ndarray or None
            (rows, columns) pixels redacted anyway (by rules): text there is no concern.

        Returns
        -------
        LoopResult
            The boxes to redact in every frame and sample, and the verdict.
        """
        import cv2

        s = self.settings
        base = views.planes(frames, photometric)
        rows, columns = next(iter(base.values())).shape
        outside = np.ones((rows, columns), bool) if excluded is None else ~excluded
        whole = (0, 0, columns, rows)
        redacted = np.zeros((rows, columns), dtype=bool)
        boxes: list[Box] = []
        residual: list[Box] = []
        history: list[int] = []
        ignored, passes, last_lines, found_lines = 0, 0, list[Box](), list[Box]()
        seen = first_views = self._views(base)
        first_maps = self._maps(seen, whole)
        found_nothing, target = False, s.target
        for number in range(s.max_passes + 1):
            passes += 1
            if number == 0:
                found = self._lines(
                    seen, first_maps, whole, None if excluded is None else outside, s.thresh, s.box_thresh
                )
                if not found and detect.run_size(rows, columns, s.second_target, s.max_up) != detect.run_size(
                    rows, columns, s.target, s.max_up
                ):  # small text: a second look at a larger scale (kept by the whole loop if it finds any)
                    larger = self._maps(seen, whole, s.second_target)
                    found = self._lines(
                        seen, larger, whole, None if excluded is None else outside, s.thresh, s.box_thresh
                    )
                    if found:
                        target, first_maps = s.second_target, larger
                found_nothing = not found
            else:
                current = {k: views.mask_to_surroundings(v, redacted, number) for k, v in base.items()}
                seen = self._views(current)
                near = np.asarray(cv2.dilate(redacted.astype(np.uint8), views.kernel(2 * s.margin + 1)), dtype=np.uint8)
                count, _, stats, _ = cv2.connectedComponentsWithStats(near)
                allowed = ~np.asarray(cv2.dilate(redacted.astype(np.uint8), views.kernel(5))).astype(bool) & outside
                found = []
                for i in range(1, int(count)):
                    crop = (int(stats[i][0]), int(stats[i][1]), int(stats[i][2]), int(stats[i][3]))
                    found += self._lines(seen, self._maps(seen, crop, target), crop, allowed, s.thresh, s.box_thresh)
                if found:
                    found, rejected = self._confirm(found, seen)
                    ignored += rejected
                if last_lines:
                    strips = self._strips(last_lines, redacted | ~outside, along=False)
                    reads = self._read_strips(strips, seen)
                    lines = {
                        box: conf
                        for box, text, conf in reads
                        if detect.readable(text, conf, s.strip_chars, s.strip_confidence)
                    }
                    found += [Candidate(box, conf, "strip") for box, conf in lines.items()]
            history.append(len(found))
            last_lines = detect.merge([c.box for c in found])
            found_lines += last_lines
            if not found:
                break
            new = self._grow(found, rows, columns)
            if number == s.max_passes:
                residual = new
                break
            boxes = detect.merge(boxes + new)
            redacted = detect.mask_of(boxes, (rows, columns))
        detail: dict[str, Any] = {"candidates": history, "ignored": ignored, "lines": [b[2:] for b in found_lines]}
        result = LoopResult(boxes, residual, passes, found_nothing, detail=detail)
        if not residual:
            merged = detect.merge(found_lines)
            extra, result.doubts = certify(self, base, redacted, outside, merged, (first_views, first_maps), detail)
            result.boxes = detect.merge(boxes + extra)
        return result

    def inspect(
        self, frames: np.ndarray, photometric: str, redacted: np.ndarray | None = None
    ) -> list[tuple[Box, str, float]]:
        """Text lines the recogniser reads outside ``redacted`` (masked to its surroundings first).

        For verifying outputs: each line's box, the recogniser's reading and its confidence.
        """
        import cv2

        s = self.settings
        base = views.planes(frames, photometric)
        rows, columns = next(iter(base.values())).shape
        allowed = None
        if redacted is not None and redacted.any():
            base = {k: views.mask_to_surroundings(v, redacted, 1) for k, v in base.items()}
            allowed = ~np.asarray(cv2.dilate(redacted.astype(np.uint8), views.kernel(5))).astype(bool)
        seen = self._views(base)
        whole = (0, 0, columns, rows)
        found = self._lines(seen, self._maps(seen, whole), whole, allowed, s.thresh, s.box_thresh)
        images = {name: img for name, img, _ in seen}
        crops: list[np.ndarray] = []
        for c in found:
            x, y, w, h = c.box
            crop = images[c.view][max(0, y - 2) : y + h + 2, max(0, x - 2) : x + w + 2]
            crops.append(np.ascontiguousarray(np.rot90(crop) if h > 1.5 * w else crop))
        best: dict[Box, tuple[str, float]] = {}
        for c, (text, confidence) in zip(found, self.models.read(crops), strict=True):
            if not detect.readable(text, confidence):
                continue
            line = next((b for b in detect.merge([x.box for x in found]) if _inside(c.box, b)), c.box)
            if line not in best or confidence > best[line][1]:
                best[line] = (text, confidence)
        return [(box, text, confidence) for box, (text, confidence) in sorted(best.items())]


def _inside(inner: Box, outer: Box) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[0] + inner[2] <= outer[0] + outer[2]
        and inner[1] + inner[3] <= outer[1] + outer[3]
    )
