"""Malformed inputs never stop the batch: 600 seeded variants of bundled files among valid ones.

Truncations, byte flips, corrupt length fields, unterminated sequences and corrupt pixel
fragments under a pixel rule that fires. Every valid file is done; every malformed one
is done or fails with a documented reason; the run never dies and prints no traceback.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

from anonymizer.errors import REASONS
from anonymizer.testing import write_flat_corpus
from tests.integrity import process

SOURCES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "JPEG2000.dcm",
    "SC_rgb_rle.dcm",
    "MR_small_bigendian.dcm",
    "rtplan.dcm",
    "image_dfl.dcm",
)
VARIANTS = 600
SEQUENCE_END, ITEM_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00", b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"


def _mutate(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    parsed = pydicom.dcmread(io.BytesIO(raw), force=True)._dict.values()
    offsets = [e.value_tell for e in parsed if getattr(e, "value_tell", None)]
    kind = rng.randrange(5)
    if kind == 0:  # truncation
        return bytes(data[: rng.randrange(132, len(data))])
    if kind == 1:  # byte flips anywhere
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(132, len(data))] = rng.randrange(256)
    elif kind == 2 and offsets:  # a length field made wrong
        at = rng.choice(offsets) - 4
        data[at : at + 4] = rng.choice([b"\xff\xff\xff\x7f", b"\x00\x00\x00\x10", rng.randbytes(4)])
    elif kind == 3:  # an unterminated sequence or item
        for marker in (SEQUENCE_END, ITEM_END):
            at = data.find(marker)
            if at >= 0:
                del data[at : at + len(marker)]
                break
        else:
            return bytes(data[: len(data) - rng.randrange(1, 64)])
    else:  # corrupt pixel fragments (the rule below makes every image decode)
        start = max(offsets) if offsets else 132
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(start, len(data))] = rng.randrange(256)
    return bytes(data)


def _unique(name: str, n: int) -> bytes:
    """A bundled file with its own SOP Instance UID (so variants do not conflict with one another)."""
    ds = pydicom.dcmread(get_testdata_file(name))
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.10.543.9.{n}"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def test_600_malformed_variants_among_valid_files_never_stop_the_run(tmp_path: Path, key_file: Path) -> None:
    rng = random.Random(20261204)
    in_dir = tmp_path / "in"
    write_flat_corpus(in_dir / "valid", 40)
    (in_dir / "bad").mkdir()
    for n in range(VARIANTS):
        name = SOURCES[n % len(SOURCES)]
        (in_dir / "bad" / f"{n:04d}-{name}").write_bytes(_mutate(_unique(name, n), rng))
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "name: fuzz\nextends: research\npixels:\n  burned_in: keep\n  rules:\n"
        "    - {name: corner, when: {Modality: '*'}, redact: [[0, 0, 2, 2]]}\n"
    )
    done = process(
        "run", in_dir, tmp_path / "out", "--key-file", key_file, "--profile", profile, "--workers", "2",
        "--log-format", "json", "--file-timeout", "60",
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert "Warning" not in done.stderr and "1.2.8" not in done.stderr  # pydicom's warnings quote values
    events = [json.loads(line) for line in done.stdout.splitlines()]
    summary = events[-1]
    assert summary["event"] == "run-finished"
    files = [e for e in events if e["event"] == "file"]
    assert len(files) == 40 + VARIANTS
    valid = [e for e in files if e["ordinal"] > VARIANTS]  # "valid/" sorts after "bad/"
    assert all(e["status"] == "done" for e in valid)
    reasons = {e["reason"] for e in files if e["status"] != "done"}
    assert reasons <= set(REASONS), reasons - set(REASONS)
    assert sum(summary["failed"].values()) + sum(summary["skipped"].values()) + summary["done"] == len(files)
