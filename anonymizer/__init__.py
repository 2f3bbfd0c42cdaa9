"""anonymizer-dicom: rules-based DICOM de-identification (PS3.15 Annex E)."""

__version__ = "0.1.0"
