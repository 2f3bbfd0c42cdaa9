"""PHI-free records of a run: the manifest in OUT.

``OUT/anonymizer-manifest.json`` lists every output (relative path, new SOP Instance
UID, SHA-256) with the tool version, the profile and the SHA-256 of its compiled plan,
the options with their CID 7050 codes, the key fingerprint and the last run's id, times
and counts. It holds nothing identifying: paths and UIDs are de-identified values. Only
the ``run`` block changes from one run to the next of the same inputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anonymizer import standard
from anonymizer.engine.plan import Plan
from anonymizer.pipeline.runner import RunSummary
from anonymizer.pipeline.state import StateStore
from anonymizer.pipeline.writer import publish, write_temp
from anonymizer.version import __version__

MANIFEST = "anonymizer-manifest.json"


@dataclass(frozen=True)
class RunInfo:
    """The facts about one run that go into the manifest."""

    run_id: str
    started: str
    finished: str
    key_fingerprint: str
    layout: str


def summary_dict(summary: RunSummary) -> dict[str, Any]:
    """Counts only: done, skipped and failed by reason, elements per action."""
    return {
        "done": summary.done,
        "skipped": dict(sorted(summary.skipped.items())),
        "failed": dict(sorted(summary.failed.items())),
        "actions": dict(sorted(summary.actions.items())),
        "groups": dict(sorted(summary.groups.items())),
    }


def manifest(plan: Plan, state: StateStore, info: RunInfo, summary: RunSummary) -> dict[str, Any]:
    """The manifest as a JSON-ready mapping."""
    files = []
    for path, uid, digest, pixels in state.outputs():
        entry: dict[str, Any] = {"path": path, "sop_instance_uid": uid, "sha256": digest}
        if pixels:
            entry["pixels"] = json.loads(pixels)  # rule names and box coordinates only
        files.append(entry)
    options = [
        {"name": name, "cid7050": standard.CID_7050[name][0], "meaning": standard.CID_7050[name][1]}
        for name in ("basic", *[o for o in standard.CID_7050 if o in plan.options])
    ]
    return {
        "tool": {"name": "anonymizer-dicom", "version": __version__},
        "profile": {"name": plan.profile.name, "version": plan.profile.version, "plan_sha256": plan.digest},
        "options": options,
        "key_fingerprint": info.key_fingerprint,
        "layout": info.layout,
        "pixels": {
            "burned_in": plan.profile.pixels.burned_in,
            "rule_sets": list(plan.profile.pixels.sets),
            "rules": len(plan.profile.pixels.rules),
        },
        "files": files,
        "counts": {"files": len(files)},
        "run": {"id": info.run_id, "started": info.started, "finished": info.finished, **summary_dict(summary)},
    }


def write_manifest(out_dir: Path, content: dict[str, Any]) -> Path:
    """Write the manifest atomically into ``out_dir``."""
    data = (json.dumps(content, indent=1, sort_keys=True) + "\n").encode("utf-8")
    path = out_dir / MANIFEST
    publish(write_temp(data, out_dir), path)
    return path
