"""The burned-in text benchmark's CI set: 60 text images across every kind + 10 without text.

``benchmarks/ocr_recall.py --size 60 --mode boxes`` in-process: no image may be certified
clean with a line left (absolute), and at least 97% of the lines must be removed over
delivered and quarantined images together. The set is the same on every machine with
the fonts ``.ci/run`` installs (checked here: a missing font would change the images).
"""

from __future__ import annotations

from anonymizer.pixels.loop import Settings
from benchmarks import ocr_recall, synth
from tests.test_pixels import _ocr_ready


def test_ci_set_has_no_false_clean_claim_and_removes_97_percent_of_lines() -> None:
    _ocr_ready()
    assert len(synth.FONTS) == 12, "the benchmark's fonts: fonts-dejavu-core fonts-urw-base35 fonts-noto-mono"
    records = ocr_recall.run("boxes", 60, 10, Settings(), (0, 1), None, False)
    text = [r for r in records if r["text"]]
    assert {r["photometric"] for r in text} == {"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL_422"}
    assert {(r["bits"], r["signed"]) for r in text} >= {
        (8, False),
        (8, True),
        (12, False),
        (12, True),
        (16, False),
        (16, True),
    }
    assert min(min(r["rows"], r["cols"]) for r in text) == 64 and max(max(r["rows"], r["cols"]) for r in text) == 1024
    assert any(r["frames"] > 1 for r in text) and any(r["frames"] == 1 for r in text)
    lines = [x for r in text for x in r["lines"]]
    assert {x["place"] for x in lines} == {"tl", "tr", "bl", "br", "centre", "rot90"}
    assert {x["contrast"] for x in lines} == {"high", "bar", "light", "dark", "sat"}
    out = ocr_recall.summarise("boxes", records)
    assert out["false_clean"] == 0, out["false_clean_cases"]
    assert out["lines_removed"] >= 0.97
