"""A data protection officer's report of OUT, from its manifest: HTML, Markdown or JSON.

One self-contained file (inline style, no external resources) with the profile and its
options (CID 7050 codes and what each means in plain words), counts per action and per
attribute group, the verification result, the key fingerprint, the tool version and the
run times. It is made from the manifest only, which holds no identifier, and lists no
file names.
"""

from __future__ import annotations

import html
import json
import os
from collections import defaultdict
from typing import Any

from anonymizer.evidence import manifest
from anonymizer.profile.loader import option_description

ACTION_WORDS = {
    "keep": "kept unchanged",
    "remove": "removed",
    "empty": "kept with no value",
    "replace": "replaced with a dummy value",
    "remap_uid": "UID replaced by a keyed, consistent new UID",
    "hash": "replaced by a keyed one-way token",
    "pseudonymize": "replaced by a keyed pseudonym (re-identifiable only with the key and vault)",
    "shift_date": "date moved by the patient's keyed offset (intervals kept)",
    "generalize": "coarsened (year, age band; 90+ as 090Y)",
    "clean": "free text kept with identifying words replaced",
    "lookup": "replaced from the controller's crosswalk",
}


def facts(manifest: dict[str, Any]) -> dict[str, Any]:
    """The report's content as plain data (the JSON format)."""
    run = manifest.get("run", {})
    dataset = manifest.get("dataset") or {"actions": run.get("actions", {}), "groups": run.get("groups", {})}
    groups: dict[str, dict[str, int]] = defaultdict(dict)
    for key, count in dataset.get("groups", {}).items():
        group, action = key.rsplit("/", 1)
        groups[group][action] = count
    return {
        "tool": manifest["tool"],
        "profile": manifest["profile"],
        "options": [{**o, "plain_words": option_description(o["name"])} for o in manifest["options"]],
        "key_fingerprint": manifest["key_fingerprint"],
        "files": manifest["counts"]["files"],
        "run": {k: run.get(k) for k in ("id", "started", "finished", "done", "skipped", "failed")},
        "actions": [
            {"action": a, "elements": n, "meaning": ACTION_WORDS.get(a, "")}
            for a, n in dataset.get("actions", {}).items()
        ],
        "groups": dict(sorted(groups.items())),
        "custom_rules": manifest.get("custom_rules", []),
        "basic_profile": manifest.get("basic_profile") or {"meets": None, "short": []},
        "pixels": manifest.get("pixels", {}),
        "verification": manifest.get("verification"),
    }


def render_report(out_dir: str | os.PathLike[str], fmt: str = "html") -> str:
    """The data protection officer's report of OUT, from its manifest.

    Parameters
    ----------
    out_dir : str or os.PathLike
        A folder ``anonymizer run`` wrote.
    fmt : str
        ``html`` (one self-contained page), ``md`` or ``json``.

    Returns
    -------
    str

    Raises
    ------
    FolderError
        When OUT has no manifest.
    ManifestError
        When OUT and its manifest disagree (a report would describe files that are not there).
    """
    return render(manifest.check(out_dir), fmt)


def render(manifest: dict[str, Any], fmt: str) -> str:
    """The report in ``html``, ``md`` or ``json``."""
    data = facts(manifest)
    if fmt == "json":
        return json.dumps(data, indent=1, sort_keys=True) + "\n"
    return _markdown(data) if fmt == "md" else _html(data)


def _verification_line(v: dict[str, Any] | None) -> str:
    if v is None:
        return "Not verified in this run (use `anonymizer run --verify` or `anonymizer verify`)."
    verdict = "no residual identifier found" if v["clean"] else f"{sum(v['findings_by_kind'].values())} findings"
    return (
        f"{verdict}: {v['files']} files searched for {v['identifiers']} identifying values of the inputs ({v['mode']})."
    )


POLICY_WORDS = {
    "quarantine": "images that may hold burned-in text and that no pixel rule covers are not shipped",
    "ocr": "text a detector finds in such images is redacted, and an image is shipped only when a further "
    "pass finds no text left (else it is not shipped)",
    "keep": "such images are shipped as they are (their BurnedInAnnotation is kept, PatientIdentityRemoved is NO)",
}


def _verdict_line(verdict: dict[str, Any]) -> str:
    if verdict["meets"] is None:
        return "not recorded (a manifest written before the verdict was)"
    if verdict["meets"]:
        return (
            "meets the PS3.15 Basic Application Level Confidentiality Profile: every row of Table E.1-1 "
            "(and of its supplement) is handled at least as strictly, or relaxed only by a declared option; "
            "the outputs say PatientIdentityRemoved YES"
        )
    return (
        f"does NOT meet the PS3.15 Basic Profile: {len(verdict['short'])} attributes are handled less strictly "
        "(listed below); the outputs say PatientIdentityRemoved NO and carry no CID 7050 code"
    )


def _pixels_line(pixels: dict[str, Any]) -> str:
    if not pixels:
        return "Not recorded."
    policy = str(pixels.get("burned_in", ""))
    sets = ", ".join(pixels.get("rule_sets", [])) or "none"
    return f"Policy {policy}: {POLICY_WORDS.get(policy, '')}; {pixels.get('rules', 0)} pixel rules (sets: {sets})."


def _markdown(d: dict[str, Any]) -> str:
    lines = [
        "# De-identification report",
        "",
        f"- Tool: {d['tool']['name']} {d['tool']['version']}",
        f"- Profile: {d['profile']['name']} {d['profile']['version']} (plan SHA-256 `{d['profile']['plan_sha256']}`)",
        f"- Key fingerprint: `{d['key_fingerprint']}`",
        f"- Files in the dataset: {d['files']}",
        f"- Last run: {d['run']['id']}, {d['run']['started']} to {d['run']['finished']}",
        f"- Verification: {_verification_line(d['verification'])}",
        "",
        "## Method (DICOM PS3.15, CID 7050)",
        "",
        f"The profile {_verdict_line(d['basic_profile'])}.",
        "",
        *[f"- {line}" for line in d["basic_profile"]["short"]],
        "",
        "| code | option | what it means |",
        "| --- | --- | --- |",
        *[f"| {o['cid7050']} | {o['meaning']} | {o['plain_words']} |" for o in d["options"]],
        "",
        "## Burned-in text",
        "",
        _pixels_line(d["pixels"]),
        "",
        "## Rules beyond the PS3.15 tables",
        "",
        "| selector | action | set in |",
        "| --- | --- | --- |",
        *[f"| `{r['selector']}` | {r['action']} | {r['origin']} |" for r in d["custom_rules"]],
        "",
        "## Elements per action (whole dataset)",
        "",
        "| action | elements | meaning |",
        "| --- | --- | --- |",
        *[f"| {a['action']} | {a['elements']} | {a['meaning']} |" for a in d["actions"]],
        "",
        "## Elements per attribute group (whole dataset)",
        "",
        "| group | " + " | ".join(ACTION_WORDS) + " |",
        "| --- |" + " --- |" * len(ACTION_WORDS),
        *[f"| {g} | " + " | ".join(str(c.get(a, "")) for a in ACTION_WORDS) + " |" for g, c in d["groups"].items()],
        "",
    ]
    return "\n".join(lines)


_STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#1b1f24;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #d0d7de;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#116329;font-weight:600}.bad{color:#a40e26;font-weight:600}code{font-size:.85em}"""


def _verdict_class(verdict: dict[str, Any]) -> str:
    return "" if verdict["meets"] is None else "ok" if verdict["meets"] else "bad"


def _list(lines: list[str]) -> str:
    return f"<ul>{''.join(f'<li>{html.escape(line)}</li>' for line in lines)}</ul>" if lines else ""


def _counts(counts: dict[str, int] | None) -> str:
    counts = counts or {}
    total = sum(counts.values())
    return f"{total} ({', '.join(f'{k} {v}' for k, v in counts.items())})" if total else "0"


def _table(head: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    cells = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{html.escape(str(c))}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    header = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" if head else ""
    return f"<table>{header}{cells}</table>"


def _html(d: dict[str, Any]) -> str:
    v, verdict = d["verification"], d["basic_profile"]
    status = "bad" if v is not None and not v["clean"] else "ok" if v is not None else ""
    facts_rows = [
        ["Tool", f"{d['tool']['name']} {d['tool']['version']}"],
        ["Profile", f"{d['profile']['name']} {d['profile']['version']}"],
        ["Compiled plan (SHA-256)", d["profile"]["plan_sha256"]],
        ["Key fingerprint", d["key_fingerprint"]],
        ["Files in the dataset", d["files"]],
        ["Last run", f"{d['run']['id']}: {d['run']['started']} to {d['run']['finished']}"],
        [
            "Last run outcome",
            f"processed {d['run']['done']}, skipped {_counts(d['run']['skipped'])}, "
            f"failed {_counts(d['run']['failed'])}",
        ],
    ]
    used = [a for a in ACTION_WORDS if any(a in c for c in d["groups"].values())]
    groups = [[g, *[c.get(a, "") for a in used]] for g, c in d["groups"].items()]
    body = [
        "<h1>De-identification report</h1>",
        f"<p class='{status}'>Verification: {html.escape(_verification_line(v))}</p>",
        _table([], facts_rows),
        "<h2>Method (DICOM PS3.15 Annex E, codes from CID 7050)</h2>",
        f"<p class='{_verdict_class(verdict)}'>The profile {html.escape(_verdict_line(verdict))}.</p>",
        _list(verdict["short"]),
        _table(
            ["Code", "Option", "What it means"], [[o["cid7050"], o["meaning"], o["plain_words"]] for o in d["options"]]
        ),
        "<h2>Burned-in text</h2>",
        f"<p>{html.escape(_pixels_line(d['pixels']))}</p>",
        "<h2>Rules beyond the PS3.15 tables</h2>",
        _table(
            ["Selector", "Action", "Set in"], [[r["selector"], r["action"], r["origin"]] for r in d["custom_rules"]]
        ),
        "<h2>Elements per action (whole dataset)</h2>",
        _table(
            ["Action", "Elements", "Meaning"], [[a["action"], a["elements"], a["meaning"]] for a in d["actions"]], {1}
        ),
        "<h2>Elements per attribute group (whole dataset)</h2>",
        _table(["Group", *used], groups, set(range(1, len(used) + 1))),
        "<p>This report is generated from the dataset's manifest. It contains no patient data and "
        "no file names. Re-identification needs the project key and the vault, which stay with the "
        "data controller.</p>",
    ]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>De-identification report</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )
