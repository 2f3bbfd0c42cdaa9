"""`anonymizer verify` and `anonymizer report`: residual-PHI evidence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest

from anonymizer.testing import Sample
from tests.conftest import cli, make_key, output_files

PLANTED_KINDS = {"person-name", "id", "date", "uid", "address", "institution", "phone", "text"}


@pytest.fixture(scope="module")
def outputs(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("verified")
    in_dir = sample.files[0].parents[1]
    key = make_key(folder)
    result = cli("run", in_dir, folder / "out", "--key-file", key, "--vault", folder / "v.db", "--verify")
    assert result.exit_code == 0, result.output
    return in_dir, folder / "out"


def findings(json_file: Path) -> list[dict[str, str]]:
    content = json.loads(json_file.read_text())
    return list(content["findings"])


def test_untouched_inputs_show_every_kind_of_planted_identifier(sample: Sample, outputs, tmp_path: Path) -> None:
    in_dir, _ = outputs
    result = cli("verify", in_dir, "--against", in_dir, "--json", tmp_path / "f.json")
    assert result.exit_code == 1
    found = findings(tmp_path / "f.json")
    assert {f["kind"] for f in found} >= PLANTED_KINDS
    assert {f["file"] for f in found} == {str(p.relative_to(in_dir)) for p in sample.files}
    assert any(f["path"].startswith("meta:") for f in found)  # file meta
    assert any("[0]/" in f["path"] for f in found)  # nested items
    assert any(f["path"].startswith("(0077,") for f in found)  # private block
    for line in result.output.splitlines()[:-1]:  # file (input names hold sentinels), tag path, kind
        assert "SNT" not in line.split("\t", 1)[1]


def test_a_correct_research_output_is_clean(outputs, tmp_path: Path) -> None:
    in_dir, out = outputs
    result = cli("verify", out, "--against", in_dir, "--profile", "research", "--json", tmp_path / "f.json")
    assert result.exit_code == 0, result.output
    content = json.loads((tmp_path / "f.json").read_text())
    assert content["files"] == len(output_files(out)) and content["identifiers"] > 1000 and content["clean"]
    manifest = json.loads((out / "anonymizer-manifest.json").read_text())
    assert manifest["verification"]["clean"] and manifest["verification"]["files"] == content["files"]


def test_one_identifier_put_back_in_a_nested_item_is_found(outputs, tmp_path: Path) -> None:
    in_dir, out = outputs
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    victim = output_files(copy)[5]
    ds = pydicom.dcmread(victim)
    ds.RequestAttributesSequence[0].RequestedProcedureDescription = "re-read for SNTFAM1 please"
    ds.save_as(victim)
    result = cli("verify", copy, "--against", in_dir, "--json", tmp_path / "f.json")
    assert result.exit_code == 1
    found = findings(tmp_path / "f.json")
    assert {f["file"] for f in found} == {str(victim.relative_to(copy))}
    expected = {("(0040,0275)[0]/(0032,1060)", "person-name"), ("manifest", "altered")}  # the edit shows too
    assert {(f["path"], f["kind"]) for f in found} == expected
    assert "SNTFAM1" not in result.output
    shown = cli("verify", copy, "--against", in_dir, "--show-values")
    assert "sntfam1" in shown.output.lower()


def test_an_identifier_in_a_binary_element_is_found_with_its_tag_path(outputs, tmp_path: Path) -> None:
    """An identifier in a binary element is found at its tag path; pixel samples are skipped."""
    in_dir, out = outputs
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    victims = [p for p in output_files(copy) if "PixelData" in pydicom.dcmread(p)][:2]
    ds = pydicom.dcmread(victims[0])
    ds.add_new(0x00091001, "OB", b"\x00\x01SNTPID1\x00\x01")  # no creator: read back as raw bytes
    ds.save_as(victims[0])
    ds = pydicom.dcmread(victims[1])
    pixels = bytearray(ds.PixelData)
    pixels[:10] = b"\x00SNTPID1\x00\x00"  # image samples, not text: by design not scanned
    ds.PixelData = bytes(pixels)
    ds.save_as(victims[1])
    result = cli("verify", copy, "--against", in_dir, "--json", tmp_path / "f.json")
    found = findings(tmp_path / "f.json")
    assert {(f["file"], f["path"]) for f in found if f["path"] != "manifest"} == {
        (str(victims[0].relative_to(copy)), "(0009,1001)")
    }
    assert result.exit_code == 1  # the binary element is decoded with its tag path; pixel samples are not


def test_rules_without_inputs(outputs) -> None:
    in_dir, out = outputs
    assert cli("verify", out).exit_code == 0
    raw = cli("verify", in_dir)
    assert raw.exit_code == 1
    kinds = {line.split("\t")[2] for line in raw.output.splitlines() if line.count("\t") == 2}
    assert kinds >= {
        "person name",
        "private element outside the safe list",
        "original-looking UID",
        "missing PatientIdentityRemoved=YES",
        "missing LongitudinalTemporalInformationModified",
        "identifying pattern in text",
    }


def test_rules_flag_burned_in_text_and_names_in_paths(outputs, tmp_path: Path) -> None:
    _, out = outputs
    source = output_files(out)[0]
    ds = pydicom.dcmread(source)
    ds.BurnedInAnnotation = "YES"
    (tmp_path / "Smith^John").mkdir()
    ds.save_as(tmp_path / "Smith^John" / "x.dcm")
    result = cli("verify", tmp_path)
    assert "burned-in annotation without Clean Pixel Data" in result.output
    assert "identifying-looking name" in result.output


@pytest.mark.parametrize("fmt", ["html", "md", "json"])
def test_report_has_the_facts_and_no_identifier(sample: Sample, outputs, tmp_path: Path, fmt: str) -> None:
    _, out = outputs
    result = cli("report", out, "--format", fmt, "--out", tmp_path / f"report.{fmt}")
    assert result.exit_code == 0
    text = (tmp_path / f"report.{fmt}").read_text()
    for sentinel in sample.sentinels:
        assert sentinel not in text
    verdict = '"clean": true' if fmt == "json" else "no residual identifier found"
    for needle in ("113100", "113107", "Retain Safe Private", "research", verdict, "0.1.0"):
        assert needle in text, needle
    if fmt == "html":
        assert "<script" not in text and "src=" not in text and "href=" not in text  # self-contained


def test_report_without_a_manifest_is_a_usage_error(tmp_path: Path) -> None:
    assert cli("report", tmp_path).exit_code == 2
