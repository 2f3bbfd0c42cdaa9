"""Hypothesis properties: no leaks, determinism, UID consistency, stability on re-runs."""

from __future__ import annotations

import io
import logging

import pydicom
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from anonymizer.engine.apply import deidentify
from anonymizer.engine.plan import Plan
from anonymizer.keys.secret import Secret
from anonymizer.profile.loader import load_profile
from tests.factory import SOP, dataset

PLANS = {name: Plan(load_profile(name)) for name in ("basic", "research")}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

words = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=6, max_size=10).map(lambda s: "QZ" + s)
keys = st.binary(min_size=32, max_size=32)
uids = st.lists(st.integers(1, 10**12), min_size=2, max_size=6).map(lambda n: "1.2." + ".".join(map(str, n)))


def planted(family: str, given: str, ident: str, other: str, uid: str) -> Dataset:
    """A dataset with a sentinel in every identifying place, nested and private included."""
    ds = dataset(SOP["CT"], PatientName=f"{family}^{given}", PatientID=ident, SOPInstanceUID=uid)
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.SourceApplicationEntityTitle = other[:16]
    ds.AccessionNumber = other[:16]
    ds.InstitutionName = f"{other} Clinic"
    ds.ImageComments = f"pt {given.lower()} {family.title()} id {ident} seen 2021-02-03"
    ds.StudyDescription = f"CT of {family}"
    item = Dataset()
    item.PatientID, item.PatientName = other, f"{given}^{family}"
    ds.OtherPatientIDsSequence = Sequence([item])
    request = Dataset()
    request.AccessionNumber, request.RequestedProcedureDescription = other[:16], f"for {family}"
    ds.RequestAttributesSequence = Sequence([request])
    block = ds.private_block(0x0019, "SNT CREATOR", create=True)
    block.add_new(0x01, "LO", ident)
    return ds


def written(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@SETTINGS
@given(words, words, words, words, uids, keys, st.sampled_from(sorted(PLANS)))
def test_no_sentinel_survives_in_bytes_or_logs(family, given_, ident, other, uid, key, profile) -> None:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        ds = planted(family, given_, ident, other, uid)
        deidentify(ds, PLANS[profile], Secret(key))
        data = written(ds).lower()
    finally:
        root.removeHandler(handler)
    for sentinel in (family, given_, ident, other, uid):
        assert sentinel.lower().encode() not in data
        assert not any(sentinel in line for line in handler.lines)


@SETTINGS
@given(words, words, uids, keys, keys)
def test_same_key_same_bytes_other_key_other_pseudonyms(family, ident, uid, key, other_key) -> None:
    plan = PLANS["research"]
    first, second, third = (planted(family, "GIVEN", ident, "OTHERX", uid) for _ in range(3))
    deidentify(first, plan, Secret(key))
    deidentify(second, plan, Secret(key))
    assert written(first) == written(second)
    if other_key != key:
        deidentify(third, plan, Secret(other_key))
        assert third.PatientID != first.PatientID
        assert third.SOPInstanceUID != first.SOPInstanceUID


@SETTINGS
@given(uids, uids, keys)
def test_equal_uids_map_to_equal_uids_everywhere(uid, other, key) -> None:
    secret = Secret(key)
    image = dataset(SOP["CT"], SOPInstanceUID=uid, StudyInstanceUID=other)
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = SOP["CT"], uid
    derived = dataset(SOP["MR"], SourceImageSequence=Sequence([ref]), StudyInstanceUID=other)
    derived.SOPInstanceUID = other + ".9"
    for ds in (image, derived):
        deidentify(ds, PLANS["research"], secret)
    assert derived.SourceImageSequence[0].ReferencedSOPInstanceUID == image.SOPInstanceUID
    assert derived.StudyInstanceUID == image.StudyInstanceUID
    assert image.SOPInstanceUID != uid and len(image.SOPInstanceUID) <= 64


@SETTINGS
@given(words, words, words, words, uids, keys, st.sampled_from(sorted(PLANS)))
def test_running_on_deidentified_output_is_stable(family, given_, ident, other, uid, key, profile) -> None:
    plan, secret = PLANS[profile], Secret(key)
    once = planted(family, given_, ident, other, uid)
    deidentify(once, plan, secret)
    twice = pydicom.dcmread(io.BytesIO(written(once)))
    deidentify(twice, plan, secret)
    data = written(twice)
    assert set(twice.keys()) == set(pydicom.dcmread(io.BytesIO(written(once))).keys())
    assert twice.PatientIdentityRemoved == "YES"
    for sentinel in (family, given_, ident, other, uid):
        assert sentinel.lower().encode() not in data.lower()
    for elem in pydicom.dcmread(io.BytesIO(data)).iterall():
        _ = elem.value
