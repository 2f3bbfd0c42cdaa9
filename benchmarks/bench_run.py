"""Throughput of `anonymizer run` next to a plain pydicom read+write of the same files.

    python benchmarks/bench_run.py [--files 2000] [--template CT_small.dcm] [--repeat 3]

Each phase runs in a fresh Python process (so peak RSS is per phase) over the same
corpus, output to a fresh folder; the median of ``--repeat`` runs is printed with
files/s, MB/s, the ratio to the plain read+write, and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def phase(name: str, in_dir: Path, out_dir: Path, profile: str) -> dict[str, float]:
    """Run one phase in this process; return seconds and peak RSS (MiB)."""
    import resource
    import warnings

    import pydicom

    files = sorted(p for p in in_dir.iterdir() if p.is_file())
    out_dir.mkdir(parents=True)
    start = time.perf_counter()
    if name == "plain":
        for i, path in enumerate(files):
            pydicom.dcmread(path).save_as(out_dir / f"{i}.dcm", enforce_file_format=True)
    else:
        from anonymizer.engine import Plan
        from anonymizer.profile import load_profile
        from anonymizer.runner import run
        from anonymizer.secret import Secret
        from anonymizer.vault import MemoryVault

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary = run(in_dir, out_dir, Plan(load_profile(profile)), Secret(bytes(32)), MemoryVault())
        assert summary.done == len(files), summary
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--template", default="CT_small.dcm")
    parser.add_argument("--profile", default="research")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--in-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.in_dir, args.out_dir, args.profile)))
        return

    sys.path.insert(0, str(HERE))
    from corpus import write_corpus

    work = Path(tempfile.mkdtemp(prefix="anonymizer-bench-"))
    try:
        in_dir = work / "in"
        paths = write_corpus(in_dir, args.files, args.template)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        results: dict[str, list[dict[str, float]]] = {"plain": [], args.profile: []}
        for r in range(args.repeat):
            for name in results:
                out = work / f"out-{name}-{r}"
                cmd = [
                    sys.executable,
                    __file__,
                    "--phase",
                    "plain" if name == "plain" else "run",
                    "--profile",
                    args.profile,
                    "--in-dir",
                    str(in_dir),
                    "--out-dir",
                    str(out),
                ]
                done = subprocess.run(cmd, check=True, capture_output=True, text=True)
                results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
                shutil.rmtree(out)
        print(f"{args.files} files from {args.template}, {megabytes:.1f} MB, median of {args.repeat} runs, 1 process")
        base = statistics.median(r["seconds"] for r in results["plain"])
        for name, runs in results.items():
            seconds = statistics.median(r["seconds"] for r in runs)
            peak = max(r["peak_mib"] for r in runs)
            label = "pydicom read+write" if name == "plain" else f"anonymizer run --profile {name}"
            print(
                f"{label:38s} {args.files / seconds:8.1f} files/s {megabytes / seconds:7.1f} MB/s "
                f"ratio {base / seconds:5.2f}  peak RSS {peak:6.1f} MiB"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
