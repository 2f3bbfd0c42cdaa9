"""A test per numbered defect of the conformance issue: each output stays a valid object of
its IOD, and its marks say exactly what was done. (The gate over every public test file,
with dciodvfy, is ``test_conformance.py``.)"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from anonymizer.engine.apply import deidentify
from anonymizer.engine.plan import Plan
from anonymizer.keys.secret import Secret
from anonymizer.profile.loader import builtin_dir, load_profile
from tests.conftest import cli, output_files
from tests.factory import SOP, dataset

BASIC = Plan(load_profile("basic"))
RESEARCH = Plan(load_profile("research"))


def image(**elements: object) -> Dataset:
    """A tiny CT image (a run needs pixel data in an image)."""
    ds = dataset(**elements)
    ds.Rows = ds.Columns = 2
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation, ds.SamplesPerPixel = 15, 0, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(8)
    return ds


def read(name: str) -> pydicom.FileDataset:
    return pydicom.dcmread(get_testdata_file(name))


def uids(ds: Dataset, keyword: str = "ReferencedSOPInstanceUID") -> list[str]:
    """Every value of ``keyword`` at any depth, in document order."""
    found: list[str] = []
    ds.walk(lambda _, elem: found.append(str(elem.value)) if elem.keyword == keyword else None)
    return found


@pytest.mark.parametrize("plan", [BASIC, RESEARCH], ids=["basic", "research"])
def test_1_an_overlay_goes_with_its_data(plan: Plan, secret: Secret) -> None:
    ds = read("examples_overlay.dcm")
    assert 0x60003000 in ds and 0x60000010 in ds
    outcome = deidentify(ds, plan, secret)
    assert not [t for t in ds.keys() if t >> 16 == 0x6000]  # noqa: SIM118 (rows, columns, type... gone too)
    assert outcome.counts["overlays removed with their data"] == 1


def test_2_seg_references_stay_consistent(secret: Secret) -> None:
    ds = read("liver_1frame.dcm")
    source = [u for u in uids(ds.PerFrameFunctionalGroupsSequence[0]) if u]
    listed = uids(ds.ReferencedSeriesSequence[0])
    assert source and set(source) <= set(listed)
    deidentify(ds, BASIC, secret)
    kept = uids(ds.PerFrameFunctionalGroupsSequence[0])
    assert kept == [secret.uid(u) for u in source]  # SourceImageSequence kept, remapped
    assert set(kept) <= set(uids(ds.ReferencedSeriesSequence[0]))


@pytest.mark.parametrize("plan", [BASIC, RESEARCH], ids=["basic", "research"])
@pytest.mark.parametrize("name", ["reportsi.dcm", "test-SR.dcm"])
def test_2b_every_reference_is_remapped_alike_everywhere(plan: Plan, name: str, secret: Secret) -> None:
    def parts(ds: Dataset) -> tuple[set[str], set[str]]:
        evidence = {u for item in ds.get("CurrentRequestedProcedureEvidenceSequence", []) for u in uids(item)}
        return {u for item in ds.get("ContentSequence", []) for u in uids(item)}, evidence

    ds = read(name)
    before = {u for u in uids(ds) if u}
    content, evidence = parts(ds)
    deidentify(ds, plan, secret)
    assert set(uids(ds)) <= {secret.uid(u) for u in before}  # one mapping for the content tree and the evidence
    if "CurrentRequestedProcedureEvidenceSequence" in ds:  # what the input listed, the output lists
        assert {secret.uid(u) for u in content & evidence} <= parts(ds)[1]


def animal(**elements: object) -> Dataset:
    return dataset(ResponsiblePerson="SNTOWNER^SNTFIRST", ResponsibleOrganization="SNTFARM", **elements)


def test_3_an_animal_keeps_its_type_2c_attributes_empty(secret: Secret) -> None:
    for species in ({"PatientSpeciesDescription": "Felis catus"}, {"PatientSpeciesCodeSequence": Sequence([])}):
        ds = animal(**species)
        deidentify(ds, BASIC, secret)
        assert "ResponsiblePerson" in ds and "ResponsibleOrganization" in ds  # Type 2C: present,
        assert not ds.ResponsiblePerson and not ds.ResponsibleOrganization  # and empty
    person = animal()
    deidentify(person, BASIC, secret)  # not an animal: the table's X
    assert "ResponsiblePerson" not in person and "ResponsibleOrganization" not in person


def test_4_partial_datetimes_shift_at_their_precision(secret: Secret) -> None:
    ds = dataset(SOP["MR"], AcquisitionDateTime="194711", ContentDate="19471105")
    ds.add_new(0x00189151, "DT", "1947")  # FrameReferenceDateTime
    deidentify(ds, RESEARCH, secret)
    offset = dt.datetime.strptime(ds.ContentDate, "%Y%m%d").date() - dt.date(1947, 11, 5)  # the patient's shift
    assert ds.AcquisitionDateTime == f"{dt.date(1947, 11, 15) + offset:%Y%m}"  # the month's middle, shifted
    assert ds[0x00189151].value == f"{dt.date(1947, 7, 1) + offset:%Y}"  # a year stays a year
    assert offset.days != 0


RETIRED_IDS = {0x00401006: "SNTPLACER1006", 0x00401007: "SNTFILLER1007", 0x00402006: "SNTP2006", 0x00402007: "SNTF2007"}


@pytest.mark.parametrize("profile", ["basic", "research"])
def test_5_retired_and_post_table_identifiers_are_removed_and_verified(
    profile: str, tmp_path: Path, key_file: Path
) -> None:
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    ds = image()
    for tag, value in RETIRED_IDS.items():
        ds.add_new(tag, "SH", value)
    ds.add_new(0x00142006, "PN", "SNTEVALUATOR^SNT")  # EvaluatorName: fail closed by its VR
    ds.save_as(in_dir / "a.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    assert cli("run", in_dir, out, "--profile", profile, "--key-file", key_file).exit_code == 0
    (written,) = output_files(out)
    assert b"SNT" not in written.read_bytes()
    explained = cli("profile", "explain", profile).output
    assert "(0040,1006)\tPlacerOrderNumberProcedure\tremove\tPS3.6 (retired)" in explained
    planted = pydicom.dcmread(written)  # a leak planted back: verify reports it
    planted.add_new(0x00401007, "SH", "SNTFILLER1007")
    planted.save_as(written)
    result = cli("verify", out, "--against", in_dir, "--profile", profile)
    assert result.exit_code == 1 and "(0040,1007)" in result.output, result.output + result.stderr


def test_6_code_triplets_are_vocabulary(secret: Secret) -> None:
    def codes(ds: Dataset) -> list[list[str]]:
        tree = Dataset()
        tree.ContentSequence = ds.ContentSequence  # replaced (basic) or cleaned (research) as a whole
        return [uids(tree, keyword) for keyword in ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")]

    for plan in (BASIC, RESEARCH):
        ds = read("test-SR.dcm")
        before = codes(ds)
        deidentify(ds, plan, secret)
        assert codes(ds) == before  # 99_OFFIS_DCMTK stays, no ANONYMIZED or *** in a code


def test_6_private_scheme_meanings_are_cleaned(secret: Secret) -> None:
    def coded(scheme: str) -> Dataset:
        item = Dataset()
        item.ValueType = "CODE"
        concept = Dataset()
        concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = "X1", scheme, "Seen by SNTFAMILY"
        item.ConceptCodeSequence = Sequence([concept])
        return item

    ds = dataset(SOP["SR"], ContentSequence=Sequence([coded("99LOCAL"), coded("DCM")]))
    deidentify(ds, RESEARCH, secret)
    meanings = [item.ConceptCodeSequence[0].CodeMeaning for item in ds.ContentSequence]
    assert meanings == ["Seen by ***", "Seen by SNTFAMILY"]  # a standard scheme's meaning is vocabulary


def test_7_pseudonyms_and_dummies_are_person_names_in_family_form(secret: Secret) -> None:
    ds = dataset(ReferringPhysicianName="SNTDOC^SNT")
    deidentify(ds, RESEARCH, secret)
    name = str(ds.PatientName)
    assert name.endswith("^") and name[:-1] == str(ds.PatientID)
    replaced = dataset(SOP["SR"], VerifyingObserverSequence=Sequence([Dataset()]))
    replaced.VerifyingObserverSequence[0].VerifyingObserverName = "SNTDOC^SNT"
    deidentify(replaced, BASIC, secret)
    for item in replaced.get("VerifyingObserverSequence", []):
        assert str(item.VerifyingObserverName) in ("", "ANONYMOUS^")


def test_8_earlier_deidentification_methods_are_kept(secret: Secret) -> None:
    earlier = Dataset()
    earlier.CodeValue, earlier.CodingSchemeDesignator, earlier.CodeMeaning = "113100", "DCM", "Basic"
    other = Dataset()
    other.CodeValue, other.CodingSchemeDesignator, other.CodeMeaning = "113105", "DCM", "Clean Descriptors"
    ds = dataset(DeidentificationMethod="SOMETHINGELSE", DeidentificationMethodCodeSequence=Sequence([earlier, other]))
    deidentify(ds, RESEARCH, secret)
    methods = list(ds.DeidentificationMethod)
    assert methods[0] == "SOMETHINGELSE" and len(methods) == 2
    codes = [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    assert codes[:2] == ["113100", "113105"] and len(codes) == len(set(codes))  # ours appended, none twice
    assert "113107" in codes  # research's modified dates


TWO_RULES = """name: two-rules
unlisted_tags: keep
rules:
  - {tag: PatientName, action: remove}
  - {tag: PatientID, action: remove}
"""


def test_9_marks_are_earned(tmp_path: Path, key_file: Path, secret: Secret) -> None:
    profile = tmp_path / "two.yaml"
    profile.write_text(TWO_RULES)
    custom = Plan(load_profile(str(profile)))
    ds = image(PatientBirthDate="19470101", InstitutionName="SNTHOSPITAL")
    marked = copy.deepcopy(ds)
    deidentify(marked, custom, secret)
    assert marked.PatientIdentityRemoved == "NO" and "DeidentificationMethodCodeSequence" not in marked
    assert "custom, not PS3.15 Basic" in marked.DeidentificationMethod
    for plan in (BASIC, RESEARCH):
        marked = dataset()
        deidentify(marked, plan, secret)
        assert (
            marked.PatientIdentityRemoved == "YES"
            and marked.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        )
    checked = cli("profile", "check", profile)
    assert "does not meet the PS3.15 Basic Profile" in checked.output
    assert "(0010,0030) PatientBirthDate: keep" in checked.output
    assert "meets the PS3.15 Basic Profile" in cli("profile", "check", builtin_dir() / "research.yaml").output
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    ds.save_as(in_dir / "a.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    assert cli("run", in_dir, out, "--profile", profile, "--key-file", key_file).exit_code == 0
    report = cli("report", out, "--format", "md").output
    assert "does NOT meet the PS3.15 Basic Profile" in report and "PatientBirthDate" in report
    assert "113100" not in report


def test_10_research_keeps_reference_sequences_of_uids(secret: Secret) -> None:
    study = Dataset()
    study.ReferencedSOPClassUID, study.ReferencedSOPInstanceUID = "1.2.840.10008.3.1.2.3.1", "1.2.3.9"
    step = Dataset()
    step.ReferencedSOPClassUID, step.ReferencedSOPInstanceUID = "1.2.840.10008.3.1.2.3.3", "1.2.3.10"
    for plan, kept in ((BASIC, False), (RESEARCH, True)):
        ds = dataset(
            ReferencedStudySequence=Sequence([study]), ReferencedPerformedProcedureStepSequence=Sequence([step])
        )
        deidentify(ds, plan, secret)
        assert bool(ds.get("ReferencedStudySequence")) is kept
        if kept:
            assert uids(ds) == [secret.uid("1.2.3.9"), secret.uid("1.2.3.10")]
    assert "remap_uid" in {b for _, k, b, _ in RESEARCH.explain() if k == "ReferencedStudySequence"}


def test_11_an_over_long_input_is_cut_not_failed(tmp_path: Path, key_file: Path) -> None:
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    image(StudyDescription="CT CHEST " * 10).save_as(in_dir / "a.dcm", enforce_file_format=True)  # 90 > 64
    out = tmp_path / "out"
    result = cli("run", in_dir, out, "--profile", "research", "--key-file", key_file, "--log-format", "json")
    assert result.exit_code == 0
    (written,) = output_files(out)
    assert len(pydicom.dcmread(written).StudyDescription) <= 64
    lines = (result.stdout + result.stderr).splitlines()
    summary = [json.loads(line) for line in lines if '"run-finished"' in line][-1]
    assert summary["actions"]["values cut to the VR's maximum"] == 1


def test_12_raw_datasets_are_read_and_written_as_part_10(tmp_path: Path, key_file: Path) -> None:
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    for name in ("ExplVR_LitEndNoMeta.dcm", "rtstruct.dcm"):
        (in_dir / name).write_bytes(Path(get_testdata_file(name)).read_bytes())
    (in_dir / "junk.dcm").write_bytes(b"\x08\x00\x05\x00" + b"\xff" * 300)  # begins like a dataset, is not one
    (in_dir / "notes.txt").write_text("not DICOM at all")
    result = cli("run", in_dir, tmp_path / "out", "--key-file", key_file)
    assert result.exit_code == 1  # the junk file failed
    assert "not-dicom-dataset" in result.output and "not-dicom" in result.output
    big = tmp_path / "big"  # the same object big endian (one SOP instance: its own OUT)
    big.mkdir()
    (big / "a").write_bytes(Path(get_testdata_file("ExplVR_BigEndNoMeta.dcm")).read_bytes())
    assert cli("run", big, tmp_path / "out-big", "--key-file", key_file).exit_code == 0
    written = output_files(tmp_path / "out") + output_files(tmp_path / "out-big")
    assert len(written) == 3
    for path in written:
        assert path.read_bytes()[128:132] == b"DICM"
        assert pydicom.dcmread(path).file_meta.TransferSyntaxUID in (
            "1.2.840.10008.1.2",
            "1.2.840.10008.1.2.1",
            "1.2.840.10008.1.2.2",
        )
