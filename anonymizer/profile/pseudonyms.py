"""Pseudonyms and tokens: ``hash``, ``pseudonymize`` and ``lookup`` (registered in :data:`ACTIONS`)."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from anonymizer.dicom import vr as vrs
from anonymizer.dicom.tags import format_tag
from anonymizer.profile.actions import (
    ACTIONS,
    Action,
    Edit,
    FileContext,
    fail,
    fit,
    register,
    set_values,
)
from anonymizer.text.identifiers import Element, values

_TOKEN_FIELD = re.compile(r"\{token(?::(\d+))?\}")


class _Token(Action):
    """Shared by hash and pseudonymize: a keyed token that fits the VR."""

    params = frozenset({"length", "namespace"})
    handles = vrs.TEXT

    @classmethod
    def validate(cls, params: Mapping[str, Any], base: Path | None) -> None:
        super().validate(params, base)
        length = params.get("length", 16)
        if not isinstance(length, int) or not 4 <= length <= 52:
            raise ValueError("length must be an integer from 4 to 52")

    def _token(self, elem: Element, ctx: FileContext, value: str, namespace: str | None = None) -> tuple[str, str]:
        if elem.VR not in vrs.TEXT:
            raise fail(elem, self.name, "needs a text VR")
        namespace = namespace or str(self.with_.get("namespace") or elem.keyword or format_tag(elem.tag))
        length = min(int(self.with_.get("length", 16)), vrs.max_length(elem.VR) or 64)
        return namespace, ctx.secret.token(namespace, value, length)


@register
class Hash(_Token):
    """Replace with a keyed HMAC token (base32) that fits the VR. No PS3.15 code.

    Text VRs (PN, LO, SH, AE, CS, ...). Deterministic per key and namespace (default:
    the attribute keyword); irreversible (nothing is recorded).

    ``{tag: StationName, action: hash, with: {length: 8}}``
    """

    name, code = "hash", "D"

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        return set_values(elem, [self._token(elem, ctx, v)[1] for v in values(elem)])


@register
class Pseudonymize(_Token):
    """Replace with a keyed token in a format; the original goes to the vault. PS3.15 D.

    Text VRs. ``format`` places the token: ``"SUBJ-{token:8}"`` (default ``{token}``,
    16 characters or the VR's limit). Deterministic per key and namespace (default: the
    attribute keyword), so one patient gets one pseudonym everywhere; reversible with
    the project key through the vault. In a PN the pseudonym is the family name
    (``SUBJ-7Q2M^``; the vault and ``vault reveal`` use it without the caret).
    ``source: PatientID`` without a ``format`` follows the PatientID rule (its format
    and length: PatientName then carries exactly the PatientID's pseudonym, whatever a
    derived profile sets). ``source: PatientID`` takes the token from the object's
    original PatientID instead (so PatientName can carry the same pseudonym).

    ``{tag: PatientID, action: pseudonymize, with: {format: "SUBJ-{token:8}"}}``
    """

    name, code = "pseudonymize", "D"
    params = frozenset({"format", "namespace", "length", "source"})

    @classmethod
    def validate(cls, params: Mapping[str, Any], base: Path | None) -> None:
        super().validate(params, base)
        fmt = params.get("format", "{token}")
        if not isinstance(fmt, str) or len(_TOKEN_FIELD.findall(fmt)) != 1:
            raise ValueError("format must be a string with exactly one {token} or {token:N}")
        if "{" in _TOKEN_FIELD.sub("", fmt) or "}" in _TOKEN_FIELD.sub("", fmt):
            raise ValueError("format may hold no field other than {token}")
        if params.get("source", "PatientID") != "PatientID":
            raise ValueError("source can only be PatientID")
        if "source" in params and "namespace" in params:
            raise ValueError("source implies namespace PatientID; give one of them")

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        fmt = str(self.with_.get("format", "{token}"))
        match = _TOKEN_FIELD.search(fmt)
        assert match is not None
        source = "source" in self.with_
        originals = ([ctx.patient_id] if ctx.patient_id else []) if source else values(elem)
        out = []
        for original in originals:
            namespace, token = self._token(elem, ctx, original.strip(), "PatientID" if source else None)
            if match.group(1):
                token = token[: int(match.group(1))]
            pseudonym = fit(elem, self.name, _TOKEN_FIELD.sub(token, fmt))
            ctx.records.append((namespace, pseudonym, original.strip()))  # as it appears in OUT
            # a person name is written as its family name component (SUBJ-X^): the form a
            # validator accepts; the vault keeps the bare pseudonym, shared with PatientID
            out.append(pseudonym + "^" if elem.VR == "PN" and "^" not in pseudonym else pseudonym)
        return set_values(elem, out)


@register
class Lookup(Action):
    """Value from a CSV the data controller supplies (``original,pseudonym`` header). PS3.15 D.

    Text VRs. ``file`` is relative to the profile. On a miss, ``on_missing`` says what
    happens: ``error`` (the file fails, default) or the name of another action
    (pseudonymize, hash, remove, empty, replace). Deterministic; reversible (the pair is
    recorded for the vault).

    ``{tag: PatientID, action: lookup, with: {file: ids.csv, on_missing: pseudonymize}}``
    """

    name, code = "lookup", "D"
    handles = vrs.TEXT
    params = frozenset({"file", "on_missing", "namespace"})
    FALLBACKS = ("error", "pseudonymize", "hash", "remove", "empty", "replace")

    @classmethod
    def validate(cls, params: Mapping[str, Any], base: Path | None) -> None:
        super().validate(params, base)
        if params.get("on_missing", "error") not in cls.FALLBACKS:
            raise ValueError(f"on_missing must be one of {', '.join(cls.FALLBACKS)}")
        if not isinstance(params.get("file"), str):
            raise ValueError("file (a CSV path) is required")
        cls._read(params, base)

    @staticmethod
    def _read(params: Mapping[str, Any], base: Path | None) -> dict[str, str]:
        path = (base or Path.cwd()) / str(params["file"])
        try:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                if reader.fieldnames is None or not {"original", "pseudonym"} <= set(reader.fieldnames):
                    raise ValueError("lookup CSV needs the header original,pseudonym")
                table = {}
                for row in reader:
                    table[row["original"].strip()] = row["pseudonym"].strip()
                return table
        except OSError:
            raise ValueError("lookup CSV cannot be read") from None

    def __init__(self, params: Mapping[str, Any], base: Path | None = None):
        super().__init__(params, base)
        self.table = self._read(params, base)
        fallback = str(params.get("on_missing", "error"))
        self.fallback = None if fallback == "error" else ACTIONS[fallback]({}, base)

    def content_digest(self) -> str:
        """SHA-256 of the crosswalk's pairs (a changed CSV is a changed plan)."""
        rows = "\n".join(f"{old}\x00{new}" for old, new in sorted(self.table.items()))
        return hashlib.sha256(rows.encode("utf-8")).hexdigest()

    def records(self, namespace: str) -> list[tuple[str, str, str]]:
        """Every pair of the crosswalk as vault records (imported at the start of a run)."""
        namespace = str(self.with_.get("namespace") or namespace)
        return [(namespace, new, old) for old, new in sorted(self.table.items())]

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        namespace = str(self.with_.get("namespace") or elem.keyword or format_tag(elem.tag))
        out = []
        for original in values(elem):
            new = self.table.get(original.strip())
            if new is None:
                if self.fallback is None:
                    raise fail(elem, self.name, "value not in the lookup table")
                return self.fallback(elem, ctx)
            ctx.records.append((namespace, new, original.strip()))
            out.append(fit(elem, self.name, new))
        return set_values(elem, out)
