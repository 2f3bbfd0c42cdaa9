"""Synthetic multi-patient DICOM with planted identifiers, from pydicom's bundled files.

For the examples, the tests and the benchmarks. Every identifying element gets a unique
sentinel (``SNT`` + kind + number): standard, nested, private, file-meta and free-text
elements. :func:`write_sample` returns them, so a test can search every output for each.
Study, series and frame-of-reference UIDs are new per group, and instances reference one
another (image -> previous image, RT Dose -> RT Plan, SR -> images), so reference
integrity can be checked after de-identification.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

# (template, transfer syntax it carries) - each becomes one series per patient
TEMPLATES = (
    "CT_small.dcm",  # explicit VR little endian
    "MR_small_implicit.dcm",  # implicit VR
    "MR_small_bigendian.dcm",  # explicit VR big endian
    "image_dfl.dcm",  # deflated
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
    "MR_small_jp2klossless.dcm",  # JPEG 2000
    "MR_small_RLE.dcm",  # RLE
    "ExplVR_BigEnd.dcm",  # US, big endian
    "rtplan.dcm",
    "rtdose.dcm",
    "test-SR.dcm",
)
PRIVATE_CREATOR, PRIVATE_GROUP = "ACME PRIVATE 1.0", 0x0077


@dataclass
class Sample:
    """What :func:`write_sample` wrote: files and every planted identifier."""

    files: list[Path] = field(default_factory=list)
    sentinels: set[str] = field(default_factory=set)
    patients: dict[str, list[Path]] = field(default_factory=dict)  # original PatientID -> files


def _uid(*parts: object) -> str:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return "1.2.826.0.1.3680043.10.543." + str(int.from_bytes(digest[:12], "big"))


def _text_item(text: str) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType, item.TextValue = "CONTAINS", "TEXT", text
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "121106", "DCM", "Comment"
    item.ConceptNameCodeSequence = Sequence([code])
    return item


def plant(ds: FileDataset, p: int, s: int, tag: str) -> set[str]:
    """Put a sentinel into every identifying element of ``ds``; return them."""
    sn: dict[str, str] = {
        k: f"SNT{k}{p}{tag}"
        for k in (
            "FAM",
            "GIV",
            "PID",
            "OPID",
            "ACC",
            "SID",
            "INST",
            "ADDR",
            "REF",
            "OPER",
            "PERF",
            "STN",
            "SER",
            "TEL",
            "PRIV",
            "AET",
            "RQID",
            "COMM",
            "NEST",
            "MOTH",
            "BIRTHNAME",
        )
    }
    family, given, patient_id = f"SNTFAM{p}", f"SNTGIV{p}", f"SNTPID{p}"
    sn.update(FAM=family, GIV=given, PID=patient_id)
    ds.PatientName = f"{family}^{given}"
    ds.PatientID = patient_id
    ds.PatientBirthDate = f"19{(50 + p) % 100:02d}0612"
    ds.PatientSex = "F" if p % 2 else "M"
    ds.PatientAge = f"{40 + p:03d}Y"
    ds.PatientAddress = f"{sn['ADDR']} Street 12"
    ds.PatientTelephoneNumbers = sn["TEL"]
    ds.PatientMotherBirthName = sn["MOTH"]
    ds.PatientBirthName = sn["BIRTHNAME"]
    ds.AccessionNumber = f"SNTACC{p}{s}"
    sn["ACC"] = f"SNTACC{p}{s}"
    ds.StudyID = sn["SID"][:16]
    ds.InstitutionName = f"{sn['INST']} Hospital"
    ds.InstitutionAddress = f"{sn['ADDR']} Street 12"
    ds.ReferringPhysicianName = f"{sn['REF']}^Doc"
    ds.OperatorsName = sn["OPER"]
    ds.PerformingPhysicianName = sn["PERF"]
    ds.StationName = sn["STN"][:16]
    ds.DeviceSerialNumber = sn["SER"]
    other = Dataset()
    other.PatientID, other.IssuerOfPatientID = sn["OPID"], "SNTISSUER"
    ds.OtherPatientIDsSequence = Sequence([other])
    request = Dataset()
    request.AccessionNumber, request.RequestedProcedureID = sn["ACC"], sn["RQID"]
    request.RequestedProcedureDescription = f"Protocol for {given} {family}"
    ds.RequestAttributesSequence = Sequence([request])
    ds.StudyDescription = f"Study of {family.lower()}, {given} on 2019-03-04"
    ds.SeriesDescription = f"Series {patient_id} AX T1"
    ds.ImageComments = f"Patient {given} {family} MRN {patient_id}, call 555-123-4567, mail a.b@example.org"
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", sn["PRIV"])
    block.add_new(0x02, "PN", f"{family}^{given}")
    nested = Dataset()
    nested.PatientName = f"{family}^{given}"
    nested.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True).add_new(0x01, "LO", sn["NEST"])
    block.add_new(0x03, "SQ", Sequence([nested]))
    ds.file_meta.SourceApplicationEntityTitle = sn["AET"][:16]
    if "ContentSequence" in ds or ds.get("Modality") == "SR":
        ds.ContentSequence = Sequence([*ds.get("ContentSequence", []), _text_item(f"Reported for {given} {family}")])
    for key in ("STN", "AET"):
        sn[key] = sn[key][:16]
    sn["SID"] = sn["SID"][:16]
    return set(sn.values()) | {"SNTISSUER", ds.PatientBirthDate}


def template_path(name: str) -> str:
    """Path of a pydicom bundled test file (exact name only: patterns go to the network)."""
    path = get_testdata_file(name)
    if not isinstance(path, str):
        raise FileNotFoundError(name)
    return path


def write_sample(out: Path, patients: int = 3, instances: int = 2, templates: tuple[str, ...] = TEMPLATES) -> Sample:
    """Write ``patients`` x ``len(templates)`` series x ``instances`` files under ``out``.

    Input file names deliberately hold identifiers (``SNTFAM0_SNTPID0/...``) so tests can
    prove that no input path reaches the output.
    """
    sample = Sample()
    for p in range(patients):
        folder = out / f"SNTFAM{p}_SNTPID{p}"
        folder.mkdir(parents=True, exist_ok=True)
        study_uid = _uid("study", p)
        study_date = dt.date(2019, 3, 4) + dt.timedelta(days=37 * p)
        images: list[tuple[str, str, str]] = []
        plan_ref: tuple[str, str] | None = None
        for r, name in enumerate(templates):
            series_uid, frame_uid = _uid("series", p, r), _uid("for", p, r)
            previous: tuple[str, str] | None = None
            for i in range(instances):
                ds = pydicom.dcmread(template_path(name))
                sop_uid = _uid("sop", p, r, i)
                ds.SOPInstanceUID = sop_uid
                ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
                ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
                ds.FrameOfReferenceUID = frame_uid
                ds.StudyDate = study_date.strftime("%Y%m%d")
                ds.SeriesDate = (study_date + dt.timedelta(days=r % 2)).strftime("%Y%m%d")
                ds.ContentDate = ds.SeriesDate
                ds.AcquisitionDateTime = ds.SeriesDate + "101500.000000"
                ds.SeriesNumber, ds.InstanceNumber = r + 1, i + 1
                sample.sentinels |= plant(ds, p, r, f"S{r}I{i}")
                if "PixelData" in ds and "BurnedInAnnotation" not in ds:
                    ds.BurnedInAnnotation = "NO"  # pydicom's test images carry no burned-in text
                if previous is not None:
                    ref = Dataset()
                    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = previous
                    ds.ReferencedImageSequence = Sequence([ref])
                if ds.get("Modality") == "RTDOSE" and plan_ref is not None:
                    ref = Dataset()
                    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = plan_ref
                    ds.ReferencedRTPlanSequence = Sequence([ref])
                if ds.get("Modality") == "SR" and images:
                    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([_evidence(study_uid, images)])
                previous = (str(ds.SOPClassUID), sop_uid)
                if ds.get("Modality") == "RTPLAN":
                    plan_ref = previous
                elif ds.get("Modality") in ("CT", "MR", "US", "OT"):
                    images.append((*previous, series_uid))
                path = folder / f"{name[:-4]}_{i:03d}.dcm"
                ds.save_as(path, enforce_file_format=True)
                sample.files.append(path)
                sample.patients.setdefault(f"SNTPID{p}", []).append(path)
    return sample


def _evidence(study_uid: str, images: list[tuple[str, str, str]]) -> Dataset:
    study = Dataset()
    study.StudyInstanceUID = study_uid
    study.ReferencedSeriesSequence = Sequence()
    for class_uid, instance_uid, series_uid in images[:3]:
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = class_uid, instance_uid
        series = Dataset()
        series.SeriesInstanceUID = series_uid
        series.ReferencedSOPSequence = Sequence([ref])
        study.ReferencedSeriesSequence.append(series)
    return study


def write_flat_corpus(
    out: Path,
    count: int,
    template: str = "CT_small.dcm",
    per_patient: int = 20,
    matrix: int | None = None,
    batch: str = "flat",
) -> list[Path]:
    """A flat PACS-style dump: ``count`` files with random hex names, ``per_patient`` each.

    Patients have one study and one series; identifiers are planted as in :func:`plant`.
    ``matrix`` (e.g. 512) gives an uncompressed 16-bit template that size (the template's
    own pixels, tiled), for files of realistic CT size. Another ``batch`` name gives other
    instances and studies (the same patients: a later export).
    """
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(count if batch == "flat" else f"{batch}/{count}")
    source = Path(template_path(template)).read_bytes()
    if matrix is not None:
        big = pydicom.dcmread(io.BytesIO(source))
        size = matrix * matrix * 2
        big.PixelData = (bytes(big.PixelData) * (size // len(big.PixelData) + 1))[:size]
        big.Rows = big.Columns = matrix
        buffer = io.BytesIO()
        big.save_as(buffer, enforce_file_format=True)
        source = buffer.getvalue()
    paths = []
    for i in range(count):
        ds = pydicom.dcmread(io.BytesIO(source))
        p, s = divmod(i, per_patient)
        sop = _uid(batch, template, i)
        ds.SOPInstanceUID, ds.file_meta.MediaStorageSOPInstanceUID = sop, UID(sop)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = _uid(f"{batch}-study", p), _uid(f"{batch}-series", p)
        ds.InstanceNumber = s + 1
        plant(ds, p, 0, f"I{s}")
        path = out / f"{rng.getrandbits(64):016x}"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
