"""Every pydicom bundled test file that pydicom reads goes through both built-in profiles."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pydicom
import pytest

from anonymizer.engine.plan import Plan
from anonymizer.keys.secret import Secret
from anonymizer.pipeline.worker import prepare
from anonymizer.pipeline.writer import write_atomic
from anonymizer.pixels.rules import flagged
from anonymizer.profile.loader import load_profile
from anonymizer.testing import template_path
from tests.conftest import cli, make_key

DATA = Path(template_path("CT_small.dcm")).parent  # the folder shipped inside pydicom


def readable() -> list[Path]:
    found = []
    for path in sorted(p for p in DATA.iterdir() if p.is_file()):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pydicom.dcmread(path)
        except Exception:
            continue
        found.append(path)
    return found


FILES = readable()
# Files that pydicom reads but that are not complete DICOM objects: each must fail with
# this reason (and write nothing) instead of crashing or being written half-done.
EXPECTED_FAILURES = {
    "MR_truncated.dcm": "truncated",
    "rtplan_truncated.dcm": "truncated",
    # bare datasets (no SOP Instance UID): nothing to name or reference an output by
    "UN_sequence.dcm": "missing-sop-instance-uid",
    "empty_charset_LEI.dcm": "missing-sop-instance-uid",
    "meta_missing_tsyntax.dcm": "missing-sop-instance-uid",
    "nested_priv_SQ.dcm": "missing-sop-instance-uid",
    "no_meta_group_length.dcm": "missing-sop-instance-uid",
    "priv_SQ.dcm": "missing-sop-instance-uid",
}


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["basic", "research"])
def test_every_bundled_file(profile: str, tmp_path: Path) -> None:
    assert len(FILES) > 60
    plan, secret = Plan(load_profile(profile)), Secret(os.urandom(32))
    quarantined: list[str] = []
    certified: list[str] = []
    outcomes: dict[str, str] = {}
    for ordinal, path in enumerate(FILES, 1):
        result, ds = prepare(ordinal, path, plan, secret)
        outcomes[path.name] = result.reason or result.status
        if result.reason in ("burned-in", "burned-in-residual"):  # fail closed, and only on flagged images
            source = pydicom.dcmread(path, force=True)
            assert flagged(source) and "PixelData" in source, path.name
            quarantined.append(path.name)
        elif ds is not None and profile == "research" and flagged(pydicom.dcmread(path, force=True)):
            certified.append(path.name)  # research runs the loop: shipped only when certified clean
            assert ds.BurnedInAnnotation == "NO", path.name
        if ds is None:
            continue
        out = tmp_path / f"{ordinal}.dcm"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            write_atomic(ds, out)
            again = pydicom.dcmread(out)
            for elem in again.iterall():
                _ = elem.value
        assert again.PatientIdentityRemoved == "YES"
        assert again.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
        assert again.file_meta.MediaStorageSOPInstanceUID == again.SOPInstanceUID
    unexpected = {
        name: outcome
        for name, outcome in outcomes.items()
        if outcome != "done"
        and EXPECTED_FAILURES.get(name) != outcome
        and outcome not in ("dicomdir", "not-dicom", "burned-in", "burned-in-residual")
    }
    assert not unexpected
    assert len(quarantined) + len(certified) > 10  # capture modalities (US, OT, SC) without BurnedInAnnotation NO
    print(f"{profile}: {len(certified)} certified clean, {len(quarantined)} quarantined")


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["basic", "research"])
def test_verify_finds_nothing_in_correct_outputs_of_every_bundled_file(profile: str, tmp_path: Path) -> None:
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    for n, path in enumerate(FILES):
        (in_dir / f"{n:03d}_{path.name}").write_bytes(path.read_bytes())
    key, out = make_key(tmp_path), tmp_path / "out"
    run = cli("run", in_dir, out, "--profile", profile, "--key-file", key, "--vault", tmp_path / "v.db")
    assert run.exit_code in (0, 1), run.output  # some bundled files fail on purpose (see EXPECTED_FAILURES)
    result = cli("verify", out, "--against", in_dir, "--profile", profile, "--json", tmp_path / "f.json")
    content = json.loads((tmp_path / "f.json").read_text())
    assert content["files"] > 15 and content["inputs"]["read"] > 60  # the rest quarantined or failed on purpose
    assert content["findings"] == [], content["findings"][:5]
    assert result.exit_code == 0 and content["clean"]
