"""End to end: `anonymizer run` on the synthetic multi-patient sample (issue acceptance)."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest

from anonymizer.testing import Sample
from tests.conftest import cli, make_key, output_files

RESEARCH_CRITICAL = (
    "Rows",
    "Columns",
    "PixelSpacing",
    "SliceThickness",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "RepetitionTime",
    "EchoTime",
    "KVP",
    "PatientSex",
    "PatientAge",
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "WindowCenter",
    "WindowWidth",
    "RescaleIntercept",
    "RescaleSlope",
    "InstanceNumber",
    "SeriesNumber",
    "BitsAllocated",
    "PhotometricInterpretation",
    "SOPClassUID",
)
UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID")


@pytest.fixture(scope="module")
def research(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("research")
    key = make_key(folder)
    result = cli(
        "run",
        sample.files[0].parents[1],
        folder / "out",
        "--profile",
        "research",
        "--key-file",
        key,
        "--vault",
        folder / "vault.db",
    )
    assert result.exit_code == 0, result.output
    return folder / "out", key, result.output


def _by_input(sample: Sample, out: Path) -> dict[Path, pydicom.Dataset]:
    """Map each input file to its output (matched through the remapped SOPInstanceUID)."""
    outputs = {pydicom.dcmread(p).SOPInstanceUID: p for p in output_files(out)}
    from anonymizer.keys.secret import load_key_file

    secret = load_key_file(out.parent / "project.key")
    mapping = {}
    for path in sample.files:
        original = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        mapping[path] = pydicom.dcmread(outputs[secret.uid(original)])
    return mapping


def test_every_input_has_one_output_named_from_deidentified_values(sample: Sample, research) -> None:
    out, _, _ = research
    files = output_files(out)
    assert len(files) == len(sample.files)
    folders: dict[str, set[str]] = {}
    for path in files:
        ds = pydicom.dcmread(path)
        patient, study, series, name = path.relative_to(out).parts
        folders.setdefault(patient, set()).add(ds.PatientID)
        assert name.endswith(".dcm") and study.startswith(f"{ds.StudyDate}_")
        assert series.startswith(f"{int(ds.SeriesNumber):04d}_")
        assert ds.SOPInstanceUID.startswith("2.25.")
    assert len(folders) == len(sample.patients) and all(len(ids) == 1 for ids in folders.values())


def test_no_planted_identifier_in_bytes_values_paths_or_output(sample: Sample, research) -> None:
    out, _, console = research
    assert sample.sentinels
    for path in output_files(out):
        raw = path.read_bytes()
        text = " ".join(str(e.value) for e in pydicom.dcmread(path).iterall() if e.VR not in ("OB", "OW"))
        for sentinel in sample.sentinels:
            assert sentinel.encode() not in raw, (path.name, sentinel)
            assert sentinel.lower() not in text.lower()
            assert sentinel not in str(path)
    for sentinel in sample.sentinels:
        assert sentinel not in console
    assert "SNT" not in console


def test_research_critical_attributes_and_pixels_unchanged(sample: Sample, research) -> None:
    out, _, _ = research
    for source, result in _by_input(sample, out).items():
        original = pydicom.dcmread(source)
        for keyword in RESEARCH_CRITICAL:
            if keyword in original:
                assert result.get(keyword) == original.get(keyword), keyword
        assert result.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        if "PixelData" in original:
            assert hashlib.md5(result.PixelData).digest() == hashlib.md5(original.PixelData).digest()


def test_identity_and_uid_groups_map_one_to_one(sample: Sample, research) -> None:
    out, _, _ = research
    mapped: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for source, result in _by_input(sample, out).items():
        original = pydicom.dcmread(source, stop_before_pixels=True)
        mapped["PatientID"][original.PatientID].add(result.PatientID)
        for keyword in UID_KEYWORDS:
            mapped[keyword][original[keyword].value].add(result[keyword].value)
    for keyword, groups in mapped.items():
        news = [next(iter(v)) for v in groups.values()]
        assert all(len(v) == 1 for v in groups.values()), keyword  # one new value per group
        assert len(set(news)) == len(news), keyword  # distinct groups stay distinct
        assert not set(groups) & set(news), keyword


def _references(ds: pydicom.Dataset) -> list[str]:
    return [e.value for e in ds.iterall() if e.keyword == "ReferencedSOPInstanceUID"]


def test_every_reference_resolves_and_file_meta_matches(sample: Sample, research) -> None:
    out, key, _ = research
    from anonymizer.keys.secret import load_key_file

    secret = load_key_file(key)
    pairs = _by_input(sample, out)
    originals = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in pairs}
    instances = {ds.SOPInstanceUID for ds in pairs.values()}
    resolved = 0
    for source, result in pairs.items():
        assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
        assert result.file_meta.MediaStorageSOPClassUID == result.SOPClassUID
        assert "SourceApplicationEntityTitle" not in result.file_meta
        before = _references(pydicom.dcmread(source, stop_before_pixels=True))
        after = _references(result)
        assert after == [secret.uid(uid) for uid in before]  # every reference remapped, in place
        for old, new in zip(before, after, strict=True):
            if old in originals:  # a reference to another file of the set still resolves
                assert new in instances
                resolved += 1
    assert resolved > 40  # image chains, RT Dose -> RT Plan, SR evidence


def test_outputs_are_valid_and_marked(research) -> None:
    out, _, _ = research
    for path in output_files(out):
        assert path.read_bytes()[128:132] == b"DICM"
        ds = pydicom.dcmread(path)
        for elem in ds.iterall():
            _ = elem.value  # every element decodes
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethod.startswith("anonymizer-dicom")
        codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
        assert codes == ["113100", "113103", "113104", "113105", "113107", "113108", "113111"]
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"


def test_dates_move_but_keep_their_intervals_within_a_patient(sample: Sample, research) -> None:
    out, _, _ = research
    shifts: dict[str, set[int]] = defaultdict(set)

    def day(value: str) -> dt.date:
        return dt.datetime.strptime(value[:8], "%Y%m%d").date()

    for source, result in _by_input(sample, out).items():
        original = pydicom.dcmread(source, stop_before_pixels=True)
        for keyword in ("StudyDate", "SeriesDate", "ContentDate", "AcquisitionDateTime"):
            assert result.get(keyword), (source.name, keyword, original.get(keyword))
            shift = (day(result[keyword].value) - day(original[keyword].value)).days
            shifts[original.PatientID].add(shift)
    for patient_shifts in shifts.values():
        assert len(patient_shifts) == 1
        assert -3650 <= next(iter(patient_shifts)) <= -365
    assert len({next(iter(s)) for s in shifts.values()}) > 1  # per patient, not global


def test_same_key_twice_gives_identical_bytes_and_other_key_differs(sample: Sample, research, tmp_path: Path) -> None:
    out, key, _ = research
    in_dir = sample.files[0].parents[1]
    import subprocess
    import sys

    # a separate process: a different hash seed and memory layout must not matter
    args = [
        sys.executable,
        "-m",
        "anonymizer",
        "run",
        str(in_dir),
        str(tmp_path / "again"),
        "--key-file",
        str(key),
    ]
    subprocess.run(args, check=True, capture_output=True)
    first = {p.relative_to(out): p.read_bytes() for p in output_files(out)}
    second = {p.relative_to(tmp_path / "again"): p.read_bytes() for p in output_files(tmp_path / "again")}
    assert first == second
    other = make_key(tmp_path, "other.key")
    assert cli("run", in_dir, tmp_path / "other", "--key-file", other, "--vault", "other.db").exit_code == 0
    third = {pydicom.dcmread(p).PatientID for p in output_files(tmp_path / "other")}
    assert not {p.name for p in output_files(out)} & {p.name for p in output_files(tmp_path / "other")} - {
        f"{n:05d}.dcm" for n in range(1, 10)
    }
    assert not third & {pydicom.dcmread(p).PatientID for p in output_files(out)}


def test_bad_and_foreign_files_are_reported_by_ordinal_with_no_output(sample: Sample, tmp_path: Path) -> None:
    in_dir = tmp_path / "SNTFOLDER"
    in_dir.mkdir()
    good = sample.files[0]
    shutil.copy(good, in_dir / "a_good.dcm")
    (in_dir / "b_notes.txt").write_text("SNTNOTE not dicom")
    truncated = good.read_bytes()[:-1001]  # cut inside the pixel data, as an interrupted copy
    (in_dir / "c_SNTBROKEN.dcm").write_bytes(truncated)
    no_uid = pydicom.dcmread(good)
    del no_uid.SOPInstanceUID
    no_uid.save_as(in_dir / "d_nouid.dcm", enforce_file_format=False)
    key = make_key(tmp_path)
    result = cli("run", in_dir, tmp_path / "out", "--key-file", key)
    assert result.exit_code == 1
    assert "file #3: failed: truncated" in result.output
    assert "file #4: failed: missing-sop-instance-uid" in result.output
    assert "SNT" not in result.output and str(in_dir) not in result.output
    outputs = output_files(tmp_path / "out")
    assert len(outputs) == 1
    assert "not-dicom" in result.output


def test_key_errors_exit_3_and_write_nothing(sample: Sample, tmp_path: Path) -> None:
    in_dir = sample.files[0].parent
    missing = cli("run", in_dir, tmp_path / "out", "--key-file", tmp_path / "nope.key")
    assert missing.exit_code == 3
    loose = tmp_path / "loose.key"
    loose.write_text("00" * 32)
    loose.chmod(0o644)
    assert cli("run", in_dir, tmp_path / "out", "--key-file", loose).exit_code == 3
    short = tmp_path / "short.key"
    short.write_text("abcd")
    short.chmod(0o600)
    result = cli("run", in_dir, tmp_path / "out", "--key-file", short)
    assert result.exit_code == 3 and "abcd" not in result.output
    assert not (tmp_path / "out").exists()


def test_profile_errors_exit_2(sample: Sample, tmp_path: Path, key_file: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nrules:\n  - {tag: PatientName, action: obliterate}\n")
    result = cli("run", sample.files[0].parent, tmp_path / "out", "--profile", bad, "--key-file", key_file)
    assert result.exit_code == 2
    assert "bad.yaml:3" in result.output and "obliterate" in result.output


def test_out_inside_in_is_refused(sample: Sample, tmp_path: Path, key_file: Path) -> None:
    in_dir = tmp_path / "in"
    shutil.copytree(sample.files[0].parent, in_dir)
    assert cli("run", in_dir, in_dir / "out", "--key-file", key_file).exit_code == 2


def test_keygen_refuses_to_overwrite_and_sets_mode(tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    assert cli("keygen", key).exit_code == 0
    assert key.stat().st_mode & 0o777 == 0o600
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    assert cli("keygen", key).exit_code == 3


def test_dry_run_writes_nothing(sample: Sample, tmp_path: Path, key_file: Path) -> None:
    result = cli("run", sample.files[0].parent, tmp_path / "out", "--key-file", key_file, "--dry-run")
    assert result.exit_code == 0
    assert not (tmp_path / "out").exists()


def test_plan_shows_changes_and_values_only_on_request(sample: Sample) -> None:
    result = cli("plan", sample.files[0], "--profile", "research")
    assert result.exit_code == 0
    assert "(0010,0020)\tPatientID\tLO\tpseudonymize" in result.output
    assert "SNT" not in result.output
    shown = cli("plan", sample.files[0], "--profile", "research", "--show-values")
    assert "SNTPID0" in shown.output


def test_profile_explain_basic_lists_every_table_attribute() -> None:
    from anonymizer import standard

    result = cli("profile", "explain", "basic")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    tags = {line.split("\t")[0] for line in lines}
    for attr in standard.attributes():
        assert attr.tag in tags or attr.tag == "PRIVATE"
    assert len(standard.attributes()) == 621
    assert any(line.startswith("(0010,0010)\tPatientName\tempty\tPS3.15 E.1-1 basic") for line in lines)


def test_profile_list_show_and_check(tmp_path: Path) -> None:
    listed = cli("profile", "list").output
    assert "basic" in listed and "research" in listed and "option clean-graphics" in listed
    assert "retain-safe-private" in cli("profile", "show", "research").output
    good = tmp_path / "mine.yaml"
    good.write_text("name: mine\nextends: research\nrules:\n  - {vr: PN, action: empty}\n")
    assert cli("profile", "check", good).exit_code == 0
    good.write_text("name: mine\nextends: research\nrulez: []\n")
    result = cli("profile", "check", good)
    assert result.exit_code == 2 and "mine.yaml:3" in result.output and "rulez" in result.output


def test_python_dash_m_entry_point() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "anonymizer", "--version"], capture_output=True, text=True, check=True)
    assert "0.1.0" in done.stdout


def test_invalid_values_leave_no_trace_in_logs_or_stderr(
    sample: Sample, tmp_path: Path, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    in_dir = tmp_path / "in"
    in_dir.mkdir()
    ds = pydicom.dcmread(sample.files[0])
    ds.PatientAge = "SNTAGE"  # invalid AS: pydicom warns and logs with the value
    ds.PatientBirthDate = "SNTBIRTH"  # invalid DA
    ds.StudyDate = "SNTDATE"
    ds.PatientSex = "SNTSEX-NOT-A-CS"
    ds.save_as(in_dir / "x.dcm", enforce_file_format=True)
    caplog.set_level(logging.DEBUG)
    result = cli("run", in_dir, tmp_path / "out", "--key-file", key_file)
    assert "SNT" not in result.output
    assert "SNT" not in caplog.text
    for path in output_files(tmp_path / "out"):
        assert b"SNTAGE" not in path.read_bytes() and b"SNTDATE" not in path.read_bytes()


def test_option_on_the_command_line_and_lookup_through_a_profile(
    sample: Sample, tmp_path: Path, key_file: Path
) -> None:
    in_dir = sample.files[0].parent  # patient 0 only
    kept = cli("run", in_dir, tmp_path / "uids", "--key-file", key_file, "--option", "retain-uids")
    assert kept.exit_code == 0
    originals = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in sample.patients["SNTPID0"]}
    assert {pydicom.dcmread(p).SOPInstanceUID for p in output_files(tmp_path / "uids")} == originals
    assert "113110" in {
        i.CodeValue for i in pydicom.dcmread(output_files(tmp_path / "uids")[0]).DeidentificationMethodCodeSequence
    }

    (tmp_path / "subjects.csv").write_text("original,pseudonym\nSNTPID0,TRIAL-0001\n")
    (tmp_path / "trial.yaml").write_text(
        "name: trial\nextends: research\nrules:\n"
        "  - {tag: PatientID, action: lookup, with: {file: subjects.csv, on_missing: error}}\n"
    )
    result = cli("run", in_dir, tmp_path / "trial", "--profile", tmp_path / "trial.yaml", "--key-file", key_file)
    assert result.exit_code == 0, result.output
    assert {pydicom.dcmread(p).PatientID for p in output_files(tmp_path / "trial")} == {"TRIAL-0001"}
