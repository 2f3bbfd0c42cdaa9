"""Recall of ``anonymizer verify --against``: identifiers of the inputs planted back into clean outputs.

    python benchmarks/verify_recall.py [--patients 6] [--trials 600] [--seed 7] [--bundled]

Makes a synthetic sample (``anonymizer.testing.write_sample``), de-identifies it with the
``research`` profile, checks that the clean output gives no finding, then plants one
identifier of the inputs (a name, an ID, a date) into one output file per trial, in one
of these ways, and counts the trials verify finds it in that file:

* ``sr-nested``: a TextValue two sequence levels down; ``private-ob-utf16``: a private
  OB element holding UTF-16; ``private-lo``: a private LO element; ``glued``: the value
  glued to letters in ImageComments; ``date-moved``: an original date of an identifying
  attribute in ContentDate or a private DA (not one the profile keeps as is there);
  ``deflated``: the file re-saved as Deflated Explicit VR with the value in
  ImageComments; ``latin1-ob``: a private OB holding Latin-1 text.

With ``--bundled``, pydicom's bundled test files are also de-identified with ``research``
and verified (the count of findings must be 0). Exit 1 when recall < 99.5 % or a clean
output has a finding.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from anonymizer.engine.plan import Plan
from anonymizer.evidence.verify import collect, scan
from anonymizer.inputs import discover
from anonymizer.keys.secret import Secret
from anonymizer.pipeline.job import run_folder
from anonymizer.profile.loader import load_profile
from anonymizer.testing import write_sample

TARGET = 0.995
DEBUG = "--debug" in sys.argv
WAYS = ("sr-nested", "private-ob-utf16", "private-lo", "glued", "date-moved", "deflated", "latin1-ob")


@dataclass
class Result:
    """Recall per way of planting, findings on the clean outputs, printed lines."""

    found: dict[str, int]
    trials: dict[str, int]
    clean_findings: int
    lines: list[str]

    @property
    def recall(self) -> float:
        return sum(self.found.values()) / max(1, sum(self.trials.values()))

    @property
    def met(self) -> bool:
        return self.recall >= TARGET and self.clean_findings == 0


def _plant(ds: Dataset, way: str, value: str, rng: random.Random) -> None:
    if way == "sr-nested":
        inner = Dataset()
        inner.ValueType, inner.TextValue = "TEXT", f"Discussed with {value} today"
        outer = Dataset()
        outer.ValueType, outer.ContentSequence = "CONTAINER", Sequence([inner])
        ds.ContentSequence = Sequence([*ds.get("ContentSequence", []), outer])
    elif way == "private-ob-utf16":
        ds.add_new(0x00311001 + rng.randrange(0, 0x40), "OB", f"ref {value}".encode("utf-16-le"))
    elif way == "latin1-ob":
        ds.add_new(0x00331001 + rng.randrange(0, 0x40), "OB", f"ref {value}\x00".encode("latin-1", "replace"))
    elif way == "private-lo":
        ds.add_new(0x00351001 + rng.randrange(0, 0x40), "LO", f"note {value}"[:64])
    elif way == "glued":
        ds.ImageComments = f"x{value}y"
    elif way == "deflated":
        ds.ImageComments = f"seen {value}"
        ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    elif value.startswith("private:"):  # date-moved
        ds.add_new(0x00371001, "DA", value[8:])
    else:
        ds.ContentDate = value


def measure(patients: int, trials: int, seed: int, bundled: bool = False) -> Result:
    """Run the benchmark in a temporary folder."""
    rng = random.Random(seed)
    lines: list[str] = []
    plan = Plan(load_profile("research"))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        work = Path(tmp)
        sample = write_sample(work / "in", patients=patients)
        in_dir = sample.files[0].parents[1]
        run_folder(in_dir, work / "out", plan, Secret(os.urandom(32)), vault=work / "v.db", state=work / "state")
        ids = collect(discover(in_dir, work / "out"), plan)
        clean, files = scan(work / "out", ids)
        lines.append(f"clean research output: {len(clean)} findings in {files} files ({len(ids)} identifiers)")
        if bundled:
            clean += _bundled(work, plan, lines)
        names = sorted(k for k, kind in ids.tokens.items() if kind in ("person-name", "id") and k.isascii())
        dates = sorted(ids.dates)
        glued = sorted(k for keys in ids.glued.values() for k in keys)  # IDs with a run of 4+ digits
        outputs = sorted(p for p in (work / "out").rglob("*.dcm"))
        found = dict.fromkeys(WAYS, 0)
        done = dict.fromkeys(WAYS, 0)
        for trial in range(trials):
            way = WAYS[trial % len(WAYS)]
            value = rng.choice(dates if way == "date-moved" else glued if way == "glued" else names)
            if way == "date-moved":  # a date the profile keeps as is in that attribute is its decision
                where = "private" if rng.random() < 0.5 else "ContentDate"
                value = rng.choice([d for d in dates if d not in ids.kept_by.get(where, set())])
                value = f"private:{value}" if where == "private" else value
            if way != "date-moved" and rng.random() < 0.5:
                value = value.upper()
            source = rng.choice(outputs)
            folder = work / f"t{trial}"
            target = folder / source.relative_to(work / "out")
            target.parent.mkdir(parents=True)
            ds = pydicom.dcmread(source)
            _plant(ds, way, value, rng)
            if way == "deflated":
                pydicom.dcmwrite(target, ds, implicit_vr=False, little_endian=True)
            else:
                ds.save_as(target)
            hits, _ = scan(folder, ids)
            done[way] += 1
            found[way] += bool(hits)
            if not hits and DEBUG:
                print("missed", way, value)
            shutil.rmtree(folder)
    lines.append(f"{'way':<18} {'trials':>7} {'recall':>8}")
    for way in WAYS:
        lines.append(f"{way:<18} {done[way]:>7} {found[way] / max(1, done[way]):>8.2%}")
    result = Result(found, done, len(clean), lines)
    lines.append(f"{'all':<18} {sum(done.values()):>7} {result.recall:>8.2%}")
    lines.append("TARGETS MET" if result.met else "TARGETS NOT MET")
    return result


def _bundled(work: Path, plan: Plan, lines: list[str]) -> list[object]:
    """De-identify pydicom's bundled test files with ``plan`` and scan them against themselves."""
    from pydicom.data import get_testdata_files

    bundled = work / "bundled"
    bundled.mkdir()
    for n, name in enumerate(sorted(get_testdata_files("*.dcm"))):
        shutil.copy(name, bundled / f"{n:04d}_{Path(name).name}")
    run_folder(bundled, work / "bundled-out", plan, Secret(os.urandom(32)), vault=work / "bv.db", state=work / "bstate")
    ids = collect(discover(bundled, work / "bundled-out"), plan)
    found, files = scan(work / "bundled-out", ids)
    lines.append(f"pydicom bundled files, research: {len(found)} findings in {files} outputs")
    return list(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=6)
    parser.add_argument("--trials", type=int, default=700)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--debug", action="store_true", help="print each miss (values are synthetic)")
    parser.add_argument("--bundled", action="store_true", help="also verify pydicom's bundled files (slow)")
    args = parser.parse_args(argv)
    result = measure(args.patients, args.trials, args.seed, args.bundled)
    print("\n".join(result.lines))
    return 0 if result.met else 1


if __name__ == "__main__":
    sys.exit(main())
