"""`anonymizer run --workers 1` of several git revisions on one corpus, next to a plain read+write.

    python benchmarks/bench_revisions.py REV [REV ...] [--files 2000] [--repeat 3]

Answers "did this change cost throughput?" with one machine, one venv and one corpus:
each revision is checked out into a temporary worktree and run from its own source
(``sys.path``), the phases alternate (plain, then every revision, ``--repeat`` times) so
that the machine's drift hits them alike, and each is a whole process timed from
outside (start-up and the final sync count; the file systems are synced before each,
untimed). The venv is this one: a revision whose dependencies differ needs its own.
``HEAD`` means the working tree as it is. Printed:
median files/s and the ratio to the plain pydicom read+write of the same files
(``bench_run.py``'s own ``plain`` phase).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAIN = [sys.executable, str(ROOT / "benchmarks" / "bench_run.py"), "--phase", "plain"]  # the same baseline


def _cli(tree: Path, *args: object) -> list[str]:
    """The command line that runs ``anonymizer ARGS`` from the sources in ``tree``."""
    code = (
        f"import sys; sys.path.insert(0, {str(tree)!r}); sys.argv = ['anonymizer', *{[str(a) for a in args]!r}]; "
        "from anonymizer.cli import main; main()"
    )
    return [sys.executable, "-c", code]


def _timed(cmd: list[str]) -> float:
    os.sync()  # as bench_run: no phase pays for the writeback of another's files
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cmd[-1][:80]}... exited {done.returncode}: {done.stderr[-400:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="+")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from anonymizer.testing import write_flat_corpus

    tmp = Path(tempfile.mkdtemp(prefix="anonymizer-revisions-"))
    trees: dict[str, Path] = {}
    try:
        for rev in args.revisions:
            if rev == "HEAD":
                trees[rev] = ROOT
                continue
            trees[rev] = tmp / f"tree-{len(trees)}"
            subprocess.run(["git", "-C", ROOT, "worktree", "add", "-q", "--detach", trees[rev], rev], check=True)
        corpus = tmp / "in"
        write_flat_corpus(corpus, args.files)
        for number, tree in enumerate(trees.values()):
            subprocess.run(_cli(tree, "keygen", tmp / f"{number}.key"), check=True, capture_output=True)
        times: dict[str, list[float]] = {"plain": [], **{rev: [] for rev in trees}}
        for r in range(args.repeat):
            times["plain"].append(_timed([*PLAIN, "--in-dir", str(corpus), "--work", str(tmp / "plain")]))
            shutil.rmtree(tmp / "plain")
            for number, (rev, tree) in enumerate(trees.items()):
                work = tmp / f"work-{number}-{r}"
                run = ("run", corpus, work / "out", "--key-file", tmp / f"{number}.key", "--vault", work / "vault.db")
                times[rev].append(_timed(_cli(tree, *run, "--workers", "1")))
                shutil.rmtree(work)
        base = statistics.median(times["plain"])
        print(f"\n{args.files} files (128x128), median of {args.repeat} runs")
        for name, runs in times.items():
            seconds = statistics.median(runs)
            label = "pydicom read+write" if name == "plain" else f"run --workers 1 at {name}"
            print(f"{label:40s} {args.files / seconds:7.1f} files/s  ratio {base / seconds:5.2f}")
    finally:
        for rev, tree in trees.items():
            if rev != "HEAD":
                subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
