"""The engine on in-memory datasets: per-IOD resolution, private blocks, meta, contexts."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from anonymizer.engine.apply import deidentify
from anonymizer.engine.marks import IMPLEMENTATION_CLASS_UID
from anonymizer.engine.plan import Plan
from anonymizer.errors import InputError
from anonymizer.keys.secret import Secret
from anonymizer.profile.loader import load_profile
from tests.factory import SOP, dataset

BASIC = Plan(load_profile("basic"))
RESEARCH = Plan(load_profile("research"))


def with_dates(sop: str) -> Dataset:
    return dataset(
        SOP[sop],
        ContentDate="20200101",
        OperatorsName="SNTOPERATOR",
        AcquisitionDateTime="20200101101010",
        RTPlanDate="20200101",
        ReviewerName="SNTREVIEWER",
        TreatmentSite="SNTSITE",
        ReferencedPerformedProcedureStepSequence=Sequence([Dataset()]),
    )


@pytest.mark.parametrize(
    ("sop", "expected"),
    [
        # Z/D ContentDate: Type 2 in image IODs, Type 1 in SR, absent in RT Plan.
        # X/Z/D OperatorsName: Type 3 in images, Type 2 in RT Plan (RT Series), absent in SR.
        # X/Z/D AcquisitionDateTime: Type 1 in US, 3 in CT/MR.
        ("CT", {"ContentDate": "", "OperatorsName": None, "AcquisitionDateTime": None}),
        ("MR", {"ContentDate": "", "OperatorsName": None, "AcquisitionDateTime": None}),
        ("US", {"ContentDate": "", "AcquisitionDateTime": "19000101000000"}),
        (
            "SR",
            {"ContentDate": "19000101", "OperatorsName": None, "ReferencedPerformedProcedureStepSequence": 0},
        ),
        (
            "RTPLAN",
            {"OperatorsName": "", "RTPlanDate": "19000101", "ReviewerName": "", "TreatmentSite": None},
        ),
    ],
)
def test_combined_codes_resolve_per_iod(secret: Secret, sop: str, expected: dict[str, object]) -> None:
    ds = with_dates(sop)
    deidentify(ds, BASIC, secret)
    for keyword, value in expected.items():
        if value is None:
            assert keyword not in ds, keyword
        elif value in (0, ""):
            assert keyword in ds and not ds[keyword].value, keyword  # present, zero length
        else:
            assert ds[keyword].value == value, keyword


def test_unknown_sop_class_takes_the_strictest_type(secret: Secret) -> None:
    ds = with_dates("CT")
    ds.SOPClassUID = "1.2.3.999"
    deidentify(ds, BASIC, secret)
    assert ds.ContentDate == "19000101"  # Type 1 somewhere (SR) -> D keeps any IOD valid
    assert "OperatorsName" in ds and not ds.OperatorsName  # Type 2 at most -> Z


def test_research_keeps_reference_sequences_with_remapped_uids(secret: Secret) -> None:
    def ref() -> Dataset:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = SOP["CT"], "1.2.3.4.5.6.8"
        return item

    for plan, kept in ((BASIC, False), (RESEARCH, True)):
        ds = dataset(ReferencedImageSequence=Sequence([ref()]), SourceImageSequence=Sequence([ref()]))
        deidentify(ds, plan, secret)
        assert ("ReferencedImageSequence" in ds) is kept
        if kept:
            item = ds.SourceImageSequence[0]
            assert item.ReferencedSOPInstanceUID == secret.uid("1.2.3.4.5.6.8")
            assert item.ReferencedSOPClassUID == SOP["CT"]


def test_private_policies_and_creators(secret: Secret) -> None:
    def build() -> Dataset:
        ds = dataset()
        ge = ds.private_block(0x0009, "GEMS_IDEN_01", create=True)
        ge.add_new(0x01, "LO", "GE_GENESIS_FF")  # TCIA KB: keep
        ge.add_new(0x04, "SH", "CT SNTFAMILY")  # TCIA KB: keep; text, so cleaned
        ge.add_new(0x02, "SH", "SNTSUITE")  # TCIA KB: delete
        acme = ds.private_block(0x0011, "ACME 1", create=True)
        acme.add_new(0x01, "LO", "SNTACME")  # unknown to the KB
        ds.add_new(0x00131001, "LO", "SNTORPHAN")  # no creator: illegal
        fdms = ds.private_block(0x0009, "FDMS 1.0", create=True)
        fdms.add_new(0x05, "UI", "1.2.3.77")  # TCIA KB: h (a UID)
        return ds

    removed = build()
    deidentify(removed, BASIC, secret)
    assert not [e for e in removed if e.tag.is_private]

    safe = build()
    deidentify(safe, RESEARCH, secret)
    private = {(e.tag.group, e.tag.element): e.value for e in safe if e.tag.is_private}
    assert private[(0x0009, 0x0010)] == "GEMS_IDEN_01"
    assert "GE_GENESIS_FF" in private.values()
    assert "CT ***" in private.values()
    assert not any("SNT" in str(v) for v in private.values())
    assert secret.uid("1.2.3.77") in private.values()
    assert (0x0011, 0x0010) not in private  # creator of an emptied block is dropped

    kept = build()
    deidentify(kept, kept_plan(), secret)
    assert any(e.value == "SNTACME" for e in kept if e.tag.is_private)
    assert 0x00131001 not in kept


def kept_plan() -> Plan:
    from dataclasses import replace

    return Plan(replace(load_profile("basic"), private_tags="keep"))


def test_file_meta_marks_and_unknown_tags(secret: Secret) -> None:
    ds = dataset()
    ds.add_new(0x00100011, "SQ", Sequence([Dataset()]))  # Person Names to Use (not in pydicom 3.0)
    ds.add_new(0x00100000, "UL", 123)  # group length
    ds.add_new(0x00080201, "SH", "+0100")
    deidentify(ds, BASIC, secret)
    assert 0x00100011 not in ds and 0x00100000 not in ds
    meta = ds.file_meta
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID == secret.uid("1.2.3.4.5.6.7")
    assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert "SourceApplicationEntityTitle" not in meta
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == ["113100"]


def test_replaced_and_cleaned_sequences_treat_unlisted_text_inside(secret: Secret) -> None:
    def sr() -> Dataset:
        item = Dataset()
        item.ValueType, item.TextValue = "TEXT", "Seen by SNTFAMILY today, MRN 1234567"
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "121106", "DCM", "Comment"
        item.ConceptNameCodeSequence = Sequence([code])
        return dataset(SOP["SR"], ContentSequence=Sequence([item]))

    basic = sr()
    deidentify(basic, BASIC, secret)  # ContentSequence D: text inside replaced
    assert basic.ContentSequence[0].TextValue == "ANONYMIZED"
    assert basic.ContentSequence[0].ValueType == "TEXT"  # CS kept
    research = sr()
    deidentify(research, RESEARCH, secret)  # clean-structured-content: text cleaned
    inner = research.ContentSequence[0]
    assert inner.TextValue == "Seen by *** today, MRN ***"
    assert inner.ConceptNameCodeSequence[0].CodeMeaning == "Comment"


def test_missing_sop_instance_uid_is_an_input_error(secret: Secret) -> None:
    ds = dataset()
    del ds.SOPInstanceUID
    with pytest.raises(InputError) as err:
        deidentify(ds, BASIC, secret)
    assert err.value.reason == "missing-sop-instance-uid"


def test_explain_rows_name_their_origin() -> None:
    rows = list(RESEARCH.explain("1.2.840.10008.5.1.4.1.1.2"))
    by_keyword = {keyword: (action, origin) for _, keyword, action, origin in rows}
    assert by_keyword["PatientID"] == ("pseudonymize", "profiles/research.yaml:18")
    assert by_keyword["StudyDate"][0] == "shift_date"
    assert "retain-longitudinal-modified-dates" in by_keyword["StudyDate"][1]
    assert by_keyword["OperatorsName"][0] == "remove"
    assert "Type 3 in ct-image" in by_keyword["OperatorsName"][1]


def test_repeating_groups_follow_the_mask_rules(secret: Secret) -> None:
    ds = dataset()
    ds.add_new(0x60000010, "US", 16)  # OverlayRows: not in Table E.1-1, kept
    ds.add_new(0x60023000, "OW", b"\x01\x02")  # OverlayData (60xx,3000): X
    ds.add_new(0x60004000, "LT", "SNTOVERLAYCOMMENT")  # OverlayComments (60xx,4000): X
    ds.add_new(0x50000010, "US", 3)  # curves (50xx,xxxx): X
    deidentify(ds, BASIC, secret)
    assert 0x60000010 in ds
    assert not {0x60023000, 0x60004000, 0x50000010} & set(ds.keys())
