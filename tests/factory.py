"""Small in-memory DICOM factories for unit tests."""

from __future__ import annotations

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

SOP = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "SR": "1.2.840.10008.5.1.4.1.1.88.33",
    "RTPLAN": "1.2.840.10008.5.1.4.1.1.481.5",
}


def dataset(sop_class: str = SOP["CT"], **elements: object) -> FileDataset:
    """A minimal valid object with file meta; keyword arguments set elements."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = "1.2.3.4.5.6.7"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = "SNTAETITLE"
    ds = FileDataset("unused", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = "1.2.3.4.5.6.7"
    ds.StudyInstanceUID = "1.2.3.4.5"
    ds.SeriesInstanceUID = "1.2.3.4.5.6"
    ds.PatientID = "SNTPATIENTID"
    ds.PatientName = "SNTFAMILY^SNTGIVEN"
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds
