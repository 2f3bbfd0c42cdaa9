"""Seeded generator of DICOM-like frames with burned-in text lines (and without any).

Every case is drawn from a fixed schedule (so a reduced set still covers every kind) plus
a per-case ``numpy`` generator seeded by the case index: the same index gives the same
pixels on every run and machine (given the same fonts: Pillow's bundled ones always,
DejaVu / URW / Noto under /usr/share/fonts when present).

A case holds ``frames`` shaped (frames, rows, columns, samples) in the stored value
range, the header facts the detector gets (photometric, bits stored, signed, window),
and one boolean ink mask per drawn line (the pixels where the line's alpha > 100/255,
as tests/burned.py counts ink), plus each line's kind for the breakdowns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PHOTOMETRICS = ["MONOCHROME2", "MONOCHROME1", "RGB", "YBR_FULL_422"]
CONTRASTS = ["high", "bar", "light", "dark", "sat"]
PLACES = ["tl", "tr", "bl", "br", "centre", "rot90"]
SIZES = [64, 96, 128, 160, 200, 256, 320, 384, 512, 640, 768, 1024]
GREY_DEPTHS = [(8, False), (12, False), (16, False), (16, True), (12, True), (8, True), (16, False)]
BACKGROUNDS = ["anatomy", "us", "xray", "light", "dark"]

FONT_FILES = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/opentype/urw-base35/NimbusMonoPS-Regular.otf",
    "/usr/share/fonts/opentype/urw-base35/NimbusSansNarrow-Regular.otf",
    "/usr/share/fonts/truetype/noto/NotoSansMono-Regular.ttf",
]
# font specs: ("bitmap", factor) = Pillow's 6x11 bitmap font scaled by nearest neighbour;
# ("aileron", None) = Pillow's bundled FreeType font; (path, None) = a system font;
# (path, "1") = the same drawn without anti-aliasing (a pixel font at any size).
FONTS: list[tuple[str, object]] = [("bitmap", 1), ("aileron", None), ("bitmap", 2)]
FONTS += [(p, None) for p in FONT_FILES if os.path.exists(p)]
FONTS += [(p, "1") for p in FONT_FILES[:2] if os.path.exists(p)]

NAMES = [
    "DOE^JANE",
    "MULLER^HANS PETER",
    "NGUYEN^THI LAN",
    "SMITH^JOHN",
    "GARCIA LOPEZ^MARIA",
    "O'BRIEN^SEAN",
    "KOWALSKI^ANNA",
    "VAN DER BERG^PIET",
    "TANAKA^YUKI",
    "ABDULLAH^OMAR",
]
DATE_FORMATS = [
    "{y}{m:02d}{d:02d}",
    "{d:02d}.{m:02d}.{y}",
    "{y}-{m:02d}-{d:02d}",
    "{m:02d}/{d:02d}/{y}",
    "{d} {mon} {y}",
    "DOB: {d:02d}-{mon}-{y}",
]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
EXTRAS = [
    "ST MARY HOSPITAL",
    "Acc# A{n:07d}",
    "F {a:03d}Y",
    "M {a}Y",
    "Dr. WHO",
    "Study {n:05d}",
    "{h:02d}:{mi:02d}:{s:02d}",
]


@dataclass
class Line:
    ink: np.ndarray  # (rows, columns) bool
    contrast: str
    place: str
    height: int  # ink height in pixels (rows for horizontal text, columns when rotated)
    font: str
    text: str
    frames: tuple[int, int] | None = None  # drawn only on frames [a, b) (multi-frame), else all


@dataclass
class Case:
    index: int
    frames: np.ndarray  # (frames, rows, columns, samples), stored values
    photometric: str
    bits_stored: int
    signed: bool
    window: tuple[float, float] | None  # (center, width) in stored values
    lines: list[Line] = field(default_factory=list)
    background: str = ""

    @property
    def size(self) -> tuple[int, int]:
        return self.frames.shape[1], self.frames.shape[2]

    def text_area(self, pad: int = 3) -> np.ndarray:
        """Padded bounding boxes of the lines: pixels here are not counted as over-redaction."""
        area = np.zeros(self.size, dtype=bool)
        for line in self.lines:
            ys, xs = np.nonzero(line.ink)
            area[max(0, ys.min() - pad) : ys.max() + pad + 1, max(0, xs.min() - 2 * pad) : xs.max() + 2 * pad + 1] = (
                True
            )
        return area


@lru_cache(maxsize=256)
def _font(spec: str, size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    if spec == "bitmap":
        return ImageFont.load_default_imagefont()
    if spec == "aileron":
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(spec, size)


def font_label(spec: tuple[str, object]) -> str:
    name, extra = spec
    if name == "bitmap":
        return f"bitmap6x11x{extra}"
    base = os.path.basename(name).rsplit(".", 1)[0]
    return base + ("-mono" if extra == "1" else "")


def render_line(text: str, spec: tuple[str, object], height: int) -> np.ndarray:
    """Alpha (0..255, uint8) of ``text``, cropped to its ink, about ``height`` px high."""
    name, extra = spec
    if name == "bitmap":
        face = _font("bitmap", 0)
        box = face.getbbox(text)
        canvas = Image.new("L", (box[2] + 4, box[3] + 4), 0)
        ImageDraw.Draw(canvas).text((2, 2), text, fill=255, font=face)
        alpha = np.asarray(canvas)
        factor = int(extra)  # type: ignore[call-overload]
        if factor > 1:
            alpha = np.kron(alpha, np.ones((factor, factor), dtype=np.uint8))
    else:
        size = max(4, height)
        alpha = None
        for _ in range(8):  # font size whose line ink height is close to ``height``
            face = _font(name, size)
            box = face.getbbox(text + "Ag")
            canvas = Image.new("L", (box[2] + 8, box[3] + 8), 0)
            draw = ImageDraw.Draw(canvas)
            if extra == "1":
                draw.fontmode = "1"
            draw.text((4, 4), text, fill=255, font=face)
            alpha = np.asarray(canvas)
            rows = np.nonzero((alpha > 100).any(axis=1))[0]
            got = rows.max() - rows.min() + 1 if rows.size else 0
            if abs(got - height) <= 1 or size <= 4:
                break
            size = max(4, size + (1 if got < height else -1) * max(1, abs(height - got) // 2))
        assert alpha is not None
    ys, xs = np.nonzero(alpha > 0)
    return alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _texts(rng: np.random.Generator, count: int) -> list[str]:
    y, m, d = int(rng.integers(1925, 2020)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    date = DATE_FORMATS[int(rng.integers(len(DATE_FORMATS)))].format(y=y, m=m, d=d, mon=MONTHS[m - 1])
    ident = ["ID: {n:08d}", "PID {n:07d}", "{n:010d}", "MRN:{n:06d}"][int(rng.integers(4))].format(
        n=int(rng.integers(1, 10**7))
    )
    extra = EXTRAS[int(rng.integers(len(EXTRAS)))].format(
        n=int(rng.integers(1, 10**6)),
        a=int(rng.integers(1, 99)),
        h=int(rng.integers(24)),
        mi=int(rng.integers(60)),
        s=int(rng.integers(60)),
    )
    name = NAMES[int(rng.integers(len(NAMES)))]
    if rng.random() < 0.5:
        name = name.replace("^", " ")
    return [name, ident, date, extra][:count]


def _smooth_noise(rng: np.random.Generator, rows: int, cols: int, scale: float) -> np.ndarray:
    import cv2

    small = rng.normal(0, 1, (max(2, int(rows / scale)), max(2, int(cols / scale)))).astype(np.float32)
    return cv2.resize(small, (cols, rows), interpolation=cv2.INTER_CUBIC).astype(np.float64)


def background(rng: np.random.Generator, kind: str, rows: int, cols: int) -> np.ndarray:
    """Display-space image content in [0, 1]."""
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    noise = rng.uniform(0.005, 0.05)
    if kind == "us":  # a fan-shaped sector of speckle on black
        cy, cx = -0.1 * rows, cols / 2
        r = np.hypot(yy - cy, xx - cx)
        ang = np.arctan2(xx - cx, yy - cy)
        inside = (r > 0.2 * rows) & (r < 1.0 * rows) & (np.abs(ang) < 0.6)
        speckle = rng.rayleigh(0.25, (rows, cols)) * (
            0.5 + 0.5 * _smooth_noise(rng, rows, cols, max(4, rows / 12)) ** 2
        )
        image = np.where(inside, np.clip(speckle, 0, 1), rng.uniform(0, 0.03, (rows, cols)))
        return np.clip(image, 0, 1)
    if kind == "light":  # a secondary capture: bright page, faint structure
        image = rng.uniform(0.8, 0.93) + 0.03 * _smooth_noise(rng, rows, cols, max(8, rows / 6))
        return np.clip(image + rng.normal(0, noise / 3, (rows, cols)), 0, 1)
    if kind == "dark":  # MR-like: dark background, a mid-grey object
        image = 0.05 + 0.03 * _smooth_noise(rng, rows, cols, max(8, rows / 8))
        cy, cx, ry, rx = rows * rng.uniform(0.4, 0.6), cols * rng.uniform(0.4, 0.6), rows * 0.3, cols * 0.3
        body = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        image = np.where(body, 0.35 + 0.1 * _smooth_noise(rng, rows, cols, max(4, rows / 20)), image)
        return np.clip(image + rng.normal(0, noise, (rows, cols)), 0, 1)
    image = (yy * rng.uniform(-1, 1) + xx * rng.uniform(-1, 1)) / (rows + cols) * 0.4 + 0.3
    for _ in range(int(rng.integers(2, 6))):
        cy, cx = rng.uniform(0, rows), rng.uniform(0, cols)
        radius = rng.uniform(0.08, 0.35) * min(rows, cols)
        image += rng.uniform(-0.3, 0.5) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
    if kind == "xray":  # collimation: sharp-edged dark border
        top, left = int(rows * rng.uniform(0, 0.12)), int(cols * rng.uniform(0, 0.12))
        image[:top, :] = 0.02
        image[:, :left] = 0.02
        image += 0.08 * _smooth_noise(rng, rows, cols, max(3, rows / 40))
    return np.clip(image + rng.normal(0, noise, (rows, cols)), 0, 1)


def _soft_rect(rows: int, cols: int, y0: int, y1: int, x0: int, x1: int, soft: float) -> np.ndarray:
    import cv2

    mask = np.zeros((rows, cols), dtype=np.float32)
    mask[max(0, y0) : y1, max(0, x0) : x1] = 1
    if soft > 0:
        k = int(soft * 3) | 1
        mask = cv2.GaussianBlur(mask, (k, k), soft)
        mask[max(0, y0 + int(soft)) : y1 - int(soft), max(0, x0 + int(soft)) : x1 - int(soft)] = 1
    return mask.astype(np.float64)


def _place(place: str, rng: np.random.Generator, alphas: list[np.ndarray], rows: int, cols: int, margin: int):
    """Top-left corners for each line's alpha (already rotated for rot90)."""
    thick = [a.shape[1] if place == "rot90" else a.shape[0] for a in alphas]  # the text height
    gap = [max(2, t // 3) for t in thick]
    if place == "rot90":
        total = sum(a.shape[1] for a in alphas) + sum(gap[:-1])
        left = margin if rng.random() < 0.5 else cols - margin - total
        out, x = [], left
        for a, g in zip(alphas, gap, strict=True):
            top = max(
                0, min(rows - a.shape[0], (rows - a.shape[0]) // 2 + int(rng.integers(-rows // 8, rows // 8 + 1)))
            )
            out.append((top, x))
            x += a.shape[1] + g
        return out
    total = sum(a.shape[0] for a in alphas) + sum(gap[:-1])
    top = {"tl": margin, "tr": margin, "bl": rows - margin - total, "br": rows - margin - total}.get(
        place, (rows - total) // 2
    )
    out, y = [], top
    for a, g in zip(alphas, gap, strict=True):
        if place in ("tl", "bl"):
            x = margin
        elif place in ("tr", "br"):
            x = cols - margin - a.shape[1]
        else:
            x = (cols - a.shape[1]) // 2
        out.append((y, x))
        y += a.shape[0] + g
    return out


def _to_stored(v: np.ndarray, bits: int, signed: bool, mono1: bool, rng_choice: int) -> tuple[np.ndarray, float, float]:
    if signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    if bits == 16 and rng_choice % 2 == 0:  # a 12-bit-like sub-range (CT in HU, or 12 bits used of 16)
        lo, hi = (-1024, 3071) if signed else (0, 4095)
    stored = np.rint(lo + v * (hi - lo))
    if mono1:
        stored = hi + lo - stored
    return stored.astype(np.int32 if bits > 8 else np.int16), float(lo), float(hi)


def _ybr422(rgb: np.ndarray) -> np.ndarray:
    """RGB -> YCbCr full range with 4:2:2 chroma (horizontal pairs averaged) -> RGB, as a decoder returns it."""
    f = rgb.astype(np.float64)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    cb = -0.168736 * f[..., 0] - 0.331264 * f[..., 1] + 0.5 * f[..., 2]
    cr = 0.5 * f[..., 0] - 0.418688 * f[..., 1] - 0.081312 * f[..., 2]
    for c in (cb, cr):
        cols = c.shape[-1] // 2 * 2
        pair = (c[..., 0:cols:2] + c[..., 1:cols:2]) / 2
        c[..., 0:cols:2] = pair
        c[..., 1:cols:2] = pair
    out = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], axis=-1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def make_case(index: int, with_text: bool = True) -> Case:
    """The case of this index (text-free cases use their own schedule and seeds)."""
    rng = np.random.default_rng(1_000_003 * (index + 1) + (0 if with_text else 7))
    photometric = PHOTOMETRICS[index % 4]
    contrast = CONTRASTS[index % 5]
    place = PLACES[(index // 2) % 6]
    colour = photometric in ("RGB", "YBR_FULL_422")
    bits, signed = (8, False) if colour else GREY_DEPTHS[(index // 4) % len(GREY_DEPTHS)]
    size_index = (index * 7 + index // 12) % len(SIZES)
    if not with_text:
        size_index = (
            index % 6 if index % 3 else (index * 5) % len(SIZES)
        )  # mostly <= 256 px: where false positives live
    rows = SIZES[size_index]
    cols = rows if rng.random() < 0.6 else int(min(1024, max(64, rows * rng.choice([0.75, 1.25, 1.33]))))
    bg_kind = "us" if colour and rng.random() < 0.5 else BACKGROUNDS[(index // 3) % len(BACKGROUNDS)]
    if with_text and contrast == "light" and rng.random() < 0.5:
        bg_kind = "light"
    multi = (colour and rng.random() < 0.6) or (not colour and index % 9 == 0)
    count = 1
    if multi:
        count = int(rng.integers(2, 31))
        count = max(1, min(count, int(6e6 // (rows * cols * (3 if colour else 1)))))
    frames_v = []
    base = background(rng, bg_kind, rows, cols)
    for f in range(count):
        if f == 0:
            frames_v.append(base.copy())
        else:
            jitter = rng.normal(0, 0.02, (rows, cols)) + 0.02 * np.sin(f / 3)
            frames_v.append(np.clip(base + jitter, 0, 1))
    vol = np.stack(frames_v)  # (F, rows, cols) display values
    tint = None
    if colour:
        tint = np.array([1.0, rng.uniform(0.8, 1.0), rng.uniform(0.7, 1.0)])
    lines: list[Line] = []
    ink_value_rgb: list = []
    if with_text:
        font_spec = FONTS[(index // 5) % len(FONTS)]
        n_lines = int(rng.integers(1, 4))
        max_h = max(6, min(24, rows // 5, cols // 5))
        height = int(rng.integers(6, max_h + 1))
        texts = _texts(rng, n_lines)
        alphas, labels = [], []
        margin = int(rng.integers(2, max(3, min(12, rows // 16))))
        room = (rows if place == "rot90" else cols) - 2 * margin
        for text in texts:
            a = render_line(text, font_spec, height)
            while a.shape[1] > room and len(text) > 3:
                text = text[:-1]
                a = render_line(text, font_spec, height)
            if place == "rot90":
                a = np.rot90(a, 1 if rng.random() < 0.5 else -1)
            alphas.append(a)
            labels.append(text)
        corners = _place(place, rng, alphas, rows, cols, margin)
        keep = [
            i
            for i, (a, (t, lx)) in enumerate(zip(alphas, corners, strict=True))
            if t >= 0 and lx >= 0 and t + a.shape[0] <= rows and lx + a.shape[1] <= cols
        ]
        if not keep:  # nothing fits: one line, shortened, at the margin
            keep = [0]
            alphas = [alphas[0][: rows - 2 * margin, : cols - 2 * margin]]
            corners = [(margin, margin)]
        alphas, labels, corners = [alphas[i] for i in keep], [labels[i] for i in keep], [corners[i] for i in keep]
        block = (
            min(c[0] for c in corners),
            max(c[0] + a.shape[0] for c, a in zip(corners, alphas, strict=True)),
            min(c[1] for c in corners),
            max(c[1] + a.shape[1] for c, a in zip(corners, alphas, strict=True)),
        )
        pad = max(3, height // 2)
        y0, y1, x0, x1 = block[0] - pad, block[1] + pad, block[2] - pad, block[3] + pad
        # the ground under the text block
        level = None
        if contrast == "bar":
            level = rng.uniform(0.8, 0.97)
            plate = _soft_rect(rows, cols, y0, y1, x0, x1, 0)
            vol = vol * (1 - plate) + plate * (level + rng.normal(0, 0.01, vol.shape))
        elif contrast in ("light", "dark"):
            c = rng.uniform(0.1, 0.3)
            level = rng.uniform(0.55, 0.9 - c) if contrast == "light" else rng.uniform(c + 0.02, c + 0.2)
            soft = max(3.0, height * 1.5)
            plate = _soft_rect(rows, cols, y0 - 2 * pad, y1 + 2 * pad, x0 - 2 * pad, x1 + 2 * pad, soft)
            import cv2

            smooth = np.stack([cv2.GaussianBlur(f.astype(np.float32), (0, 0), 6) for f in vol])
            texture = vol - smooth  # the image's fine structure, without its large-scale level
            vol = vol * (1 - plate) + plate * np.clip(level + 0.6 * texture, 0, 1)
        elif contrast == "sat":
            plate = _soft_rect(rows, cols, y0 - pad, y1 + pad, x0 - pad, x1 + pad, max(2.0, height / 2))
            vol = np.clip(vol * (1 - plate) + plate * 1.2, 0, 1)  # saturated: clipped flat
        for i, (a, (top, left), text) in enumerate(zip(alphas, corners, labels, strict=True)):
            alpha = np.zeros((rows, cols))
            h, w = a.shape
            alpha[top : top + h, left : left + w] = a / 255.0
            under = vol[:, top : top + h, left : left + w]
            if contrast == "high":
                ink = 1.0 if float(np.median(under)) < 0.6 else 0.0
            elif contrast == "bar":
                ink = float(rng.uniform(0.0, 0.15))
            elif contrast == "light":  # c above the ground's median (10-30% of the range)
                ink = min(1.0, float(np.median(under)) + c)
            elif contrast == "dark":
                ink = max(0.0, float(np.median(under)) - c)
            else:  # 1-3 display levels below saturation
                ink = 1.0 - int(rng.integers(1, 4)) / 255.0
            span = None
            if multi and i == len(alphas) - 1 and len(alphas) > 1 and count > 3 and rng.random() < 0.5:
                a0 = int(rng.integers(0, count - 2))
                span = (a0, int(rng.integers(a0 + 1, count)))
            sel = slice(None) if span is None else slice(*span)
            vol[sel] = vol[sel] * (1 - alpha) + alpha * ink
            mask = alpha > 100 / 255
            lines.append(
                Line(mask, contrast, place, int(h if place != "rot90" else w), font_label(font_spec), text, span)
            )
            if colour:
                ink_value_rgb.append(_ink_colour(rng, contrast))
    window = None
    if colour:
        rgb = vol[..., None] * tint  # tinted grey
        if bg_kind == "us" and rng.random() < 0.5:  # a colour-flow blob
            yy, xx = np.mgrid[0:rows, 0:cols]
            cy, cx, r = rows * 0.5, cols * 0.5, min(rows, cols) * 0.12
            blob = (((yy - cy) ** 2 + (xx - cx) ** 2) < r * r)[None, ..., None]
            rgb = np.where(blob, np.array([0.8, 0.1, 0.1]) * (0.5 + vol[..., None]), rgb)
        rgb = np.clip(rgb, 0, 1)
        data = np.rint(rgb * 255).astype(np.uint8)
        if ink_value_rgb:
            data = _colour_text(data, vol, lines, ink_value_rgb, tint)
        if photometric == "YBR_FULL_422":
            data = _ybr422(data)
        frames = data
        bits_stored = 8
    else:
        mono1 = photometric == "MONOCHROME1"
        stored, lo, hi = _to_stored(vol, bits, signed, mono1, index // 28)
        frames = stored[..., None]
        bits_stored = bits
        choice = rng.random()
        if choice < 0.25:
            window = ((lo + hi) / 2, hi - lo)
        elif choice < 0.45:
            window = (lo + 0.4 * (hi - lo), 0.5 * (hi - lo))
    return Case(index, frames, photometric, bits_stored, signed, window, lines, bg_kind)


def _ink_colour(rng: np.random.Generator, contrast: str) -> tuple[float, float, float] | None:
    if contrast == "high":
        return [(1, 1, 1), (1, 1, 0), (0, 1, 0), (0, 1, 1), (1, 0.6, 0)][int(rng.integers(5))]
    if contrast == "sat" or (contrast in ("light", "dark") and rng.random() < 0.5):
        return None  # grey text: luminance contrast only
    return [(1, 1, 0.6), (0.7, 1, 0.7), (0.7, 0.9, 1)][int(rng.integers(3))]


def _colour_text(data, vol, lines, colours, tint):
    """Give the text pixels a colour: keep each pixel's grey value, multiply by the ink colour."""
    out = data.astype(np.float64) / 255
    grey = np.clip(vol, 0, 1)
    for line, colour in zip(lines, colours, strict=True):
        if colour is None:
            continue
        sel = slice(None) if line.frames is None else slice(*line.frames)
        a = line.ink[None, ..., None]
        coloured = grey[sel][..., None] * np.array(colour) / np.maximum(np.array(colour).max(), 1e-6)
        out[sel] = np.where(a, coloured, out[sel])
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def cases(n_text: int, n_free: int) -> list[Case]:
    return [make_case(i, True) for i in range(n_text)] + [make_case(i, False) for i in range(n_free)]
