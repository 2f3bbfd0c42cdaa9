"""Throughput of `anonymizer run` and `verify` next to a plain pydicom read+write.

    python benchmarks/bench_run.py [--files 2000] [--matrix 512] [--repeat 3]
                                   [--phases plain run:1 run:2 dask:2 verify]

For each ``--files`` size a flat dump is made (random names, 20 instances per patient)
from CT_small.dcm (about 40 KB; ``--matrix 512`` gives 512x512 16-bit pixels, about
0.5 MB). Each phase is a fresh Python process, timed from outside as a user would time
it (interpreter start-up, imports and the final sync count), over the same corpus into
a fresh OUT with a real SQLite vault and state: ``plain`` = pydicom read + write of every
file; ``run:N`` = ``anonymizer run --workers N`` (the command line's own entry point,
``anonymizer.cli.main``); ``ocr:N`` = the same with ``--burned-in ocr`` (files the detector
does not examine must not pay for it); ``dask:N`` = ``anonymizer run --dask local:N`` (cluster start
included); ``verify`` = ``anonymizer verify --against`` of an OUT made first (untimed).
Printed: median files/s and MB/s of ``--repeat`` runs, the ratio to ``plain``, and the
peak RSS of the coordinator and of its largest child process.
Several sizes (``--files 500 2000 8000``) show how time and memory grow. Before each timed
phase the file systems are synced (untimed), so no phase pays for the writeback of the
files another phase left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cli(*args: object) -> None:
    """``anonymizer ARGS`` in this process, as the console script runs it; it must exit 0."""
    from anonymizer.cli import main

    try:
        main([str(a) for a in args], standalone_mode=False)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    else:
        return


def _run_args(in_dir: Path, work: Path, *more: str) -> list[object]:
    key = work.parent / "bench.key"
    vault, state = work / "state" / "vault.db", work / "state" / "run"
    return [
        "run",
        in_dir,
        work / "out",
        "--key-file",
        key,
        "--vault",
        vault,
        "--state",
        state,
        "--log-format",
        "text",
        *more,
    ]


def _count(folder: Path) -> int:
    """Files in ``folder``, counted without holding their paths (peak RSS is measured)."""
    with os.scandir(folder) as entries:
        return sum(1 for entry in entries if entry.is_file())


def phase(name: str, in_dir: Path, work: Path) -> dict[str, float]:
    """Run one phase in this process (the parent times the whole process); return peak RSS (MiB)."""
    import resource

    kind, _, arg = name.partition(":")
    work.mkdir(parents=True, exist_ok=True)
    if kind == "plain":
        import pydicom

        out = work / "out"
        out.mkdir()
        for i, path in enumerate(sorted(p for p in in_dir.iterdir() if p.is_file())):
            pydicom.dcmread(path).save_as(out / f"{i}.dcm", enforce_file_format=True)
    elif kind == "run":
        _cli(*_run_args(in_dir, work, "--workers", arg))
    elif kind == "ocr":  # --burned-in ocr over files it does not examine: the detector must cost nothing
        _cli(*_run_args(in_dir, work, "--workers", arg, "--burned-in", "ocr"))
    elif kind == "dask":
        _cli(*_run_args(in_dir, work, "--workers", "1", "--dask", f"local:{arg}"))
    elif kind == "setup":  # an OUT for verify (not timed)
        _cli(*_run_args(in_dir, work, "--workers", "2"))
    elif kind == "verify":
        _cli("verify", work / "out", "--against", in_dir, "--profile", "research")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_mib": own, "children_peak_mib": children}


LABELS = {"plain": "pydicom read+write", "verify": "verify --against (research)"}


def _phase_process(name: str, in_dir: Path, work: Path) -> dict[str, float]:
    """One phase as a fresh Python process (start-up, imports and the final sync all count)."""
    cmd = [sys.executable, __file__, "--phase", name, "--in-dir", str(in_dir), "--work", str(work)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    measured: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[2000])
    parser.add_argument("--matrix", type=int, default=None, help="pixel matrix, e.g. 512 (default: the template's)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--phases", nargs="+", default=["plain", "run:1", "run:2", "dask:2", "verify"])
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--in-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.in_dir, args.work)))
        return

    from anonymizer.keys.secret import generate_key_file
    from anonymizer.testing import write_flat_corpus

    for count in args.files:
        tmp = Path(tempfile.mkdtemp(prefix="anonymizer-bench-"))
        try:
            in_dir = tmp / "in"
            generate_key_file(tmp / "bench.key")
            paths = write_flat_corpus(in_dir, count, matrix=args.matrix)
            megabytes = sum(p.stat().st_size for p in paths) / 1e6
            results: dict[str, list[dict[str, float]]] = {p: [] for p in args.phases}
            for r in range(args.repeat):
                for name in args.phases:
                    work = tmp / f"work-{name.replace(':', '-')}-{r}"
                    if name == "verify":
                        _phase_process("setup", in_dir, work)
                    os.sync()  # no phase pays for the writeback of another's files
                    start = time.perf_counter()
                    measured = _phase_process(name, in_dir, work)
                    results[name].append({**measured, "seconds": time.perf_counter() - start})
                    shutil.rmtree(work)
            matrix = f"{args.matrix}x{args.matrix}" if args.matrix else "128x128"
            print(f"\n{count} files ({matrix}), {megabytes:.1f} MB, median of {args.repeat} runs")
            base = statistics.median(r["seconds"] for r in results.get("plain", [{"seconds": float("nan")}]))
            for name, runs in results.items():
                seconds = statistics.median(r["seconds"] for r in runs)
                peak = max(r["peak_mib"] for r in runs)
                kids = max(r["children_peak_mib"] for r in runs)
                label = LABELS.get(name, f"run --profile research --{name.replace(':', ' ')}")
                if name.startswith("run:"):
                    label = f"run --profile research --workers {name[4:]}"
                elif name.startswith("dask:"):
                    label = f"run --profile research --dask local:{name[5:]}"
                print(
                    f"{label:40s} {count / seconds:7.1f} files/s {megabytes / seconds:6.1f} MB/s "
                    f"ratio {base / seconds:5.2f}  peak RSS {peak:6.1f} MiB (children {kids:6.1f} MiB)"
                )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
