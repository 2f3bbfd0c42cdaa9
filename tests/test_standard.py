"""The generated standard tables: reproducible from shared/data, checksummed, correct."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from anonymizer import standard

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "anonymizer" / "standard"
SHARED = ROOT.parent / "shared" / "data"
GENERATED = ("attributes.json", "supplement.json", "iod_types.json", "private_tags.json", "methods.json")


def test_readme_checksums_match_the_committed_files() -> None:
    readme = (PACKAGE / "README.md").read_text()
    for name in GENERATED:
        digest = re.search(rf"`{re.escape(name)}`: `([0-9a-f]{{64}})`", readme)
        assert digest, name
        assert hashlib.sha256((PACKAGE / name).read_bytes()).hexdigest() == digest.group(1)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data is not beside this checkout")
def test_generator_reproduces_the_committed_tables(tmp_path: Path) -> None:
    script = ROOT / "tools" / "gen_standard.py"
    subprocess.run([sys.executable, script, "--data", SHARED, "--out", tmp_path], check=True)
    for name in (*GENERATED, "README.md"):
        assert (tmp_path / name).read_bytes() == (PACKAGE / name).read_bytes(), name


def test_table_rows_and_spot_checks() -> None:
    rows = {a.keyword or a.tag: a for a in standard.attributes()}
    assert len(standard.attributes()) == 621
    assert rows["PatientID"].basic == "Z/D" and rows["PatientName"].basic == "Z"
    assert rows["StudyInstanceUID"].basic == "U" and rows["StudyInstanceUID"].options["retain-uids"] == "K"
    assert rows["StudyDate"].options == {
        "retain-longitudinal-full-dates": "K",
        "retain-longitudinal-modified-dates": "C",
    }
    assert rows["InstitutionName"].basic == "X/Z/D"
    assert {"(50XX,XXXX)", "(60XX,3000)", "(60XX,4000)", "PRIVATE"} <= set(rows)
    assert standard.iod_for_sop_class("1.2.840.10008.5.1.4.1.1.2") == "ct-image"
    assert standard.attribute_type("PatientID", "ct-image", nested=False) == 2
    assert standard.private_dispositions()["0009|gems_iden_01|01"] == "k"
    assert standard.CID_7050["basic"] == ("113100", "Basic Application Confidentiality Profile")
    assert standard.CID_7050["clean-pixel-data"][0] == "113101" and len(standard.CID_7050) == 13
    assert len(standard.OPTIONS) == 10 and set(standard.OPTIONS) < set(standard.CID_7050)
