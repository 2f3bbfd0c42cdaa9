"""Issue 14, "What was seen": free text cleaned at NER grade, and a verifier whose verdict can be trusted.

Each test builds the case the issue saw and asserts what must hold now.
"""

from __future__ import annotations

import io
import json
import shutil
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import DeflatedExplicitVRLittleEndian

from anonymizer.engine.apply import deidentify
from anonymizer.engine.plan import Plan
from anonymizer.keys.secret import Secret
from anonymizer.profile.loader import load_profile
from tests.conftest import cli, make_key, output_files
from tests.factory import SOP, dataset

SENTENCE = "seen by Dr. House at St. Mary's Hospital on 2019-03-04, SSN 123-45-6789, Jane Doe"
RESEARCH = Plan(load_profile("research"))


def _roundtrip(ds: pydicom.FileDataset, patch: tuple[bytes, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    return data.replace(*patch) if patch else data


def _cleaned(ds: pydicom.FileDataset, secret: Secret) -> pydicom.FileDataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pydicom.dcmread(io.BytesIO(_roundtrip(ds)))
        deidentify(out, RESEARCH, secret)
    return out


# -- bullet 1: clean misses names, institutions, local phone numbers ----------------------


def test_clean_replaces_every_piece_of_phi_in_the_issue_examples(secret: Secret) -> None:
    ds = dataset(SOP["SR"], ImageComments=SENTENCE, PatientComments="Tel 030 1234567; call 555-0187")
    ds.StudyDescription = "CT CHEST W/O CONTRAST"
    out = _cleaned(ds, secret)
    text = " ".join(str(out.get(k, "")) for k in ("ImageComments", "PatientComments"))
    for piece in ("House", "Mary", "2019", "6789", "Jane", "Doe", "1234567", "0187"):
        assert piece not in text
    assert "seen by Dr." in text  # the rest of the sentence stays
    assert out.StudyDescription == "CT CHEST W/O CONTRAST"  # clinical meaning kept


def test_verify_against_finds_a_name_left_in_cleaned_text(tmp_path: Path) -> None:
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    (in_dir / "a.dcm").write_bytes(_roundtrip(dataset(SOP["SR"], ImageComments=SENTENCE)))
    key = make_key(tmp_path)
    out = tmp_path / "out"
    assert cli("run", in_dir, out, "--key-file", key, "--vault", tmp_path / "v.db").exit_code == 0
    victim = output_files(out)[0]
    ds = pydicom.dcmread(victim)
    ds.ImageComments = "follow-up with Jane Doe"  # what a weaker cleaner would have left
    ds.save_as(victim)
    result = cli("verify", out, "--against", in_dir, "--json", tmp_path / "f.json")
    found = json.loads((tmp_path / "f.json").read_text())["findings"]
    assert result.exit_code == 1
    assert {(f["path"], f["kind"]) for f in found} >= {("(0020,4000)", "person-name")}


# -- bullet 2: identifiers learned by tag, whatever VR or position -------------------------


def _as_ut(ds: pydicom.FileDataset) -> None:
    del ds.PatientID
    ds.add(DataElement(0x00100020, "UT", "KXQZRT"))


def _as_sq(ds: pydicom.FileDataset) -> None:
    item = Dataset()
    item.PatientID = "KXQZRT"
    del ds.PatientID
    ds.add(DataElement(0x00100020, "SQ", Sequence([item])))


def _no_group_0010(ds: pydicom.FileDataset) -> None:
    del ds.PatientID, ds.PatientName
    ds.AccessionNumber = "KXQZRT"


@pytest.mark.parametrize("store", [_as_ut, _as_sq, _no_group_0010])
def test_an_id_stored_anyhow_is_cleaned_from_series_description(secret: Secret, store) -> None:
    ds = dataset(SOP["SR"], SeriesDescription="Series KXQZRT AX T1")
    store(ds)
    assert _cleaned(ds, secret).SeriesDescription == "Series *** AX T1"


def test_a_damaged_patient_name_is_still_learned(secret: Secret) -> None:
    ds = dataset(SOP["SR"], PatientName="KXQZRT^JOHN", SeriesDescription="Series KXQZRT AX T1")
    ds.SpecificCharacterSet = "ISO_IR 192"
    data = _roundtrip(ds, (b"KXQZRT^JOHN", b"KXQZRT^\xffOHN"))  # not UTF-8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pydicom.dcmread(io.BytesIO(data))
        deidentify(out, RESEARCH, secret)
    assert "KXQZRT" not in str(out.SeriesDescription)


def test_an_id_in_a_duplicated_tag_does_not_survive_in_series_description(tmp_path: Path) -> None:
    """pydicom keeps the last of two PatientID elements; the first one's ID must not survive."""
    ds = dataset(SOP["SR"], PatientID="MRN4711X", SeriesDescription="Series MRN4711X AX T1")
    data = _roundtrip(ds).replace(b"LO\x08\x00MRN4711X", b"LO\x08\x00MRN4711X\x10\x00\x20\x00LO\x08\x00OTHER_ID", 1)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.dcm").write_bytes(data)
    key = make_key(tmp_path)
    assert cli("run", tmp_path / "in", tmp_path / "out", "--key-file", key, "--vault", tmp_path / "v.db").exit_code == 0
    for path in output_files(tmp_path / "out"):
        assert b"MRN4711X" not in path.read_bytes()


# -- bullet 3: verify's verdict on correct output is clean ---------------------------------


def test_kept_words_our_dummies_and_code_meanings_are_not_findings(tmp_path: Path) -> None:
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    for n in range(3):
        ds = dataset(SOP["SR"], PatientName="Anonymized^Patient", InstitutionName="Springfield Medical Center")
        ds.Manufacturer = "GE MEDICAL SYSTEMS"
        ds.OperatorsName = "Basic^Application"  # words of our CID 7050 code meanings
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.3.4.5.6.{n + 10}"
        (in_dir / f"{n}.dcm").write_bytes(_roundtrip(ds))
    key = make_key(tmp_path)
    run = cli("run", in_dir, tmp_path / "out", "--key-file", key, "--vault", tmp_path / "v.db", "--verify")
    assert run.exit_code == 0, run.output
    result = cli("verify", tmp_path / "out", "--against", in_dir, "--json", tmp_path / "f.json")
    assert result.exit_code == 0 and json.loads((tmp_path / "f.json").read_text())["clean"]


def test_pydicom_bundled_files_give_no_finding_for_basic(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    in_dir = tmp_path / "in"
    in_dir.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtstruct.dcm", "test-SR.dcm"):
        shutil.copy(str(get_testdata_file(name)), in_dir / name)
    key = make_key(tmp_path)
    run = cli("run", in_dir, tmp_path / "out", "--profile", "basic", "--key-file", key, "--vault", tmp_path / "v.db")
    assert run.exit_code == 0
    result = cli("verify", tmp_path / "out", "--against", in_dir, "--profile", "basic", "--json", tmp_path / "f.json")
    assert json.loads((tmp_path / "f.json").read_text())["findings"] == [] and result.exit_code == 0


# -- bullet 4: what verify missed, where it crashed, what it counted -------------------------


@pytest.fixture
def made(tmp_path: Path) -> tuple[Path, Path]:
    """Two inputs of one patient (one deflated) de-identified with research: (IN, OUT)."""
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    for n, syntax in enumerate((None, DeflatedExplicitVRLittleEndian)):
        ds = dataset(SOP["SR"], PatientID="SNTMRN4711", PatientBirthDate="19520317", ContentDate="20200101")
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.3.4.5.6.{n + 20}"
        if syntax:
            ds.file_meta.TransferSyntaxUID = syntax
        (in_dir / f"{n}.dcm").write_bytes(_roundtrip(ds))
    key = make_key(tmp_path)
    assert cli("run", in_dir, tmp_path / "out", "--key-file", key, "--vault", tmp_path / "v.db").exit_code == 0
    return in_dir, tmp_path / "out"


def _plant_and_verify(made: tuple[Path, Path], tmp_path: Path, plant, deflated: bool = False) -> list[dict[str, str]]:
    in_dir, out = made
    victim = next(
        p for p in output_files(out) if (pydicom.dcmread(p).file_meta.TransferSyntaxUID.is_deflated) == deflated
    )
    ds = pydicom.dcmread(victim)
    plant(ds)
    ds.save_as(victim)
    result = cli("verify", out, "--against", in_dir, "--json", tmp_path / "f.json")
    assert result.exit_code == 1
    return [f for f in json.loads((tmp_path / "f.json").read_text())["findings"] if f["path"] != "manifest"]


def test_a_name_kept_in_a_deflated_file_is_found(made, tmp_path: Path) -> None:
    found = _plant_and_verify(made, tmp_path, lambda ds: setattr(ds, "ImageComments", "SNTFAMILY"), deflated=True)
    assert [(f["path"], f["kind"]) for f in found] == [("(0020,4000)", "person-name")]


def test_an_id_in_utf16_in_a_private_ob_is_found(made, tmp_path: Path) -> None:
    found = _plant_and_verify(made, tmp_path, lambda ds: ds.add_new(0x00091001, "OB", "SNTMRN4711".encode("utf-16-le")))
    assert [(f["path"], f["kind"]) for f in found] == [("(0009,1001)", "id")]


def test_an_id_glued_to_letters_is_found(made, tmp_path: Path) -> None:
    found = _plant_and_verify(made, tmp_path, lambda ds: setattr(ds, "ImageComments", "refXSNTMRN4711Yabc"))
    assert [(f["path"], f["kind"]) for f in found] == [("(0020,4000)", "id")]


@pytest.mark.parametrize("where", ["ContentDate", "private"])
def test_a_birth_date_moved_to_another_date_attribute_is_found(made, tmp_path: Path, where: str) -> None:
    def plant(ds: pydicom.FileDataset) -> None:
        if where == "private":
            ds.add_new(0x00091002, "DA", "19520317")
        else:
            ds.ContentDate = "19520317"

    found = _plant_and_verify(made, tmp_path, plant)
    assert [f["kind"] for f in found] == ["date"]


def test_a_date_in_a_private_element_of_an_implicit_vr_file_is_found(made, tmp_path: Path) -> None:
    in_dir, out = made
    victim = next(p for p in output_files(out) if not pydicom.dcmread(p).file_meta.TransferSyntaxUID.is_deflated)
    ds = pydicom.dcmread(victim)
    ds.add_new(0x00091002, "DA", "19520317")
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(victim, implicit_vr=True, little_endian=True)
    assert pydicom.dcmread(victim)[0x00091002].VR == "UN"  # no creator, no VR: read back as bytes
    result = cli("verify", out, "--against", in_dir, "--json", tmp_path / "f.json")
    found = [f for f in json.loads((tmp_path / "f.json").read_text())["findings"] if f["path"] != "manifest"]
    assert result.exit_code == 1 and [(f["path"], f["kind"]) for f in found] == [("(0009,1002)", "date")]


def test_an_identifier_in_a_private_creator_is_found_a_vendor_creator_is_not(made, tmp_path: Path) -> None:
    def plant(ds: pydicom.FileDataset) -> None:
        ds.add_new(0x00090010, "LO", "SNTMRN4711 BLOCK")
        ds.add_new(0x00091001, "LO", "x")

    found = _plant_and_verify(made, tmp_path, plant)
    assert [(f["path"], f["kind"]) for f in found] == [("(0009,0010)", "id")]


def test_a_date_a_shift_put_on_an_output_is_told_from_an_original_put_back() -> None:
    from anonymizer.evidence.search import Identifiers

    ids = Identifiers()
    ids.date_records.append({"StudyDate": "20200110", "SeriesDate": "20200111"})  # one input's own dates
    shifted = {"StudyDate": "20190105", "SeriesDate": "20190106"}  # both moved back 370 days
    assert ids.shifted_onto("StudyDate", "20190105", shifted)
    put_back = {"StudyDate": "20190105", "SeriesDate": "20200111"}  # SeriesDate holds an original
    assert not ids.shifted_onto("SeriesDate", "20200111", put_back)
    assert not ids.shifted_onto("StudyDate", "20190105", {"StudyDate": "20190105"})  # nothing to agree with


def test_a_garbage_meta_vr_does_not_crash_verify(tmp_path: Path) -> None:
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    data = _roundtrip(dataset(SOP["SR"]))
    at = data.index(b"\x02\x00\x03\x00UI")
    (in_dir / "a.dcm").write_bytes(data[: at + 4] + b"ZZ" + data[at + 6 :])  # (0002,0003) with VR "ZZ"
    key = make_key(tmp_path)
    run = cli("run", in_dir, tmp_path / "out", "--key-file", key, "--vault", tmp_path / "v.db")
    assert run.exit_code == 0
    result = cli("verify", tmp_path / "out", "--against", in_dir)
    assert result.exit_code in (0, 1) and "Traceback" not in result.output


def test_inputs_that_failed_in_the_run_contribute_nothing(made, tmp_path: Path) -> None:
    in_dir, out = made
    broken = _roundtrip(dataset(SOP["SR"], InstitutionAddress="742 Evergreen Terrace, Springfield"))
    (in_dir / "z.dcm").write_bytes(broken[:-7])  # truncated: the run fails it
    result = cli("verify", out, "--against", in_dir, "--json", tmp_path / "f.json")
    content = json.loads((tmp_path / "f.json").read_text())
    assert result.exit_code == 0 and content["findings"] == [] and content["inputs"]["failed_in_run"] == 1
