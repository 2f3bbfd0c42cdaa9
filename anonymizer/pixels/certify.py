"""The certification pass of the closed redaction loop: what may be left, redacted or doubted.

After the loop (:meth:`anonymizer.pixels.loop.TextDetector.run`) has redacted what it
found, :func:`certify` looks where detection is known to be weak and either redacts
more (where the text would be removed whatever it is) or names a doubt (a reason not
to certify):

- *rough ends*: a found line whose continuation lies over rough ground (speckle, where
  the detector stops lines short and the recogniser reads nothing) is redacted that
  far too (four line heights beyond each rough end);
- *continuations*: strips continuing each line (after the above) along its axis must
  not read as text (:func:`judge`: ``text-continues``);
- *faint lines*: pass 1's maps re-read at a lenient threshold must hold no line-shaped
  answer outside the redaction (``faint-line``; over speckle such an answer is as likely
  the texture as text, and text there may be unseen: a doubt, never a redaction);
- *fragments*: a found line short for its thickness and thin, on speckle (``fragment``).

:func:`judge` turns what the pass recorded into the doubts: a pure function, so the
benchmark can re-judge records under other settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from anonymizer.pixels import detect, views
from anonymizer.pixels.rules import Box

if TYPE_CHECKING:
    from anonymizer.pixels.loop import Settings, TextDetector, View


def certify(
    detector: TextDetector,
    base: dict[str, views.Plane],
    redacted: np.ndarray,
    outside: np.ndarray,
    lines: list[Box],
    first: tuple[list[View], list[np.ndarray]],
    detail: dict[str, Any],
) -> tuple[list[Box], list[str]]:
    """The certification pass over one object after the loop.

    Parameters
    ----------
    detector : TextDetector
        The loop's detector (its settings, models and views).
    base : dict of str to numpy.ndarray
        The object's planes (:func:`anonymizer.pixels.views.planes`).
    redacted : numpy.ndarray
        (rows, columns) bool: what the loop redacted.
    outside : numpy.ndarray
        (rows, columns) bool: pixels not redacted by rules (the only ones examined).
    lines : list of Box
        Every line the loop found (merged).
    first : tuple
        Pass 1's views and their probability maps.
    detail : dict
        What the pass sees is recorded here (``lenient``, ``rough``, ``continuations``, ``lines``).

    Returns
    -------
    tuple of (list of Box, list of str)
        Boxes to redact in addition to the loop's, and the doubts (empty: certify).
    """
    s = detector.settings
    rows, columns = redacted.shape
    first_views, first_maps = first
    whole = (0, 0, columns, rows)
    left = detector._lines(first_views, first_maps, whole, outside, s.lenient_thresh, s.lenient_box)
    detail["lenient"] = [
        [c.box[2], c.box[3], round(c.score, 3)]
        for c in left
        if redacted[c.box[1] : c.box[1] + c.box[3], c.box[0] : c.box[0] + c.box[2]].mean() < 0.5
    ]
    # boxes thinner than fragment_min are map blobs thinner than any stroke: no line continues them
    found, now, extra = [b for b in lines if min(b[2], b[3]) >= s.fragment_min], redacted, list[Box]()
    plane = next(iter(base.values()))
    low, high = (float(v) for v in np.percentile(plane, (1, 99)))
    rough: list[Box] = []
    detail["rough"] = []
    for box, _ in detector._strips(found, now | ~outside, along=True):
        score = views.roughness(plane, box, high - low)
        detail["rough"].append(round(score, 4))
        if score >= s.rough:
            rough.append(box)
    if rough:
        extra = detect.merge(rough)
        now = now | detect.mask_of(rough, (rows, columns))
        found = detect.merge(found + rough)
    current = {k: views.mask_to_surroundings(v, now, 99) for k, v in base.items()}
    seen = detector._views(current)
    reads = detector._read_strips(detector._strips(found, now | ~outside, along=True), seen)
    peaks = {
        box: max(float(m[box[1] : box[1] + box[3], box[0] : box[0] + box[2]].max()) for m in first_maps)
        for box, _, _ in reads
    }
    detail["continuations"] = [
        [sum(c.isalnum() for c in text), round(conf, 3), round(peaks[box], 3)] for box, text, conf in reads
    ]
    detail["lines"] = [[w, h, round(views.speckle(plane, (x, y, w, h), high - low), 4)] for x, y, w, h in lines]
    return extra, judge(detail, s)


def judge(detail: dict[str, Any], settings: Settings) -> list[str]:
    """The certification pass's doubts from what it recorded (benchmarks re-judge records with it).

    ``text-continues``: a strip continuing a found line reads as characters (a line found
    in part); a single character only where pass 1's maps reach ``doubt_map`` in the strip
    (the recogniser reads a lone digit, mostly "2", into empty ground and speckle).
    ``faint-line``: pass 1's maps, re-read at a lenient threshold, hold a line-shaped
    answer outside the redaction (text the detector barely sees).
    ``fragment``: a found line is short for its thickness and thin (small text the
    detector found only a piece of: over speckle it stops lines short), on ground at
    least ``fragment_speckle`` rough (:func:`anonymizer.pixels.views.speckle`; records
    without it count as rough); boxes thinner than ``fragment_min`` come from map blobs
    thinner than any text stroke and are noise.

    Parameters
    ----------
    detail : dict
        What :func:`certify` and the loop recorded (``continuations``, ``lenient``, ``lines``).
    settings : Settings
        The loop's settings (the thresholds).

    Returns
    -------
    list of str
        The doubts (empty: certify).
    """
    s = settings
    doubts = []
    if any(
        chars >= s.doubt_chars
        and conf >= s.doubt_confidence
        and (chars > 1 or (peak[0] if peak else 1.0) >= s.doubt_map)
        for chars, conf, *peak in detail.get("continuations", [])
    ):
        doubts.append("text-continues")
    if any(min(w, h) >= s.lenient_side and score >= s.lenient_score for w, h, score in detail.get("lenient", [])):
        doubts.append("faint-line")
    if any(
        s.fragment_min <= min(w, h) <= s.fragment_side
        and max(w, h) < s.fragment_aspect * min(w, h)
        and (rough[0] if rough else 1.0) >= s.fragment_speckle
        for w, h, *rough in detail.get("lines", [])
    ):
        doubts.append("fragment")
    return doubts
