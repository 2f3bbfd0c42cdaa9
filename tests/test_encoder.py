"""The fast paths write exactly what pydicom writes.

``encoder.encode`` copies raw elements and ``rawtext`` edits strings without pydicom's
element conversion; both claim byte-identical output. These tests hold them to it:
against ``dcmwrite`` on every file pydicom ships, and against the pipeline with both
fast paths switched off, over pydicom's files, character-set files and random strings; and
sequences parsed in place against pydicom's own conversion.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import FileDataset

from anonymizer.dicom import encoder, rawtext, walk
from anonymizer.engine.plan import Plan
from anonymizer.keys.secret import Secret
from anonymizer.pipeline.worker import prepare
from anonymizer.profile.loader import load_profile
from anonymizer.testing import template_path
from anonymizer.text.identifiers import values
from tests.factory import SOP, dataset

DATA = Path(template_path("CT_small.dcm")).parent
CHARSET_FILES = sorted((DATA.parent / "charset_files").glob("*.dcm"))


def _read(path: Path) -> FileDataset | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(path)
        except Exception:
            return None


def reference(ds: FileDataset) -> bytes:
    """pydicom's own bytes for ``ds`` (after the same implicit-under-explicit fix-up)."""
    encoder._match_encoding(ds)
    return encoder._pydicom_encode(ds)


def readable() -> list[Path]:
    return [p for p in sorted(DATA.iterdir()) if p.is_file() and _read(p) is not None]


def test_unchanged_files_encode_as_dcmwrite_does() -> None:
    compared = 0
    for path in readable() + CHARSET_FILES:
        a, b = _read(path), _read(path)
        assert a is not None and b is not None
        try:
            expected = reference(a)
        except Exception:  # pydicom cannot write it (missing meta): neither can we
            with pytest.raises(Exception):  # noqa: B017
                encoder.encode(b)
            continue
        assert encoder.encode(b) == expected, path.name
        compared += 1
    assert compared > 70


def with_uids(path: Path, folder: Path) -> Path:
    """A charset file made into a whole object (pydicom's have no SOP Instance UID)."""
    ds = _read(path)
    assert ds is not None
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = f"1.2.3.{abs(hash(path.name)) % 10**8}"
    ds.PatientID = ds.get("PatientID") or "SNTPATIENTID"
    ds.BurnedInAnnotation = "NO"  # pixel-free test images: not quarantined
    for keyword in ("Rows", "Columns"):
        if "PixelData" not in ds and keyword in ds:
            delattr(ds, keyword)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    out = folder / path.name
    ds.save_as(out, enforce_file_format=True)
    return out


def _both_ways(path: Path, plan: Plan, secret: Secret, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, bytes] | None:
    fast = prepare(1, path, plan, secret)[1]
    with monkeypatch.context() as patched:
        patched.setattr(rawtext, "view", lambda *args: None)  # every edit through pydicom
        slow = prepare(1, path, plan, secret)[1]
    if fast is None or slow is None:
        assert fast is None and slow is None
        return None
    return encoder.encode(fast), reference(slow)


# A kept value stored with more padding than it needs (ImageType DERIVED, SECONDARY, OTHER and two
# spaces: 26 bytes for 24): the fast path copies its bytes; pydicom, once the slow path has read the
# value, writes it without the extra spaces. Shipped only under research (a capture image the loop
# certifies), so only there compared.
OVER_PADDED = {"SC_rgb_gdcm_KY.dcm": 2}


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["basic", "research"])
def test_pipeline_fast_paths_equal_pydicom_paths(
    profile: str, sample_flat: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan, secret = Plan(load_profile(profile)), Secret(os.urandom(32))
    charset = [with_uids(p, tmp_path) for p in CHARSET_FILES]
    compared = 0
    for path in readable() + charset + sample_flat:
        pair = _both_ways(path, plan, secret, monkeypatch)
        if pair is not None and path.name in OVER_PADDED:  # ours keeps the bytes, pydicom's read re-pads them
            assert len(pair[0]) - len(pair[1]) == OVER_PADDED[path.name], path.name
        elif pair is not None:
            assert pair[0] == pair[1], path.name
            compared += 1
    assert compared > 55


@pytest.fixture
def sample_flat(tmp_path: Path) -> list[Path]:
    from anonymizer.testing import write_flat_corpus

    return write_flat_corpus(tmp_path / "flat", 10)


CHARSETS = [None, "ISO_IR 100", "ISO_IR 192", "ISO_IR 144", "ISO 2022 IR 6\\ISO 2022 IR 87", "GB18030"]
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    charset=st.sampled_from(CHARSETS),
    name=TEXT,
    description=TEXT,
    comments=TEXT,
    institution=TEXT,
    accession=st.text(st.characters(codec="ascii"), max_size=16),
)
def test_random_text_fast_path_equals_pydicom(
    charset: str | None,
    name: str,
    description: str,
    comments: str,
    institution: str,
    accession: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Random (also non-Latin, backslash, padded) strings in six character sets."""
    ds = dataset(
        SOP["SR"],  # no pixel data expected
        PatientName=name,
        StudyDescription=description,
        ImageComments=comments,
        InstitutionName=institution,
        AccessionNumber=accession,
        StudyDate="20200102",
        ReferringPhysicianName=name + "^X",
    )
    if charset:
        ds.SpecificCharacterSet = charset.split("\\") if "\\" in charset else charset
    path = tmp_path / "random.dcm"
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds.save_as(buffer, enforce_file_format=True)
        except Exception:
            return  # a value this character set cannot hold: nothing to compare
    path.write_bytes(buffer.getvalue())
    pair = _both_ways(path, Plan(load_profile("research")), Secret(bytes(32)), monkeypatch)
    assert pair is not None
    assert pair[0] == pair[1]


def test_view_decodes_as_pydicom_converts() -> None:
    ds = dataset(
        PatientName="Yamada^Tarou=山田^太郎",
        OtherPatientIDs=["A1 ", "B2"],
        StudyDescription="text\\with backslashes  ",
        StationAETitle="  STATION ",
    )
    ds.SpecificCharacterSet = "ISO_IR 192"
    again = pydicom.dcmread(io.BytesIO(encoder.encode(ds)))
    codec = rawtext.codec(again)
    assert codec == "UTF8"
    for keyword, vr in [("PatientName", "PN"), ("OtherPatientIDs", "LO"), ("StationAETitle", "AE")]:
        tag = tag_for_keyword(keyword)
        assert tag is not None
        view = rawtext.view(again, tag, vr, codec)  # before pydicom converts it below
        assert view is not None
        assert values(view) == values(again[tag]), keyword  # what the actions read
    assert rawtext.view(again, 0x00081030, "LO", codec) is not None  # StudyDescription: multi-valued LO
    assert rawtext.view(again, 0x00080020, "DA", None) is None  # no simple codec: pydicom's path


def test_sequences_parsed_in_place_equal_pydicom_conversion() -> None:
    """``walk.items`` puts in place what ``ds[key]`` would: the same items, read the same
    way, and the same bytes once written (over every sequence of every readable file)."""
    compared = 0
    for path in readable() + CHARSET_FILES:
        ours, theirs = _read(path), _read(path)
        assert ours is not None and theirs is not None
        for key in [k for k, e in ours._dict.items() if e.VR == "SQ"]:
            fast, slow = walk.items(ours, key), theirs[key].value
            assert ours[key].is_undefined_length == theirs[key].is_undefined_length, path.name
            assert len(fast) == len(slow), path.name
            for a, b in zip(fast, slow, strict=True):
                assert (a.original_encoding, a._character_set) == (b.original_encoding, b._character_set)
                assert a.is_undefined_length_sequence_item == b.is_undefined_length_sequence_item
                assert getattr(a, "_pixel_rep", None) == getattr(b, "_pixel_rep", None), path.name
                assert a == b, path.name
            compared += 1
        try:
            expected = reference(theirs)
        except Exception:  # pydicom cannot write it (missing meta)
            continue
        assert encoder.encode(ours) == expected, path.name
    assert compared > 40
