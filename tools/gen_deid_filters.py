"""Translate deid's curated pixel filters into our pixel rule form.

Run from the repository root (needs the ``dev`` extra, which installs ``deid``)::

    python tools/gen_deid_filters.py

deid's recipes (``deid/data/deid.dicom*``) hold ``%filter`` sections: per device, a
LABEL, header criteria and the coordinates of burned-in text. deid's own parser
(``deid.config.DeidRecipe``) reads them; this script maps each graylist entry that has
coordinates to a rule and writes ``anonymizer/standard/deid_filters.json`` (with deid's
version and the SHA-256 of each recipe) and ``anonymizer/standard/deid_filters.md``.
Entries without coordinates (flag-only) and the white/blacklists are counted, not used:
our ``pixels.burned_in`` policy does the flagging.

Semantics kept from deid (``deid/dicom/pixels/detect.py``): the criteria lines of an
entry must all hold; inside a line, tests combine left to right with their ``+``/``||``;
``contains`` is a case-insensitive regular expression search, ``equals`` a
case-insensitive comparison of stripped strings; coordinates ``x0,y0,x1,y1`` cover
``[y0:y1, x0:x1]``; ``keepcoordinates`` are kept after everything else is removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

OUT = Path("anonymizer/standard")
RECIPES = {"deid-default": "deid.dicom", "deid-ultrasound": "deid.dicom.ultrasound"}


def _test(action: str, field: str, value: str) -> dict[str, Any]:
    value = (value or "").strip()
    if action == "contains":
        return {field: "re:" + value}
    if action == "notcontains":
        return {"not": {field: "re:" + value}}
    if action in ("equals", "notequals"):
        test = {field: "re:^" + re.escape(value) + "$"}
        return test if action == "equals" else {"not": test}
    if action == "startswith":
        return {field: "re:^" + re.escape(value)}
    if action == "endswith":
        return {field: "re:" + re.escape(value) + "$"}
    if action == "missing":
        return {field: None}
    if action == "empty":
        return {field: ""}
    if action == "present":
        return {field: "*"}
    raise ValueError(f"deid action {action!r} has no translation")


def _group(group: dict[str, Any]) -> dict[str, Any]:
    """One criteria line: tests folded left to right with their inner operators."""
    values = list(group["value"]) + [""] * len(group["action"])
    tests = [_test(a, f, v) for a, f, v in zip(group["action"], group["field"], values, strict=False)]
    if not tests:
        raise ValueError("empty criteria line (never holds in deid)")
    expr = tests[0]
    for operator, test in zip(group["InnerOperators"], tests[1:], strict=False):
        expr = {"any" if operator == "or" else "all": [expr, test]}
    return expr


def _box(raw: str) -> list[int] | str:
    raw = raw.strip()
    if raw == "all":
        return "all"
    if raw == "from:SequenceOfUltrasoundRegions":
        return "ultrasound-regions"
    x0, y0, x1, y1 = (int(v) for v in raw.split(","))
    if x1 <= x0 or y1 <= y0:
        raise ValueError("empty box")
    return [x0, y0, x1 - x0, y1 - y0]


def translate(item: dict[str, Any]) -> dict[str, Any]:
    """One deid graylist entry -> one rule mapping (raises ValueError when it cannot)."""
    from pydicom.datadict import keyword_dict

    groups = [_group(g) for g in item.get("filters", [])]
    for group in item.get("filters", []):
        unknown = [f for f in group["field"] if f not in keyword_dict]
        if unknown:
            raise ValueError(f"unknown keyword {unknown[0]!r}")
    rule: dict[str, Any] = {"name": item.get("name", "").replace("LABEL ", "", 1).strip() or "unnamed"}
    if groups:
        rule["when"] = groups[0] if len(groups) == 1 else {"all": groups}
    redact, keep = [], []
    for flag, raw in item["coordinates"]:
        (keep if int(flag) == 1 else redact).append(_box(raw))
    if redact:
        rule["redact"] = redact
    if keep:
        rule["keep"] = keep
    return rule


def main(argv: list[str] | None = None) -> int:
    import argparse

    import deid
    from deid.config import DeidRecipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write into (default: %(default)s)")
    out = parser.parse_args(argv).out
    logging.disable(logging.CRITICAL)
    data = Path(deid.__file__).parent / "data"
    sets: dict[str, list[dict[str, Any]]] = {}
    counts: dict[str, dict[str, int]] = {}
    checksums = {}
    for name, recipe in RECIPES.items():
        path = data / recipe
        checksums[recipe] = hashlib.sha256(path.read_bytes()).hexdigest()
        filters = DeidRecipe(deid=str(path), base=False).deid.get("filter", {})
        rules, skipped = [], 0
        for item in filters.get("graylist", []):
            if not item.get("coordinates"):
                continue
            try:
                rules.append(translate(item))
            except ValueError:
                skipped += 1
        sets[name] = rules
        graylist = filters.get("graylist", [])
        counts[name] = {
            "graylist": len(graylist),
            "with coordinates": sum(1 for i in graylist if i.get("coordinates")),
            "translated": len(rules),
            "not translated": skipped,
            "whitelist/blacklist (not used)": len(filters.get("whitelist", [])) + len(filters.get("blacklist", [])),
        }
    payload = {"source": {"package": "deid", "version": version("deid"), "license": "MIT"}, "sets": sets}
    text = json.dumps(payload, indent=1, sort_keys=True) + "\n"
    (out / "deid_filters.json").write_text(text, encoding="utf-8")
    lines = [
        "# Built-in pixel rule sets from deid (generated; do not edit by hand)",
        "",
        f"Written by `tools/gen_deid_filters.py` from the recipes of `deid` {version('deid')} (MIT),",
        "read with deid's own parser. Regenerate with `python tools/gen_deid_filters.py`.",
        "",
        "| set | recipe | SHA-256 | " + " | ".join(next(iter(counts.values()))) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in next(iter(counts.values()))) + " |",
    ]
    for name, recipe in RECIPES.items():
        lines.append(
            f"| {name} | `{recipe}` | `{checksums[recipe][:16]}…` | "
            + " | ".join(str(v) for v in counts[name].values())
            + " |"
        )
    lines += ["", f"`deid_filters.json` SHA-256: `{hashlib.sha256(text.encode()).hexdigest()}`", ""]
    (out / "deid_filters.md").write_text("\n".join(lines), encoding="utf-8")
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
