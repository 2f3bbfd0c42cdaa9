"""Throughput of `anonymizer run` next to a plain pydicom read+write of the same files.

    python benchmarks/bench_run.py [--files 2000] [--template CT_small.dcm] [--repeat 3] [--workers 1 2]

The corpus is a flat dump (random names, 20 instances per patient) made from one pydicom
bundled file. Each phase runs in a fresh Python process over the same corpus into a
fresh OUT, with a real SQLite vault and state: (a) pydicom read + write of every file,
(b) the pipeline with each ``--workers`` value, (c) ``verify --against`` of that OUT
(one process; OUT is made first, untimed). Printed: the median of ``--repeat``
runs in files/s and MB/s, the ratio to (a), and the peak RSS of the coordinator and of
its children (worker processes).
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


def phase(name: str, in_dir: Path, work: Path, profile: str, workers: int) -> dict[str, float]:
    """Run one phase in this process; return seconds and peak RSS (MiB) of self and children."""
    import resource

    import pydicom

    files = sorted(p for p in in_dir.iterdir() if p.is_file())
    out = work / "out"
    out.mkdir(parents=True)
    if name == "verify":  # make OUT first (not timed), then time the verification against IN
        _pipeline(in_dir, work, out, profile, workers)
        from anonymizer.engine import Plan
        from anonymizer.profile import load_profile
        from anonymizer.runner import discover
        from anonymizer.verify import collect, scan

        start = time.perf_counter()
        found, scanned = scan(out, collect(discover(in_dir), Plan(load_profile(profile))))
        assert not found and scanned == len(files), (len(found), scanned)
    else:
        start = time.perf_counter()
    if name == "plain":
        for i, path in enumerate(files):
            pydicom.dcmread(path).save_as(out / f"{i}.dcm", enforce_file_format=True)
    elif name == "run":
        _pipeline(in_dir, work, out, profile, workers)
    seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mib": own, "children_peak_mib": children}


def _pipeline(in_dir: Path, work: Path, out: Path, profile: str, workers: int) -> None:
    import warnings

    from anonymizer.layout import DEFAULT_LAYOUT
    from anonymizer.runner import RunOptions, run
    from anonymizer.secret import Secret
    from anonymizer.state import StateStore
    from anonymizer.vault import SqliteVault
    from anonymizer.worker import WorkerConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vault = SqliteVault(work / "state" / "vault.db", Secret(bytes(32)), "bench")
        state = StateStore(work / "state", out, "bench")
        config = WorkerConfig(profile, (), vault.secret, DEFAULT_LAYOUT, out)
        summary = run(in_dir, config, vault, state, options=RunOptions(workers=workers))
        state.close()
        vault.close()
    assert summary.done == len([p for p in in_dir.iterdir() if p.is_file()]), summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--template", default="CT_small.dcm")
    parser.add_argument("--profile", default="research")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--in-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        workers = int(args.phase.split(":")[1]) if ":" in args.phase else 1
        print(json.dumps(phase(args.phase.split(":")[0], args.in_dir, args.work, args.profile, workers)))
        return

    from anonymizer.sample import write_flat_corpus

    tmp = Path(tempfile.mkdtemp(prefix="anonymizer-bench-"))
    try:
        in_dir = tmp / "in"
        paths = write_flat_corpus(in_dir, args.files, args.template)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        phases = ["plain", *[f"run:{w}" for w in args.workers], "verify"]
        results: dict[str, list[dict[str, float]]] = {p: [] for p in phases}
        for r in range(args.repeat):
            for name in phases:
                work = tmp / f"work-{name.replace(':', '-')}-{r}"
                cmd = [
                    sys.executable,
                    __file__,
                    "--phase",
                    name,
                    "--profile",
                    args.profile,
                    "--in-dir",
                    str(in_dir),
                    "--work",
                    str(work),
                ]
                done = subprocess.run(cmd, check=True, capture_output=True, text=True)
                results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
                shutil.rmtree(work)
        print(f"{args.files} files from {args.template}, {megabytes:.1f} MB, median of {args.repeat} runs")
        base = statistics.median(r["seconds"] for r in results["plain"])
        for name, runs in results.items():
            seconds = statistics.median(r["seconds"] for r in runs)
            peak = max(r["peak_mib"] for r in runs)
            kids = max(r["children_peak_mib"] for r in runs)
            label = {"plain": "pydicom read+write", "verify": f"verify --against (profile {args.profile})"}.get(
                name, f"run --profile {args.profile} --workers {name[4:]}"
            )
            print(
                f"{label:36s} {args.files / seconds:7.1f} files/s {megabytes / seconds:6.1f} MB/s "
                f"ratio {base / seconds:5.2f}  peak RSS {peak:6.1f} MiB (workers {kids:6.1f} MiB)"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
