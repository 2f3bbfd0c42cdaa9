"""De-identified dataset -> safe relative output path (Patient/Study/Series/Instance).

The template is a Python format string over *de-identified* attribute keywords::

    {PatientID}/{StudyDate}_{StudyInstanceUID:.12}/{SeriesNumber:04d}_{Modality}/{InstanceNumber:05d}.dcm

A missing or unformattable attribute becomes :data:`MISSING`. Every component is
sanitized: no separators, no ``.``/``..``, no control or reserved characters, no
Windows device names, at most :data:`MAX_COMPONENT` characters; the result is always
relative and inside OUT. Two different instances that would share a path are told
apart by :func:`disambiguate`, from the instance's SOP Instance UID.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from pydicom.dataset import Dataset

from anonymizer.evidence.manifest import MANIFEST

MISSING = "none"
RESERVED = frozenset({MANIFEST.casefold()})  # top-level names the tool writes in OUT
MAX_COMPONENT = 96
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_NUMERIC = frozenset("bcdoxXeEfFgGn%")


class _Formatter(string.Formatter):
    def __init__(self, ds: Dataset, tokens: Mapping[str, str]):
        self.ds, self.tokens = ds, tokens

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        if key in self.tokens:
            return self.tokens[str(key)]
        try:
            value = self.ds.get(str(key)) if isinstance(key, str) else None
        except (TypeError, ValueError):  # a value pydicom cannot convert (e.g. IS "x")
            return None
        if value is None or value == "":
            return None
        return value

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            return MISSING
        if format_spec and format_spec[-1] in _NUMERIC:
            try:
                value = int(value) if format_spec[-1] in "bcdoxXn" else float(value)
            except (TypeError, ValueError):
                return MISSING
        elif not isinstance(value, (int, float)):
            value = str(value)
        try:
            return format(value, format_spec)
        except (TypeError, ValueError):
            return MISSING


def sanitize(component: str) -> str:
    """One safe path component (never empty, never ``.`` or ``..``)."""
    cleaned = _UNSAFE.sub("_", component).strip().strip(".")
    cleaned = cleaned[:MAX_COMPONENT].rstrip(" .")
    if not cleaned:
        return MISSING
    if _RESERVED.match(cleaned):
        return "_" + cleaned
    return cleaned


def relative_path(ds: Dataset, template: str, tokens: Mapping[str, str] | None = None) -> str:
    """The sanitized relative path (POSIX separators) of ``ds`` under ``template``.

    ``tokens`` gives the hierarchy fields (``patient``, ``study``, ``series``: see
    :mod:`anonymizer.engine.hierarchy`); every other field is a de-identified attribute.
    """
    parts = template.split("/")
    formatter = _Formatter(ds, tokens or {})
    safe = [sanitize(formatter.format(part)) for part in parts]
    if safe[0].casefold() in RESERVED:
        safe[0] = "_" + safe[0]  # a name the tool writes in OUT itself
    path = PurePosixPath(*safe)
    assert not path.is_absolute() and ".." not in path.parts
    return str(path)


def disambiguate(path: str, sop_instance_uid: str) -> str:
    """``path`` with a short digest of the SOP Instance UID before its suffix."""
    digest = hashlib.sha256(sop_instance_uid.encode("ascii")).hexdigest()[:10]
    pure = PurePosixPath(path)
    return str(pure.with_name(f"{pure.stem}_{digest}{pure.suffix}"))


def path_key(path: str) -> str:
    """Collision key: case-folded, so case-insensitive file systems are safe too."""
    return path.casefold()
