"""Dates: ``shift_date`` and ``generalize`` (registered in :data:`ACTIONS`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from anonymizer.profile.actions import (
    ACTIONS,
    KEEP,
    Action,
    Edit,
    FileContext,
    fail,
    register,
    set_values,
)
from anonymizer.text.identifiers import Element, values


def _shift_da(value: str, days: int) -> str | None:
    """``YYYYMMDD`` (the first 8 characters, all digits) moved by ``days``; None if no such date."""
    try:
        day = dt.date(int(value[:4]), int(value[4:6]), int(value[6:8])) + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _shift_part(part: str, days: int, vr: str) -> str | None:
    """One date or date-time moved by ``days`` at its own precision (None: not a date).

    A DA in the ACR-NEMA form ``YYYY.MM.DD`` (older files) is shifted and written as DICOM's
    ``YYYYMMDD``."""
    if vr == "DA" and len(part) == 10 and part[4] == part[7] == "." and part.replace(".", "").isdigit():
        part = part.replace(".", "")
    digits = len(part) - len(part.lstrip("0123456789"))
    if digits >= 8:
        new = _shift_da(part, days)
        return None if new is None else new + part[8:]
    if vr == "DT" and digits in (4, 6):  # YYYY or YYYYMM: shift the middle of the period, cut back
        new = _shift_da(part[:digits] + ("0701" if digits == 4 else "15"), days)
        return None if new is None else new[:digits] + part[digits:]
    return None


@register
class ShiftDate(Action):
    """Move dates by the patient's keyed day offset. PS3.15 C (modified dates).

    DA and DT (date part shifted, time and zone kept; ranges shifted at both ends); a DT
    of year or year-month precision is shifted at its own precision (a year stays a year:
    the middle of the period is shifted and cut back). TM is kept (whole-day shifts leave
    times valid); dates that cannot be parsed become empty. Other text VRs are cleaned,
    binary VRs removed. Every date
    of one patient moves by the same number of days, so intervals are preserved.
    Deterministic; reversible with the key (the offset is a keyed function).

    ``{tag: StudyDate, action: shift_date}``
    """

    name, code = "shift_date", "C"

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        if elem.VR == "TM":
            return KEEP
        if elem.VR not in ("DA", "DT", "UN"):
            return ACTIONS["clean"]({})(elem, ctx)
        out = []
        for value in values(elem):
            parts = value.split("-") if elem.VR == "DA" and "-" in value else [value]
            shifted = []
            for part in parts:
                part = part.strip()
                new = _shift_part(part, ctx.day_offset, elem.VR)
                if part and new is None:
                    return set_values(elem, [])
                shifted.append(new or "")
            out.append("-".join(shifted))
        return set_values(elem, out)


@register
class Generalize(Action):
    """Coarsen dates and ages. No PS3.15 code (a form of C).

    VRs DA and DT: ``with: {to: year}`` (default) gives ``YYYY0101``, ``to: month`` ``YYYYMM01``
    (DT loses its time). AS: ages in ``band``-year bands (default 1), and any age of 90
    years or more becomes ``090Y`` (HIPAA Safe Harbor). Deterministic; not reversible.

    ``{tag: PatientAge, action: generalize, with: {band: 5}}``
    """

    name, code, params = "generalize", "C", frozenset({"to", "band"})
    handles = frozenset({"DA", "DT", "AS"})

    @classmethod
    def validate(cls, params: Mapping[str, Any], base: Path | None) -> None:
        super().validate(params, base)
        if params.get("to", "year") not in ("year", "month"):
            raise ValueError("to must be year or month")
        band = params.get("band", 1)
        if not isinstance(band, int) or not 1 <= band <= 50:
            raise ValueError("band must be an integer from 1 to 50")

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        if elem.VR in ("DA", "DT"):
            keep = 4 if self.with_.get("to", "year") == "year" else 6
            out = []
            for v in values(elem):
                if len(v) < keep or not v[:keep].isdigit():
                    return set_values(elem, [])
                out.append((v[:keep] + "0101")[:8])
            return set_values(elem, out)
        if elem.VR == "AS":
            return set_values(elem, [_age_band(v, int(self.with_.get("band", 1))) for v in values(elem)])
        raise fail(elem, self.name, "needs a DA, DT or AS value")


def _age_band(value: str, band: int) -> str:
    if len(value) != 4 or not value[:3].isdigit() or value[3] not in "DWMY":
        return ""
    years = int(value[:3]) if value[3] == "Y" else 0
    if years >= 90:
        return "090Y"
    if value[3] != "Y":
        return value if band == 1 else "000Y"
    return f"{years - years % band:03d}Y"
