"""Burned-in text (issue 15): the closed loop finds every line or quarantines; no false "clean"; keep says NO.

The images are those of the issue: light text on a light 512x512 8-bit OT page, a
patient's name, ID and date on 128x128 16-bit CT (signed, in HU) and 64x64 16-bit MR,
and multi-frame RGB ultrasound. Every test that runs the detector fails (never skips)
where ANONYMIZER_REQUIRE_OCR is set, as in CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from anonymizer.evidence.manifest import MANIFEST
from anonymizer.pixels import detect, redact
from anonymizer.pixels.loop import Settings, TextDetector
from anonymizer.pixels.rules import PixelPolicy
from tests.burned import MR_CLASS, SC_CLASS, US_CLASS, _base, _image_attrs, background, draw_text, save
from tests.conftest import cli, output_files
from tests.test_pixels import _ocr_ready, decoded

CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
LINES = ["DOE^JANE SNTBURN", "SWC-0012345678", "1961-07-23"]


def _ot_light(seed: int) -> tuple[FileDataset, np.ndarray]:
    """512x512 8-bit OT: light text ~12% of the range above a light, textured page."""
    ds = _base(SC_CLASS, "OT", ExplicitVRLittleEndian)
    _image_attrs(ds, 512, 512, 1, 8, False, "MONOCHROME2")
    ink, _ = draw_text((512, 512), LINES, (10 + 20 * seed, 10), 13)
    rng = np.random.default_rng(seed)
    page = 200 + background(512, 512, 8, seed) + rng.normal(0, 2, (512, 512))
    page[ink] = 232
    ds.PixelData = np.clip(page, 0, 255).astype(np.uint8).tobytes()
    return ds, ink


def _ct(signed: bool, seed: int) -> tuple[FileDataset, np.ndarray]:
    """128x128 16-bit CT (HU when signed): name, ID and date in the 6x11 bitmap font, top left."""
    ds = _base(CT_CLASS, "CT", ExplicitVRLittleEndian)
    _image_attrs(ds, 128, 128, 1, 16, signed, "MONOCHROME2")
    ds.BitsStored, ds.HighBit = 12, 11
    ink, _ = draw_text((128, 128), [LINES[0][:12], LINES[1], LINES[2]], (2, 2), None)
    pixels = background(128, 128, 2000, seed) - (1024 if signed else 0)
    pixels[ink] = 2047 if signed else 4095
    ds.PixelData = pixels.astype(np.int16 if signed else np.uint16).tobytes()
    return ds, ink


def _mr_64() -> tuple[FileDataset, np.ndarray]:
    """64x64 16-bit MR: ID and date in the bitmap font, bottom left."""
    ds = _base(MR_CLASS, "MR", ExplicitVRLittleEndian)
    _image_attrs(ds, 64, 64, 1, 16, False, "MONOCHROME2")
    ink, _ = draw_text((64, 64), ["0012345", "23.07.61"], (1, 36), None)
    pixels = background(64, 64, 1500, 11)
    pixels[ink] = 3000
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    return ds, ink


def _us_rgb(frames: int = 4) -> tuple[FileDataset, np.ndarray]:
    """Multi-frame RGB ultrasound: yellow name and date in the top rows of every frame, no regions."""
    ds = _base(US_CLASS, "US", ExplicitVRLittleEndian)
    _image_attrs(ds, 120, 160, 3, 8, False, "RGB")
    ds.NumberOfFrames = frames
    ink, _ = draw_text((120, 160), [LINES[0], LINES[2]], (4, 3), 11)
    stack = []
    for f in range(frames):
        grey = background(120, 160, 180, f)
        rgb = np.stack([grey, grey // 2, grey], axis=-1)
        rgb[ink] = (255, 255, 0)
        stack.append(rgb)
    ds.PixelData = np.stack(stack).astype(np.uint8).tobytes()
    return ds, ink


def _issue_images() -> dict[str, tuple[FileDataset, np.ndarray]]:
    return {
        "ot": _ot_light(0),
        "ct-signed": _ct(True, 3),
        "ct-unsigned": _ct(False, 4),
        "mr": _mr_64(),
        "us": _us_rgb(),
    }


def _write(folder: Path, cases: dict[str, tuple[FileDataset, np.ndarray]]) -> None:
    folder.mkdir()
    for name, (ds, _) in cases.items():
        ds.Manufacturer = name  # kept by research: tells the outputs apart
        save(ds, str(folder / f"{name}.dcm"))


def _outputs(out: Path) -> dict[str, pydicom.Dataset]:
    return {str(pydicom.dcmread(p).Manufacturer): pydicom.dcmread(p) for p in output_files(out)}


def test_ocr_never_claims_clean_pixels_that_are_not(tmp_path: Path, key_file: Path) -> None:
    """Issue 15, second bullet: under --burned-in ocr, text stayed readable behind BurnedInAnnotation NO + 113101."""
    _ocr_ready()
    cases = _issue_images()
    _write(tmp_path / "in", cases)
    args = ("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--burned-in", "ocr")
    result = cli(*args, "--log-format", "json")
    outputs = _outputs(tmp_path / "out")
    for name, out in outputs.items():
        after = decoded(out)
        ink = cases[name][1]
        fill = int(after[:, ink, :].min())
        assert (after[:, ink, :] == fill).all(), f"{name}: ink left behind a clean claim"
        assert out.BurnedInAnnotation == "NO"
        assert "113101" in [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
        assert fill == after.min()  # filled with the darkest value, not a lucky match of the ground
    events = [json.loads(x) for x in result.output.splitlines() if x.startswith("{")]
    failed = {e["ordinal"]: e["reason"] for e in events if e.get("status") == "failed"}
    assert set(failed.values()) <= {"burned-in-residual"}
    assert len(outputs) + len(failed) == len(cases)
    assert len(outputs) >= 4, failed  # the loop delivers the issue's images, it does not just refuse them


def test_keep_says_identity_not_removed_while_burned_in_annotation_is_yes(tmp_path: Path, key_file: Path) -> None:
    """Issue 15, third bullet: --burned-in keep wrote PatientIdentityRemoved YES over burned-in text."""
    (tmp_path / "in").mkdir()
    flagged, _ = _ct(True, 1)
    save(flagged, str(tmp_path / "in" / "a.dcm"))
    unflagged, _ = _ct(False, 2)
    unflagged.BurnedInAnnotation = "NO"
    save(unflagged, str(tmp_path / "in" / "b.dcm"))
    result = cli("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--burned-in", "keep")
    assert result.exit_code == 0, result.output
    marks = sorted(
        (str(pydicom.dcmread(p).BurnedInAnnotation), pydicom.dcmread(p).PatientIdentityRemoved)
        for p in output_files(tmp_path / "out")
    )
    assert marks == [("NO", "YES"), ("YES", "NO")]
    verdict = cli("verify", tmp_path / "out")
    assert verdict.exit_code == 1  # the rule check reports PatientIdentityRemoved not YES


def test_default_quarantine_says_where_the_images_went(tmp_path: Path, key_file: Path) -> None:
    """Issue 15, first bullet: images held back for their pixels vanished without a word on where.

    The policy was research's default then; it is ``--burned-in quarantine`` now (research runs the loop).
    """
    (tmp_path / "in").mkdir()
    for i in range(3):
        ds, _ = _ct(bool(i % 2), i)
        ds.Modality = "OT"
        save(ds, str(tmp_path / "in" / f"{i}.dcm"))
    args = ("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--burned-in", "quarantine")
    result = cli(*args, "--log-format", "text")
    assert result.exit_code == 1
    assert output_files(tmp_path / "out") == []
    said = result.stderr
    assert "3 files may hold burned-in text" in said
    assert "anonymizer failures OUT" in said and "--burned-in ocr" in said and "--quarantine DIR" in said
    listed = cli("failures", tmp_path / "out")
    assert listed.output.count("burned-in") == 3


def test_flagged_yes_and_nothing_found_is_not_clean(tmp_path: Path, key_file: Path) -> None:
    """Fail closed: the owner says there is text, the detector sees none -> quarantine, unless a rule covers it."""
    _ocr_ready()
    (tmp_path / "in").mkdir()
    blank = _base(SC_CLASS, "OT", ExplicitVRLittleEndian)
    _image_attrs(blank, 96, 96, 1, 8, False, "MONOCHROME2")
    blank.PixelData = (
        (np.full((96, 96), 40) + np.random.default_rng(0).normal(0, 1, (96, 96))).astype(np.uint8).tobytes()
    )
    save(blank, str(tmp_path / "in" / "yes.dcm"))
    del blank.BurnedInAnnotation  # OT without the attribute: flagged, examined, certified when nothing is found
    blank.SOPInstanceUID = blank.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    save(blank, str(tmp_path / "in" / "absent.dcm"))
    result = cli(
        "run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--burned-in", "ocr", "--log-format", "json"
    )
    events = [json.loads(x) for x in result.output.splitlines() if x.startswith("{")]
    assert [(e["ordinal"], e["reason"]) for e in events if e.get("status") == "failed"] == [(2, "burned-in-residual")]
    (out,) = output_files(tmp_path / "out")
    assert pydicom.dcmread(out).BurnedInAnnotation == "NO"


def test_loop_that_cannot_finish_quarantines() -> None:
    """Text still found after the last allowed pass is residual: the verdict refuses to certify."""
    _ocr_ready()
    ds, ink = _ct(False, 5)
    frames = decoded(ds)
    result = TextDetector("boxes", Settings(max_passes=0)).run(frames, "MONOCHROME2")
    assert result.residual and not result.boxes and not result.certified
    assert redact.verdict(result, says_yes=True, covered=False) == "text left after 1 passes"
    with pytest.raises(Exception) as info:
        redact.apply(ds, PixelPolicy(burned_in="ocr"), lambda mode: TextDetector(mode, Settings(max_passes=0)))
    assert getattr(info.value, "reason", "") == "burned-in-residual"
    full = TextDetector("boxes").run(frames, "MONOCHROME2")
    assert full.certified and detect.mask_of(full.boxes, ink.shape)[ink].all()


def test_text_inside_an_ultrasound_region_is_found_too(tmp_path: Path, key_file: Path) -> None:
    """The ultrasound-regions rule blanks outside the regions; the loop finds text overlaid inside one."""
    _ocr_ready()
    ds, _ = _us_rgb(2)
    region = Dataset()
    region.RegionLocationMinX0, region.RegionLocationMinY0, region.RegionLocationMaxX1, region.RegionLocationMaxY1 = (
        0,
        30,
        159,
        119,
    )
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    inside, _ = draw_text((120, 160), ["SNTBURN 0012345"], (20, 70), 11)
    pixels = decoded(ds)
    pixels[:, inside, :] = (255, 255, 255)
    ds.PixelData = pixels.astype(np.uint8).tobytes()
    _write(tmp_path / "in", {"us": (ds, inside)})
    result = cli("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--burned-in", "ocr")
    assert result.exit_code == 0, result.output
    (out,) = output_files(tmp_path / "out")
    after = decoded(pydicom.dcmread(out))
    assert (after[:, :30, :, :] == 0).all()  # the rule: outside the region
    assert (after[:, inside, :] == 0).all()  # the loop: the text inside it
    assert after[:, 100:, :, :].any()  # the image inside the region is still there
    entry = json.loads((tmp_path / "out" / MANIFEST).read_text())["files"][0]
    assert [r["source"] for r in entry["pixels"]] == ["rule", "ocr"]


def test_verify_pixels_reports_text_boxes_and_values_only_on_request(tmp_path: Path, key_file: Path) -> None:
    _ocr_ready()
    ds, ink = _ct(True, 7)
    _write(tmp_path / "in", {"ct": (ds, ink)})
    assert cli("run", tmp_path / "in", tmp_path / "kept", "--key-file", key_file, "--burned-in", "keep").exit_code == 0
    found = cli("verify", tmp_path / "kept", "--pixels")
    assert found.exit_code == 1
    rows = [x.split("\t") for x in found.output.splitlines() if "burned-in text" in x]
    assert rows and all(len(r) == 3 and r[1].startswith("pixels [") for r in rows)
    ys, xs = np.nonzero(ink)
    boxes = [json.loads(r[1].removeprefix("pixels ")) for r in rows]
    assert any(x <= xs.min() + 8 and y <= ys.min() + 8 for x, y, _, _ in boxes)
    shown = cli("verify", tmp_path / "kept", "--pixels", "--show-values")
    assert any(
        len(x.split("\t")) == 4 and any(c.isdigit() for c in x.split("\t")[3]) for x in shown.output.splitlines()
    )
    assert (
        cli(
            "run", tmp_path / "in", tmp_path / "clean", "--key-file", key_file, "--burned-in", "ocr", "--verify"
        ).exit_code
        == 0
    )
    again = cli("verify", tmp_path / "clean", "--pixels")
    assert again.exit_code == 0, again.output
