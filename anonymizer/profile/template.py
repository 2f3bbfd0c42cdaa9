"""Output layout templates: which fields they may name, and the default one.

A template is a relative file path with Python format fields: de-identified attribute
keywords (``{SeriesNumber:04d}``) and the hierarchy tokens ``{patient}``, ``{study}``,
``{series}`` (keyed tokens of the original identifiers, see
:mod:`anonymizer.engine.hierarchy`), which keep the Patient/Study/Series levels under
every profile, also one that empties PatientID and the dates.
"""

from __future__ import annotations

import string

from pydicom.datadict import keyword_dict

from anonymizer.errors import ProfileError, did_you_mean

HIERARCHY = ("patient", "study", "series")
DEFAULT_LAYOUT = "{patient}/{StudyDate}_{study}/{SeriesNumber:04d}_{Modality}_{series}/{InstanceNumber:05d}.dcm"


def check_template(template: str) -> None:
    """Raise ProfileError for a template that cannot make a relative file path."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ProfileError(f"invalid layout template ({exc})") from None
    if not fields or any(not f.isidentifier() for f in fields):
        raise ProfileError("a layout template names attributes by keyword, e.g. {PatientID}")
    unknown = [f for f in fields if f not in HIERARCHY and f not in keyword_dict]
    if unknown:
        hints = [f"{f!r}{did_you_mean(f, [*HIERARCHY, *keyword_dict])}" for f in unknown]
        raise ProfileError(f"unknown layout field(s) {', '.join(hints)}")
    if template.startswith("/") or template.endswith("/"):
        raise ProfileError("a layout template is a relative path to a file")
