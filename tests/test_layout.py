"""Output paths: readable, deterministic, always inside OUT whatever the values."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from anonymizer.errors import ProfileError
from anonymizer.pipeline.layout import MISSING, disambiguate, path_key, relative_path
from anonymizer.profile.template import DEFAULT_LAYOUT, check_template


def ds(**values: object) -> Dataset:
    out = Dataset()
    for keyword, value in values.items():
        setattr(out, keyword, value)
    return out


def test_default_layout_is_patient_study_series_instance() -> None:
    path = relative_path(
        ds(
            PatientID="SUBJ-1",
            StudyDate="20200101",
            StudyInstanceUID="2.25.1234567890123456",
            SeriesNumber="3",
            Modality="CT",
            InstanceNumber=7,
        ),
        DEFAULT_LAYOUT,
        {"patient": "PTOKEN", "study": "STOKEN", "series": "RTOKEN"},
    )
    assert path == "PTOKEN/20200101_STOKEN/0003_CT_RTOKEN/00007.dcm"


def test_missing_and_unformattable_values_get_a_stable_placeholder() -> None:
    path = relative_path(ds(PatientID="P"), DEFAULT_LAYOUT, {"patient": "P", "study": "S", "series": "R"})
    assert path == f"P/{MISSING}_S/{MISSING}_{MISSING}_R/{MISSING}.dcm"
    assert relative_path(ds(Modality="CT"), "{Modality:04d}.dcm") == f"{MISSING}.dcm"


@pytest.mark.parametrize(
    "hostile",
    [
        "../../etc",
        "/etc/passwd",
        "..",
        ".",
        "a/../../b",
        "C:\\Windows",
        "x\x00y",
        "nul",
        "CON.txt",
        "a" * 1000,
        " . ",
        "\n\t",
        "??**||",
        "..\\..\\x",
    ],
)
def test_hostile_values_stay_inside_out(hostile: str, tmp_path: Path) -> None:
    rel = relative_path(ds(PatientID=hostile, StudyDate=hostile, Modality=hostile), DEFAULT_LAYOUT)
    target = (tmp_path / rel).resolve()
    assert tmp_path.resolve() in target.parents
    assert len(Path(rel).parts) == 4
    for part in Path(rel).parts:
        assert part not in ("", ".", "..") and "\x00" not in part and len(part) <= 96
        assert part.lower().split(".")[0] not in ("con", "nul", "prn", "aux")


@given(st.text(max_size=300), st.text(max_size=50))
def test_any_value_gives_a_relative_path_inside_out(value: str, other: str) -> None:
    rel = relative_path(ds(PatientID=value, Modality=other), "{PatientID}/{Modality}/{PatientID}.dcm")
    parts = Path(rel).parts
    assert len(parts) == 3 and not Path(rel).is_absolute()
    assert all(p not in ("", ".", "..") and "/" not in p and "\\" not in p for p in parts)


def test_disambiguation_is_deterministic_and_case_insensitive_keys() -> None:
    a = disambiguate("P/S/X/00001.dcm", "2.25.1")
    assert a == disambiguate("P/S/X/00001.dcm", "2.25.1") != disambiguate("P/S/X/00001.dcm", "2.25.2")
    assert a.startswith("P/S/X/00001_") and a.endswith(".dcm")
    assert path_key("SUBJ-A/x.dcm") == path_key("subj-a/X.DCM")


@pytest.mark.parametrize("bad", ["", "{}", "{0}", "/{PatientID}", "{PatientID}/", "{Patient ID}", "{PatientID"])
def test_bad_templates_are_refused(bad: str) -> None:
    with pytest.raises(ProfileError):
        check_template(bad)
