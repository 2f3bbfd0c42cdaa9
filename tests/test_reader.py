"""Reading fails closed on truncated and foreign files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anonymizer.dicom.reader import read, sniff
from anonymizer.errors import InputError
from anonymizer.testing import template_path

TEMPLATES = (
    "CT_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "rtplan.dcm",
    "test-SR.dcm",
)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(TEMPLATES), st.floats(0.02, 0.999))
def test_a_file_cut_inside_an_element_is_refused(
    tmp_path_factory: pytest.TempPathFactory, name: str, where: float
) -> None:
    data = Path(template_path(name)).read_bytes()
    cut = tmp_path_factory.mktemp("cut") / "x.dcm"
    cut.write_bytes(data[: 132 + int((len(data) - 132) * where)])
    try:
        ds = read(cut)
    except InputError as exc:
        assert exc.reason in ("truncated", "empty-dataset", "missing-pixel-data")
        return
    except Exception:
        return
    # accepted only when the cut fell exactly between two elements of a non-image object
    # (or before the SOP Instance UID, which then fails as missing-sop-instance-uid)
    assert "PixelData" not in ds and "Rows" not in ds
    assert "Image Storage" not in getattr(ds.get("SOPClassUID"), "name", "")


def test_whole_files_are_read_and_foreign_files_not_sniffed(tmp_path: Path) -> None:
    for name in TEMPLATES:
        assert read(Path(template_path(name))).SOPInstanceUID
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert not sniff(text)
    assert sniff(Path(template_path("CT_small.dcm")))
