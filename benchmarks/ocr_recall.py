"""Burned-in text: the closed redaction loop of ``--burned-in ocr`` on generated images.

Run from the repository root::

    python benchmarks/ocr_recall.py                          # full: 420 text images + 60 without, both modes
    python benchmarks/ocr_recall.py --size 60 --mode boxes   # the CI set (tests/test_ocr_bench.py)

Images come from ``benchmarks/synth.py`` (seeded, deterministic): 8/12/16-bit signed and
unsigned MONOCHROME1/2, RGB and YBR_FULL_422 (4:2:2 chroma), 64-1024 px, 1-30 frames;
1-3 lines of 5-24 px text in bitmap and TrueType fonts at every corner, the centre or
rotated 90 degrees; high contrast, dark on a bright bar, light-on-light and
dark-on-dark at 10-30% contrast over noise, gradients, blobs and ultrasound speckle, and
1-3 display levels off a saturated ground. Text images say BurnedInAnnotation YES;
text-free ones carry no BurnedInAnnotation (a capture modality: examined all the same).

Each image goes through the loop and :func:`anonymizer.pixels.redact.verdict`, exactly as
``run`` does. A line is removed when >= 99% of its ink pixels are redacted. Printed per
mode: false clean claims (certified with a line not removed; must be 0), lines removed
(certified and quarantined images together), share of text images delivered
(certified), over-redaction (non-text pixels redacted, per text image), text-free
images left untouched, images per second, peak memory. Exit status 1 when a CI
assertion fails: a false clean claim, or fewer than 97% of lines removed.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anonymizer.pixels import detect, loop, redact
from benchmarks import synth


def examine(detector: loop.TextDetector, index: int, with_text: bool) -> dict[str, Any]:
    """One image through the loop and the verdict: its record (no pixels)."""
    case = synth.make_case(index, with_text)
    photometric = "RGB" if case.photometric.startswith("YBR") else case.photometric  # as codec.frames decodes it
    clock = time.perf_counter()
    result = detector.run(case.frames, photometric)
    seconds = time.perf_counter() - clock
    why = redact.verdict(result, says_yes=with_text, covered=False)
    mask = detect.mask_of(result.boxes, case.size)
    lines = [
        {
            "removed": float(mask[line.ink].mean()) >= 0.99,
            "cover": round(float(mask[line.ink].mean()), 4),
            "contrast": line.contrast,
            "place": line.place,
            "height": line.height,
            "font": line.font,
        }
        for line in case.lines
    ]
    record: dict[str, Any] = {
        "text": with_text,
        "index": index,
        "mode": detector.mode,
        "photometric": case.photometric,
        "bits": case.bits_stored,
        "signed": case.signed,
        "rows": case.size[0],
        "cols": case.size[1],
        "frames": int(case.frames.shape[0]),
        "background": case.background,
        "certified": why is None,
        "why": why or "",
        "loop_certified": result.certified,
        "found_nothing": result.found_nothing,
        "passes": result.passes,
        "doubts": result.doubts,
        "detail": result.detail,
        "redacted": float(mask.mean()),
        "lines": lines,
        "seconds": round(seconds, 3),
        "boxes": [list(b) for b in result.boxes],
    }
    if with_text:
        record["over"] = float(mask[~case.text_area()].mean())
        record["false_clean"] = why is None and not all(x["removed"] for x in lines)
    return record


def rejudge(record: dict[str, Any], settings: loop.Settings) -> dict[str, Any]:
    """A record's verdict under other certification settings (the loop's redaction is unchanged)."""
    if record["detail"].get("continuations") is None:  # residual after the last pass: never certified
        return record
    doubts = loop.judge(record["detail"], settings)
    why = ""
    if doubts:
        why = "certification doubt: " + ", ".join(doubts)
    elif record["found_nothing"] and record["text"]:
        why = "BurnedInAnnotation YES and no text found"
    certified = not why
    removed = all(x["removed"] for x in record["lines"])
    return {**record, "doubts": doubts, "why": why, "certified": certified, "false_clean": certified and not removed}


def run(
    mode: str,
    n_text: int,
    n_free: int,
    settings: loop.Settings,
    shard: tuple[int, int],
    jsonl: str | None,
    verbose: bool,
) -> list[dict[str, Any]]:
    detector = loop.TextDetector(mode, settings, detect.Models(int(os.environ.get("DETECT_THREADS", "2"))))
    todo = [(True, i) for i in range(n_text)] + [(False, i) for i in range(n_free)]
    todo = [t for k, t in enumerate(todo) if k % shard[1] == shard[0]]
    records = []
    for k, (with_text, i) in enumerate(todo):
        record = examine(detector, i, with_text)
        records.append(record)
        if jsonl:
            with open(jsonl, "a", encoding="utf-8") as stream:
                stream.write(json.dumps(record) + "\n")
        if verbose:
            missed = [f"{x['contrast']}/{x['place']}/{x['height']}px/{x['cover']:.2f}" for x in record["lines"]]
            missed = [m for m, x in zip(missed, record["lines"], strict=True) if not x["removed"]]
            state = "certified" if record["certified"] else f"QUARANTINE ({record['why']})"
            flag = " FALSE-CLEAN" if record.get("false_clean") else ""
            print(
                f"  [{k + 1}/{len(todo)}] {'text' if with_text else 'free'} {i:3d} {record['photometric']:12s} "
                f"{record['rows']}x{record['cols']}x{record['frames']} {state}{flag} "
                f"{'missed ' + ' '.join(missed) if missed else ''} {record['seconds']:.2f}s",
                flush=True,
            )
    return records


def summarise(mode: str, records: list[dict[str, Any]], own_run: bool = True) -> dict[str, Any]:
    """The figures of one mode, printed; returned as a dict (the CI test reads it)."""
    text = [r for r in records if r["text"]]
    free = [r for r in records if not r["text"]]
    lines = [x for r in text for x in r["lines"]]
    removed = sum(x["removed"] for x in lines)
    false_clean = [r["index"] for r in text if r["false_clean"]]
    delivered = sum(r["certified"] for r in text)
    untouched = sum(r["certified"] and r["redacted"] == 0 for r in free)
    over = [r["over"] for r in text] or [0.0]
    seconds = [r["seconds"] for r in records] or [0.0]
    why = collections.Counter(r["why"].split(":")[0] for r in text if not r["certified"])
    out = {
        "mode": mode,
        "text_images": len(text),
        "lines": len(lines),
        "free_images": len(free),
        "false_clean": len(false_clean),
        "false_clean_cases": false_clean,
        "lines_removed": removed / max(1, len(lines)),
        "delivered": delivered / max(1, len(text)),
        "quarantined_why": dict(why),
        "over_median": float(np.median(over)),
        "over_mean": float(np.mean(over)),
        "over_p90": float(np.percentile(over, 90)),
        "free_untouched": untouched / max(1, len(free)),
        "free_quarantined": sum(not r["certified"] for r in free),
        "seconds_mean": float(np.mean(seconds)),
        "seconds_median": float(np.median(seconds)),
        "seconds_max": float(np.max(seconds)),
        "images_per_second": len(seconds) / max(1e-9, float(np.sum(seconds))),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(f"\n== mode {mode}: {len(text)} text images ({len(lines)} lines) + {len(free)} without text")
    print(f"  false clean claims:            {out['false_clean']}  {false_clean}")
    print(f"  lines removed:                 {removed}/{len(lines)} = {out['lines_removed']:.2%}")
    print(
        f"  text images delivered:         {delivered}/{len(text)} = {out['delivered']:.1%}"
        f"  (quarantined {len(text) - delivered}: {dict(why)})"
    )
    print(
        f"  over-redaction (non-text px):  median {out['over_median']:.2%}, mean {out['over_mean']:.2%}, "
        f"p90 {out['over_p90']:.2%}"
    )
    print(
        f"  text-free untouched:           {untouched}/{len(free)} = {out['free_untouched']:.1%}"
        f"  (quarantined {out['free_quarantined']})"
    )
    print(
        f"  time per image:                mean {out['seconds_mean']:.2f} s, median {out['seconds_median']:.2f} s, "
        f"max {out['seconds_max']:.2f} s = {out['images_per_second']:.2f} images/s"
        + (f"; peak RSS {out['peak_rss_mb']:.0f} MB" if own_run else "")
    )
    groups: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for r in text:
        for x in r["lines"]:
            side = max(r["rows"], r["cols"])
            size = "<=128" if side <= 128 else "<=384" if side <= 384 else ">384"
            height = "5-9px" if x["height"] < 10 else "10-15px" if x["height"] < 16 else "16-24px"
            for key in (
                f"contrast={x['contrast']}",
                f"place={x['place']}",
                f"height={height}",
                f"photometric={r['photometric']}",
                f"size={size}",
                f"frames={'1' if r['frames'] == 1 else '>1'}",
                f"bits={r['bits']}{'s' if r['signed'] else 'u'}",
            ):
                groups[key][0] += x["removed"]
                groups[key][1] += 1
    print("  lines removed by kind:")
    for key in sorted(groups):
        got, total = groups[key]
        print(f"    {key:28s} {got:4d}/{total:<4d} {got / total:7.2%}")
    return out


def failed(out: dict[str, Any]) -> bool:
    """The CI assertions: no false clean claim, at least 97% of lines removed."""
    return bool(out["false_clean"] > 0 or (out["lines"] and out["lines_removed"] < 0.97))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=420, help="text images (default 420; the CI set: 60)")
    parser.add_argument("--free", type=int, default=None, help="text-free images (default size // 7, at least 10)")
    parser.add_argument("--mode", choices=["boxes", "band", "both"], default="both")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a loop.Settings field")
    parser.add_argument("--shard", default="0/1", help="I/N: every N-th image from the I-th (parallel runs)")
    parser.add_argument("--jsonl", default=None, help="append each image's record to this file")
    parser.add_argument("--summarise", nargs="+", default=None, metavar="JSONL", help="summarise records and exit")
    parser.add_argument(
        "--rejudge", action="store_true", help="with --summarise: apply the certification settings anew"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    settings = replace(loop.Settings(), **{k: ast.literal_eval(v) for k, v in (o.split("=", 1) for o in args.set)})
    if args.summarise:
        records = [json.loads(x) for path in args.summarise for x in Path(path).read_text().splitlines() if x]
        if args.rejudge:
            records = [rejudge(r, settings) for r in records]
        outs = [
            summarise(m, [r for r in records if r["mode"] == m], False) for m in sorted({r["mode"] for r in records})
        ]
        return 1 if any(failed(o) for o in outs) else 0
    why = detect.unavailable()
    if why:
        print(why, file=sys.stderr)
        return 2
    n_free = args.free if args.free is not None else max(10, args.size // 7)
    shard = (int(args.shard.split("/")[0]), int(args.shard.split("/")[1]))
    status = 0
    for mode in ["boxes", "band"] if args.mode == "both" else [args.mode]:
        out = summarise(mode, run(mode, args.size, n_free, settings, shard, args.jsonl, args.verbose))
        if failed(out):
            print(f"  FAIL ({mode}): false clean claims or lines removed < 97%")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
