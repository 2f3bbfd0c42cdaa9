"""Who a file belongs to, from its original header: keys for the date offset and the folders.

The Patient / Study / Series levels of OUT must hold under every profile, also one that
empties PatientID and the dates (``basic``). Each level gets a keyed token of the
original identifier, which never enters the header: ``{patient}`` from the PatientID
(or, when it is absent, from the other patient attributes), ``{study}`` and
``{series}`` from the instance UIDs. The patient key also picks the day offset, so
patients without a PatientID do not share one.
"""

from __future__ import annotations

from pydicom.datadict import dictionary_VR, keyword_dict
from pydicom.dataset import Dataset

from anonymizer.dicom import rawtext
from anonymizer.keys.secret import Subkeys

TOKEN_LENGTH = 10
FALLBACK = ("PatientName", "PatientBirthDate", "PatientSex", "IssuerOfPatientID", "OtherPatientIDs")


def _text(ds: Dataset, keyword: str, codec: str | None) -> str:
    """A top-level text value, read without converting the element (it stays raw for the encoder)."""
    tag = keyword_dict[keyword]
    if tag not in ds._dict:
        return ""
    view = rawtext.view(ds, tag, str(dictionary_VR(tag)), codec)
    try:
        value = view.value if view is not None else ds[tag].value
    except (TypeError, ValueError):
        return ""
    if isinstance(value, list):
        value = "\\".join(map(str, value))
    return str(value or "").strip()


def patient_key(ds: Dataset, codec: str | None = None) -> str:
    """The original PatientID; without one, the other patient attributes; without those, the study."""
    codec = codec or rawtext.codec(ds)
    patient = _text(ds, "PatientID", codec)
    if patient:
        return patient
    found = {k: _text(ds, k, codec) for k in FALLBACK}
    others = "|".join(f"{k}={v}" for k, v in found.items() if v)
    return f"no-patient-id|{others}" if others else f"no-patient|{_text(ds, 'StudyInstanceUID', codec)}"


def folder_tokens(ds: Dataset, keys: Subkeys) -> dict[str, str]:
    """``{patient}``, ``{study}`` and ``{series}`` for the layout, from the original header."""
    codec = rawtext.codec(ds)
    return {
        "patient": keys.token("layout/patient", patient_key(ds, codec), TOKEN_LENGTH),
        "study": keys.token("layout/study", _text(ds, "StudyInstanceUID", codec), TOKEN_LENGTH),
        "series": keys.token("layout/series", _text(ds, "SeriesInstanceUID", codec), TOKEN_LENGTH),
    }
