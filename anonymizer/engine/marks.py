"""The de-identification marks and the file meta group of a de-identified object.

Every output carries PatientIdentityRemoved, DeidentificationMethod and
LongitudinalTemporalInformationModified. The marks are earned: PatientIdentityRemoved
is ``YES``, with the CID 7050 code sequence (113100 and the options), only when the plan
meets the Basic Profile (:mod:`anonymizer.engine.verdict`); otherwise it is ``NO``, no
code is written and DeidentificationMethod says the profile is custom. An object that
was de-identified before keeps its earlier DeidentificationMethod values and code items;
ours are appended (the attribute records each step). The marks are encoded once per plan
and transfer syntax as raw elements (copied on write), and the file meta group keeps only
its structural elements with our implementation's identity.
"""

from __future__ import annotations

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

from anonymizer import standard
from anonymizer.dicom.encoder import raw_elements
from anonymizer.engine.plan import Plan
from anonymizer.engine.verdict import meets_basic
from anonymizer.version import __version__

IMPLEMENTATION_CLASS_UID = "2.25.160714952406958423389232520312386170093"
IMPLEMENTATION_VERSION = f"ANONYMIZER_{__version__.replace('.', '')}"[:16]
META_KEPT = frozenset({0x00020000, 0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013})
METHOD, METHOD_CODES = 0x00120063, 0x00120064


def method_items(options: tuple[str, ...]) -> list[Dataset]:
    """The DeidentificationMethodCodeSequence items: the Basic Profile and each option (CID 7050)."""
    items = []
    for name in ("basic", *[o for o in standard.CID_7050 if o in options]):
        code, meaning = standard.CID_7050[name]
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "DCM", meaning
        items.append(item)
    return items


def marking(plan: Plan) -> Dataset:
    """PatientIdentityRemoved, DeidentificationMethod (+ code sequence), LongitudinalTemporal..."""
    options, ds, profile = plan.options, Dataset(), plan.profile
    method = f"anonymizer-dicom {__version__} profile {profile.name} {profile.version}"
    if meets_basic(plan):
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = method[:64]
        ds.DeidentificationMethodCodeSequence = method_items(options)
    else:
        ds.PatientIdentityRemoved = "NO"
        ds.DeidentificationMethod = f"{method} custom, not PS3.15 Basic"[-64:]
    if "retain-longitudinal-full-dates" in options:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif "retain-longitudinal-modified-dates" in options:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"
    return ds


def encoded(plan: Plan, implicit: bool, little: bool) -> dict[BaseTag, RawDataElement]:
    """The marking elements as raw elements in one encoding (immutable, safe to share)."""
    return raw_elements(marking(plan), implicit, little)


def mark(ds: Dataset, plan: Plan) -> None:
    """Set the de-identification attributes: raw elements encoded once per plan when possible."""
    encoding = ds.original_encoding
    if None in encoding or METHOD in ds or METHOD_CODES in ds:
        _merge(ds, marking(plan))
        return
    key = (bool(encoding[0]), bool(encoding[1]))
    ds._dict.update(plan.memo("marks", key, lambda: encoded(plan, *key)))


def _values(value: object) -> list[str]:
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list | MultiValue) else [str(value)]


def _merge(ds: Dataset, ours: Dataset) -> None:
    """Set our marks, after the DeidentificationMethod values and code items already there."""
    methods = _values(ds.get("DeidentificationMethod"))
    items = list(ds.get("DeidentificationMethodCodeSequence") or [])
    seen = {(str(i.get("CodeValue", "")), str(i.get("CodingSchemeDesignator", ""))) for i in items}
    for elem in ours:
        ds[elem.tag] = elem
    ds.DeidentificationMethod = methods + [m for m in _values(ours.DeidentificationMethod) if m not in methods]
    if items:
        new = [i for i in ours.get("DeidentificationMethodCodeSequence", []) if (i.CodeValue, "DCM") not in seen]
        ds.DeidentificationMethodCodeSequence = items + new


def identity_not_removed(ds: Dataset) -> None:
    """PatientIdentityRemoved ``NO``: the object ships pixels that may still name the patient."""
    ds.PatientIdentityRemoved = "NO"


def clean_file_meta(ds: FileDataset) -> None:
    """Keep the structural file meta elements; ours for the implementation; UIDs follow the dataset."""
    meta = ds.file_meta
    for tag in list(meta.keys()):
        if int(tag) not in META_KEPT:
            del meta[tag]
    values = {0x00020003: str(ds.SOPInstanceUID), 0x00020012: IMPLEMENTATION_CLASS_UID}
    if "SOPClassUID" in ds:
        values[0x00020002] = str(ds.SOPClassUID)
    for number, uid in values.items():  # raw, as read: cheaper than pydicom's attribute setter
        data, tag = uid.encode("ascii") + b"\x00" * (len(uid) % 2), BaseTag(number)
        meta._dict[tag] = RawDataElement(tag, "UI", len(data), data, 0, False, True)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
