"""Who a file belongs to, from its original header: keys for the date offset and the folders.

The Patient / Study / Series levels of OUT must hold under every profile, also one that
empties PatientID and the dates (``basic``). Each level gets a keyed token of the
original identifier, which never enters the header: ``{patient}`` from the PatientID
(or, when it is absent, from the other patient attributes), ``{study}`` and
``{series}`` from the instance UIDs. The patient key also picks the day offset, so
patients without a PatientID do not share one.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from anonymizer.keys.secret import Subkeys

TOKEN_LENGTH = 10
FALLBACK = ("PatientName", "PatientBirthDate", "PatientSex", "IssuerOfPatientID", "OtherPatientIDs")


def _text(ds: Dataset, keyword: str) -> str:
    try:
        return str(ds.get(keyword, "") or "").strip()
    except (TypeError, ValueError):
        return ""


def patient_key(ds: Dataset) -> str:
    """The original PatientID; without one, the other patient attributes; without those, the study."""
    patient = _text(ds, "PatientID")
    if patient:
        return patient
    others = "|".join(f"{k}={_text(ds, k)}" for k in FALLBACK if _text(ds, k))
    return f"no-patient-id|{others}" if others else f"no-patient|{_text(ds, 'StudyInstanceUID')}"


def folder_tokens(ds: Dataset, keys: Subkeys) -> dict[str, str]:
    """``{patient}``, ``{study}`` and ``{series}`` for the layout, from the original header."""
    return {
        "patient": keys.token("layout/patient", patient_key(ds), TOKEN_LENGTH),
        "study": keys.token("layout/study", _text(ds, "StudyInstanceUID"), TOKEN_LENGTH),
        "series": keys.token("layout/series", _text(ds, "SeriesInstanceUID"), TOKEN_LENGTH),
    }
