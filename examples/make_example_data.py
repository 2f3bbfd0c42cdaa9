"""Write a small synthetic multi-patient DICOM set with planted identifiers.

    python examples/make_example_data.py example-in [--patients 3] [--instances 2]

Templates are pydicom's bundled test files (every common transfer syntax, RT Plan,
RT Dose, SR); identifiers are synthetic (``SNT...``), put into standard, nested,
private, file-meta and free-text elements. Input folder names hold identifiers on
purpose: the output must not.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from anonymizer.testing import write_sample


def main() -> None:
    parser = argparse.ArgumentParser(description="Write synthetic DICOM with planted identifiers.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--patients", type=int, default=3)
    parser.add_argument("--instances", type=int, default=2)
    args = parser.parse_args()
    sample = write_sample(args.out, args.patients, args.instances)
    (args.out / "NOTES.txt").write_text("Not a DICOM file: the run skips and counts it.\n")
    print(f"wrote {len(sample.files)} DICOM files for {len(sample.patients)} patients to {args.out}")


if __name__ == "__main__":
    main()
