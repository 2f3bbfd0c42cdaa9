"""Burned-in text: rules fill their boxes in every frame and codec, nothing else changes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from anonymizer.dicom.encoder import encode
from anonymizer.engine.plan import Plan
from anonymizer.errors import ProfileError
from anonymizer.evidence.manifest import MANIFEST
from anonymizer.keys.secret import Secret
from anonymizer.pipeline.worker import prepare, with_burned_in
from anonymizer.pixels import detect, redact
from anonymizer.pixels.rules import PixelPolicy, builtin_set, parse_rule
from anonymizer.profile.loader import load_profile
from tests.burned import FACTORIES, mr_16bit, save, us_rgb_multiframe
from tests.conftest import cli, output_files

LOSSY = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91"}


def profile_with(tmp_path: Path, pixels: str, base: str = "research") -> Path:
    path = tmp_path / "px.yaml"
    path.write_text(f"name: px\nextends: {base}\npixels:\n{pixels}", encoding="utf-8")
    return path


def decoded(ds: pydicom.Dataset) -> np.ndarray:
    """(frames, rows, columns, samples) as pydicom displays it."""
    arr = ds.pixel_array
    return arr.reshape(int(ds.get("NumberOfFrames", 1) or 1), ds.Rows, ds.Columns, int(ds.SamplesPerPixel))


def test_rule_fills_the_box_in_every_frame_and_codec(tmp_path: Path, key_file: Path) -> None:
    (tmp_path / "in").mkdir()
    cases = {}
    for name, factory in FACTORIES.items():
        ds, box, _ = factory()
        ds.Manufacturer = f"ACME {name}"
        save(ds, str(tmp_path / "in" / f"{name}.dcm"))
        cases[name] = (box, decoded(pydicom.dcmread(tmp_path / "in" / f"{name}.dcm")))
    rules = "".join(
        f"    - name: {name}\n      when: {{Manufacturer: 'acme {name}'}}\n"
        f"      redact: [[{x - 1}, {y - 1}, {w + 2}, {h + 2}]]\n"
        for name, ((x, y, w, h), _) in cases.items()
    )
    profile = profile_with(tmp_path, "  rules:\n" + rules, base="basic")
    result = cli("run", tmp_path / "in", tmp_path / "out", "--profile", profile, "--key-file", key_file)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert len(manifest["files"]) == len(FACTORIES)
    for entry in manifest["files"]:
        out = pydicom.dcmread(tmp_path / "out" / entry["path"])
        name = entry["pixels"][0]["name"]
        (x, y, w, h), before = cases[name]
        after = decoded(out)  # the output is valid and decodes
        assert after.shape == before.shape
        inside = np.zeros(after.shape[1:3], dtype=bool)
        inside[y - 1 : y + h + 1, x - 1 : x + w + 1] = True
        assert (after[:, inside, :] == after.min()).all(), name  # filled black in every frame and sample
        assert after[:, inside, :].min() == 0 or out.PixelRepresentation == 1
        assert np.array_equal(after[:, ~inside, :], before[:, ~inside, :]), name  # nothing else changed
        assert out.file_meta.TransferSyntaxUID not in LOSSY
        assert out.BurnedInAnnotation == "NO"
        assert "113101" in [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
        assert entry["pixels"][0]["redact"] == [[x - 1, y - 1, w + 2, h + 2]]
        if name == "ybr-jpeg":
            assert out.LossyImageCompression == "01"  # it went through a lossy codec once; still true
            assert out.PhotometricInterpretation == "RGB"
        if name == "big-endian":
            assert out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        data = (tmp_path / "out" / entry["path"]).read_bytes()
        assert b"SNTBURN" not in data and b"DOE^JANE" not in data


def test_quarantine_policy_fails_flagged_objects_no_rule_covers(tmp_path: Path, key_file: Path) -> None:
    (tmp_path / "in").mkdir()
    ds, _, _ = mr_16bit()
    save(ds, str(tmp_path / "in" / "a.dcm"))  # BurnedInAnnotation YES, no pixel rule
    us, _, _ = us_rgb_multiframe()
    del us.BurnedInAnnotation  # US without the attribute (nor calibrated regions): flagged as well
    del us.SequenceOfUltrasoundRegions
    save(us, str(tmp_path / "in" / "b.dcm"))
    args = ("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--burned-in", "quarantine")
    result = cli(*args, "--log-format", "json")
    assert result.exit_code == 1
    events = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    failed = [e for e in events if e.get("status") == "failed"]
    assert sorted(e["ordinal"] for e in failed) == [1, 2]
    assert {e["reason"] for e in failed} == {"burned-in"}
    assert output_files(tmp_path / "out") == []
    assert "SNTBURN" not in result.output


def test_research_falls_back_to_quarantine_where_the_detector_cannot_run(
    tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Research's ocr default becomes quarantine, with a warning; an explicit --burned-in ocr is refused."""
    monkeypatch.setattr(detect, "unavailable", lambda: "text detection needs OpenCV and onnxruntime")
    (tmp_path / "in").mkdir()
    ds, _, _ = mr_16bit()
    save(ds, str(tmp_path / "in" / "a.dcm"))  # BurnedInAnnotation YES, no pixel rule
    args = ("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file)
    result = cli(*args, "--log-format", "json")
    assert result.exit_code == 1 and "burned_in falls back to quarantine" in result.stderr
    events = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [e["reason"] for e in events if e.get("status") == "failed"] == ["burned-in"]
    assert output_files(tmp_path / "out") == []
    refused = cli(*args, "--burned-in", "ocr")
    assert refused.exit_code == 2 and "text detection needs" in refused.output


def test_keep_policy_ships_flagged_pixels_unchanged(tmp_path: Path, key_file: Path) -> None:
    (tmp_path / "in").mkdir()
    ds, _, _ = mr_16bit()
    save(ds, str(tmp_path / "in" / "a.dcm"))
    args = ("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--burned-in", "keep")
    assert cli(*args).exit_code == 0
    (out,) = output_files(tmp_path / "out")
    written = pydicom.dcmread(out)
    assert written.PixelData == ds.PixelData
    assert written.BurnedInAnnotation == "YES"  # nothing was cleaned, and the file says so


def test_objects_no_rule_touches_keep_pixel_bytes_and_transfer_syntax(tmp_path: Path, key_file: Path, sample) -> None:  # type: ignore[no-untyped-def]
    profile = profile_with(tmp_path, "  rules: [deid-default, {name: never, when: {Modality: XA}, redact: [all]}]\n")
    in_dir = Path(sample.files[0]).parent.parent
    result = cli("run", in_dir, tmp_path / "out", "--profile", profile, "--key-file", key_file)
    assert result.exit_code == 0, result.output
    before = {}
    for path in sample.files:
        ds = pydicom.dcmread(path)
        if "PixelData" in ds:
            before[hashlib.md5(ds.PixelData).hexdigest()] = str(ds.file_meta.TransferSyntaxUID)
    after = {}
    for path in output_files(tmp_path / "out"):
        ds = pydicom.dcmread(path)
        if "PixelData" in ds:
            after[hashlib.md5(ds.PixelData).hexdigest()] = str(ds.file_meta.TransferSyntaxUID)
    assert len(before) >= 8
    assert after == before


def test_deid_rule_set_translated_and_applied(tmp_path: Path) -> None:
    rules = {rule.name: rule for rule in builtin_set("deid-default")}
    dose = rules["LightSpeed Dose Report"]
    ds = Dataset()
    ds.ManufacturerModelName, ds.Modality, ds.ImageType = "LightSpeed VCT", "CT", ["DERIVED", "SCREEN SAVE"]
    assert dose.when.holds(ds) and dose.redact == ((0, 0, 512, 121),)
    ds.ImageType, ds.SeriesDescription = ["ORIGINAL"], "dose info"  # the || alternative, case-insensitive
    assert dose.when.holds(ds)
    ds.Modality = "MR"
    assert not dose.when.holds(ds)
    assert "Stanford Med Reconstruction" not in rules  # flag-only entries (no coordinates) are not rules
    ultrasound = builtin_set("deid-ultrasound")
    assert [r.redact for r in ultrasound] == [("all",), ()]
    assert ultrasound[1].keep == ("ultrasound-regions",)


def test_generated_deid_rules_match_installed_deid(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent.parent / "tools"))
    import gen_deid_filters

    assert gen_deid_filters.main(["--out", str(tmp_path)]) == 0
    packaged = Path(__file__).parent.parent / "anonymizer" / "standard"
    for name in ("deid_filters.json", "deid_filters.md"):
        assert (tmp_path / name).read_text() == (packaged / name).read_text()


def test_ultrasound_regions_are_kept_and_everything_else_blanked() -> None:
    ds, box, _ = us_rgb_multiframe()
    before = decoded(ds).copy()
    policy = PixelPolicy(rules=builtin_set("deid-ultrasound"))
    outcome = redact.apply(ds, policy)
    assert outcome.status == "redacted"
    after = decoded(ds)
    region = ds.SequenceOfUltrasoundRegions[0]
    top = int(region.RegionLocationMinY0)
    assert (after[:, :top] == 0).all()  # the text rows above the region
    assert np.array_equal(after[:, top:], before[:, top:])  # the calibrated region itself
    assert box[1] + box[3] <= top


def test_fill_values_follow_photometric_interpretation_and_sign() -> None:
    signed, _, _ = mr_16bit(signed=True)
    rule = parse_rule({"name": "corner", "redact": [[0, 0, 4, 4]]}, "test")
    redact.apply(signed, PixelPolicy(rules=(rule,)))
    assert (decoded(signed)[0, :4, :4] == -32768).all()
    mono1, _, _ = mr_16bit()
    mono1.PhotometricInterpretation = "MONOCHROME1"
    redact.apply(mono1, PixelPolicy(rules=(rule,)))
    assert (decoded(mono1)[0, :4, :4] == 65535).all()  # black is the maximum in MONOCHROME1
    white, _, _ = mr_16bit()
    redact.apply(white, PixelPolicy(rules=(rule,), fill="max"))
    assert (decoded(white)[0, :4, :4] == 65535).all()


def test_overlay_bits_inside_the_box_are_cleared() -> None:
    ds, _, _ = mr_16bit(size=64)
    for element, vr, value in [(0x10, "US", 64), (0x11, "US", 64), (0x50, "SS", [1, 1]), (0x40, "CS", "G")]:
        ds.add_new(0x6000 << 16 | element, vr, value)
    ds.add_new(0x6000 << 16 | 0x0100, "US", 1)
    ds.add_new(0x6000 << 16 | 0x0102, "US", 0)
    ds.add_new(0x60003000, "OW", b"\xff" * (64 * 64 // 8))
    rule = parse_rule({"name": "corner", "redact": [[0, 0, 16, 8]]}, "test")
    redact.apply(ds, PixelPolicy(rules=(rule,)))
    from pydicom.pixels.utils import unpack_bits

    bits = np.asarray(unpack_bits(ds[0x60003000].value)).reshape(64, 64)
    assert not bits[:8, :16].any() and bits[8:, :].all() and bits[:, 16:].all()


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        ("  colour: red\n", "unknown key 'colour' in pixels"),
        ("  burned_in: maybe\n", "pixels.burned_in must be one of"),
        ("  rules:\n    - name: x\n      redact: [[0, 0, -1, 5]]\n", "a box in 'redact'"),
        ("  rules:\n    - name: x\n      when: {Manufactur: GE}\n      redact: [all]\n", "unknown attribute keyword"),
        ("  rules: [deid-everything]\n", "no built-in pixel rule set"),
        ("  rules:\n    - name: x\n      when: {Modality: 're:('}\n      redact: [all]\n", "invalid regular"),
    ],
)
def test_pixel_section_errors_name_file_and_line(tmp_path: Path, pixels: str, message: str) -> None:
    path = profile_with(tmp_path, pixels)
    with pytest.raises(ProfileError, match=message) as info:
        load_profile(str(path))
    assert info.value.line is not None and info.value.line >= 4


def test_burned_in_override_reaches_the_worker(tmp_path: Path) -> None:
    ds, _, _ = mr_16bit()
    save(ds, str(tmp_path / "a.dcm"))
    plan = Plan(with_burned_in(load_profile("research"), "quarantine"))
    result, written = prepare(1, tmp_path / "a.dcm", plan, Secret(bytes(32)))
    assert result.reason == "burned-in" and written is None
    assert "no pixel rule covers it" in result.detail and "SNTBURN" not in result.detail


@pytest.mark.slow
def test_every_bundled_image_redacts_in_its_codec() -> None:
    """Each pydicom bundled image that pydicom decodes: corner filled, rest equal, output decodes."""
    from tests.test_bundled import FILES

    rule = parse_rule({"name": "corner", "redact": [[0, 0, 6, 5]]}, "test")
    checked = []
    for path in FILES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            if "PixelData" not in ds or "SOPInstanceUID" not in ds:
                continue
            try:
                before = decoded(ds).copy()
            except Exception:
                continue  # pydicom itself cannot decode it; our reason code is tested elsewhere
            redact.apply(ds, PixelPolicy(rules=(rule,)))
            again = pydicom.dcmread(io.BytesIO(encode(ds)))
            after = decoded(again)
        assert str(again.file_meta.TransferSyntaxUID) not in LOSSY, path.name
        assert after.shape == before.shape, path.name
        assert (after[:, :5, :6] == after[0, 0, 0]).all(), path.name
        assert np.array_equal(after[:, 5:], before[:, 5:]), path.name
        assert np.array_equal(after[:, :, 6:], before[:, :, 6:]), path.name
        checked.append(path.name)
    assert len(checked) > 40


def _ocr_ready() -> None:
    """OCR tests run wherever the detector can run; CI sets ANONYMIZER_REQUIRE_OCR so they never skip there."""
    why = detect.unavailable()
    if why and os.environ.get("ANONYMIZER_REQUIRE_OCR"):
        pytest.fail(why)
    if why:
        pytest.skip(why)


def test_ocr_policy_finds_and_redacts_drawn_names_and_dates(tmp_path: Path, key_file: Path) -> None:
    _ocr_ready()
    (tmp_path / "in").mkdir()
    inputs = {
        "small": mr_16bit(128, text_size=None),  # 6x11 bitmap font on a 128x128 image
        "large": mr_16bit(512, text_size=13),
        "us": us_rgb_multiframe(3, text_size=11),
    }
    ink = {}
    for name, (ds, _, _) in inputs.items():
        ds.Manufacturer = name
        if "SequenceOfUltrasoundRegions" in ds:
            del ds.SequenceOfUltrasoundRegions
        before = decoded(ds)
        ink[name] = before[0, :, :, 0] == before[0, :, :, 0].max()  # text is the brightest red/grey
        save(ds, str(tmp_path / "in" / f"{name}.dcm"))
    args = ("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--burned-in", "ocr")
    result = cli(*args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert len(manifest["files"]) == 3
    for entry in manifest["files"]:
        out = pydicom.dcmread(tmp_path / "out" / entry["path"])
        name = str(pydicom.dcmread(tmp_path / "in" / f"{out.get('Manufacturer')}.dcm").Manufacturer)
        after = decoded(out)
        assert ink[name].sum() > 200
        assert (after[:, ink[name], :] == 0).all(), name  # every ink pixel of both lines, in every frame
        assert entry["pixels"][0]["source"] == "ocr" and entry["pixels"][0]["redact"]
        assert out.BurnedInAnnotation == "NO"
