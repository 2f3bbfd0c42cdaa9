"""PHI-free records of a run: the manifest in OUT.

``OUT/anonymizer-manifest.json`` lists every output (relative path, new SOP Instance
UID, SHA-256) with the tool version, the profile and the SHA-256 of its compiled plan,
the options with their CID 7050 codes, the key fingerprint and the last run's id, times
and counts. It holds nothing identifying: paths and UIDs are de-identified values. Only
the ``run`` block changes from one run to the next of the same inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anonymizer import standard
from anonymizer.engine.plan import Plan
from anonymizer.engine.verdict import shortfalls
from anonymizer.errors import FolderError, ManifestError
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


@dataclass(frozen=True)
class Files:
    """The manifest's list of outputs, read from its source each time the manifest is encoded.

    The manifest of a large OUT is written without holding its list in memory (the
    gateway writes it again and again while it runs).

    Parameters
    ----------
    rows : callable
        Returns the outputs as (relative path, SOP Instance UID, SHA-256, pixels JSON).
    count : int
        How many rows it returns.
    """

    rows: Callable[[], Iterable[tuple[str, str, str, str]]]
    count: int

    def entries(self) -> Iterator[dict[str, Any]]:
        """The manifest's entry of each output."""
        for path, uid, digest, pixels in self.rows():
            entry: dict[str, Any] = {"path": path, "sop_instance_uid": uid, "sha256": digest}
            if pixels:
                entry["pixels"] = json.loads(pixels)  # rule names and box coordinates only
            yield entry


def manifest(
    plan: Plan,
    files: Files,
    info: RunInfo,
    counts: dict[str, Any],
    dataset: dict[str, dict[str, int]] | None = None,
) -> dict[str, Any]:
    """The manifest as a mapping (:func:`chunks` writes it; ``files`` stays a :class:`Files`).

    Parameters
    ----------
    plan : Plan
        The plan that produced every output listed.
    files : Files
        Every output in OUT, by relative path.
    info : RunInfo
        The run's id, times, key fingerprint and layout.
    counts : dict
        The run's counts (:meth:`~anonymizer.pipeline.runner.RunSummary.as_dict`).
    dataset : dict or None
        Elements per action and per group over the whole dataset (every input done, in
        any run): what the report shows, also after a resumed run.
    """
    gaps = shortfalls(plan)
    options = [
        {"name": name, "cid7050": standard.CID_7050[name][0], "meaning": standard.CID_7050[name][1]}
        for name in ("basic", *[o for o in standard.CID_7050 if o in plan.options])
        if not gaps  # codes only for a plan that meets the Basic Profile (as the marks)
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
        "custom_rules": custom_rules(plan),
        "basic_profile": {"meets": not gaps, "short": [g.line() for g in gaps]},
        "files": files,
        "counts": {"files": files.count},
        "dataset": dataset or {"actions": counts.get("actions", {}), "groups": counts.get("groups", {})},
        "run": {"id": info.run_id, "started": info.started, "finished": info.finished, **counts},
    }


def custom_rules(plan: Plan) -> list[dict[str, str]]:
    """The rules a profile adds beyond the PS3.15 tables: selector, action, where set (no values)."""
    return [
        {"selector": r.selector.text, "action": r.action, "origin": r.origin} for r in plan.profile.rules if not r.table
    ]


_HOLE = "\0files\0"


def chunks(content: dict[str, Any]) -> Iterator[bytes]:
    """The manifest's bytes in pieces, its :class:`Files` list encoded one entry at a time.

    The bytes are those of ``json.dumps(content, indent=1, sort_keys=True)`` with the
    list in place (sorted keys, one space indent, UTF-8), and a final newline.
    """
    files: Files = content["files"]
    head, tail = json.dumps({**content, "files": _HOLE}, indent=1, sort_keys=True).split(json.dumps(_HOLE))
    yield head.encode("utf-8")
    first = True
    for entry in files.entries():  # the list is the top level's value: its items sit two spaces in
        item = textwrap.indent(json.dumps(entry, indent=1, sort_keys=True), "  ")
        yield ("[\n" if first else ",\n").encode("utf-8") + item.encode("utf-8")
        first = False
    yield ("[]" if first else "\n ]").encode("utf-8") + (tail + "\n").encode("utf-8")


def load(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of ``out_dir``.

    Raises
    ------
    FolderError
        When OUT has no manifest.
    """
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise FolderError("OUT has no anonymizer-manifest.json; run 'anonymizer run' first")
    content: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return content


def disagreements(out_dir: str | os.PathLike[str], content: dict[str, Any]) -> list[tuple[str, str]]:
    """Where OUT and its manifest disagree: ``(relative path, missing | altered | unlisted)``."""
    out = Path(out_dir)
    listed = {str(f["path"]): str(f["sha256"]) for f in content.get("files", [])}
    found: list[tuple[str, str]] = []
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST):
        if path.relative_to(out).as_posix() not in listed:
            found.append((path.relative_to(out).as_posix(), "unlisted"))
    for relative, digest in sorted(listed.items()):
        file = out / relative
        if not file.is_file():
            found.append((relative, "missing"))
        elif sha256_of(file) != digest:
            found.append((relative, "altered"))
    return found


def check(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of ``out_dir``, when OUT holds exactly what it lists.

    Raises
    ------
    FolderError
        When OUT has no manifest.
    ManifestError
        When files are missing, altered or not listed (the first paths are named).
    """
    content = load(out_dir)
    found = disagreements(out_dir, content)
    if found:
        shown = ", ".join(f"{path} ({kind})" for path, kind in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        raise ManifestError(f"OUT and its manifest disagree: {shown}{more}")
    return content


def sha256_of(path: Path) -> str:
    """SHA-256 of a file (hex), read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
