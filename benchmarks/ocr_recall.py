"""Recall of ``--burned-in ocr`` on generated images with drawn names and dates.

Run from the repository root (needs the ``[ocr]`` extra and Debian's tesseract-ocr)::

    python benchmarks/ocr_recall.py [--sizes 128 256 512] [--modes all identifiers]

Each image gets two drawn lines, a patient name and a date (the object's own PatientName
and PatientBirthDate), in one of Pillow's bundled fonts (6x11 bitmap, Aileron 10/13/16
px), bright on the image or dark on a bright band, at the top or the bottom, over
gradient-and-blob content; grey 16-bit MONOCHROME2 and 8-bit RGB. A line counts as found
when at least 95% of its ink pixels fall inside the redacted boxes. Also printed: the
share of non-text pixels redacted (over-redaction) and seconds per image.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anonymizer.pixels import ocr, redact
from anonymizer.pixels.rules import PixelPolicy
from tests.burned import background, draw_text, mr_16bit, us_rgb_multiframe

NAMES = ["DOE^JANE", "MULLER^HANS PETER", "NGUYEN^THI LAN", "SMITH^JOHN", "GARCIA LOPEZ^MARIA"]
DATES = [
    ("19610723", "23.07.1961"),
    ("19800102", "1980-01-02"),
    ("19451130", "30 Nov 1945"),
    ("20011212", "12/12/2001"),
]
FONTS: list[int | None] = [None, 10, 13, 16]


def case(size: int, font: int | None, dark: bool, bottom: bool, rgb: bool, seed: int):  # type: ignore[no-untyped-def]
    name, (dicom_date, shown) = NAMES[seed % len(NAMES)], DATES[seed % len(DATES)]
    ds = us_rgb_multiframe(1, (size, size))[0] if rgb else mr_16bit(size)[0]
    ds.PatientName, ds.PatientBirthDate = name, dicom_date
    ds.BurnedInAnnotation = "YES"
    if "SequenceOfUltrasoundRegions" in ds:
        del ds.SequenceOfUltrasoundRegions
    text = name.replace("^", " ")
    at_y = size - 34 if bottom else 4
    ink_name, _ = draw_text((size, size), [text], (6, at_y), font)
    ink_date, _ = draw_text((size, size), [shown], (6, at_y + 15), font)
    ink = ink_name | ink_date
    high = 255 if rgb else 4000
    base = background(size, size, high // 2, seed)
    if dark:  # dark text on a bright band (an annotation bar)
        ys, xs = np.nonzero(ink)
        base[max(0, ys.min() - 3) : ys.max() + 4, : min(size, xs.max() + 10)] = int(high * 0.9)
        base[ink] = 0
    else:
        base[ink] = high
    if rgb:
        ds.PixelData = np.stack([base, base, base], axis=-1).astype(np.uint8).tobytes()
    else:
        ds.PixelData = base.astype(np.uint16).tobytes()
    return ds, [ink_name, ink_date]


def measure(sizes: list[int], mode: str) -> None:
    found = total = 0
    over: list[float] = []
    seconds: list[float] = []
    by_size: dict[int, list[int]] = {}
    seed = 0
    for size in sizes:
        for font in FONTS:
            for dark in (False, True):
                for bottom in (False, True):
                    for rgb in (False, True):
                        seed += 1
                        ds, inks = case(size, font, dark, bottom, rgb, seed)
                        clock = time.perf_counter()
                        outcome = redact.apply(ds, PixelPolicy(burned_in="ocr", ocr=mode), ocr.locate)
                        seconds.append(time.perf_counter() - clock)
                        mask = np.zeros((size, size), dtype=bool)
                        for entry in outcome.boxes:
                            for x, y, w, h in entry["redact"]:
                                mask[y : y + h, x : x + w] = True
                        text_area = np.zeros_like(mask)
                        for ink in inks:
                            hit = mask[ink].mean() >= 0.95
                            found += int(hit)
                            total += 1
                            by_size.setdefault(size, [0, 0])
                            by_size[size][0] += int(hit)
                            by_size[size][1] += 1
                            ys, xs = np.nonzero(ink)
                            text_area[max(0, ys.min() - 3) : ys.max() + 4, max(0, xs.min() - 6) : xs.max() + 7] = True
                        over.append(float(mask[~text_area].mean()))
    print(f"mode {mode}: lines found {found}/{total} = {found / total:.0%}")
    for size, (hit, count) in sorted(by_size.items()):
        print(f"  {size}x{size}: {hit}/{count} = {hit / count:.0%}")
    print(f"  over-redaction (non-text pixels redacted): median {np.median(over):.1%}, max {max(over):.1%}")
    print(f"  seconds per image: median {np.median(seconds):.2f}, max {max(seconds):.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--modes", nargs="+", default=["all", "identifiers"], choices=["all", "identifiers"])
    args = parser.parse_args()
    why = ocr.unavailable()
    if why:
        print(why, file=sys.stderr)
        return 2
    for mode in args.modes:
        measure(args.sizes, mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
