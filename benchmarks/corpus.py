"""Benchmark corpus: N files from one pydicom template, many patients, flat random names."""

from __future__ import annotations

import random
from pathlib import Path

import pydicom
from pydicom.uid import UID

from anonymizer.sample import _uid, plant, template_path


def write_corpus(out: Path, count: int, template: str = "CT_small.dcm", per_patient: int = 20) -> list[Path]:
    """Write ``count`` files named by random hex, ``per_patient`` instances per patient."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(count)
    source = pydicom.dcmread(template_path(template))
    paths = []
    for i in range(count):
        ds = source.copy()
        ds.file_meta = source.file_meta.copy()
        p, s = divmod(i, per_patient)
        sop = _uid("bench", i)
        ds.SOPInstanceUID, ds.file_meta.MediaStorageSOPInstanceUID = sop, UID(sop)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = _uid("bench-study", p), _uid("bench-series", p)
        ds.InstanceNumber = s + 1
        plant(ds, p, 0, f"I{s}")
        path = out / f"{rng.getrandbits(64):016x}"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
