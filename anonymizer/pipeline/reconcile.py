"""Before a run: does OUT still hold what the state says this tool wrote there?

Every output the state records must exist with the size and SHA-256 it was written
with. Size and modification time are compared first; the SHA-256 is computed when they
differ (or for every output with ``check``). A missing output is made again by the run
(byte-identical: the pipeline is deterministic); an output whose bytes changed is an
error naming its relative path, and nothing is read until it is resolved.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from anonymizer.errors import ManifestError
from anonymizer.evidence.manifest import sha256_of
from anonymizer.pipeline.layout import path_key
from anonymizer.pipeline.state import StateStore

SHOWN = 5  # altered paths named in the message


def reconcile(out_dir: Path, state: StateStore, check: bool = False) -> int:
    """Mark the inputs of missing outputs to be made again; return how many.

    Raises
    ------
    ManifestError
        When outputs in OUT differ from what was written (their relative paths are named).
    """
    missing: list[str] = []
    altered: list[str] = []
    for output in list(state.outputs()):  # outputs are claimed again below
        file = out_dir / output.path
        try:
            stat = file.stat()
        except FileNotFoundError:
            missing.append(output.path)
            continue
        if not check and (stat.st_size, stat.st_mtime_ns) == (output.size, output.mtime_ns):
            continue
        if sha256_of(file) != output.sha256:
            altered.append(output.path)
        else:  # the same bytes (restored from a copy): remember its new size and time
            state.claim(path_key(output.path), replace(output, size=stat.st_size, mtime_ns=stat.st_mtime_ns))
    if altered:
        shown = ", ".join(altered[:SHOWN]) + (f" and {len(altered) - SHOWN} more" if len(altered) > SHOWN else "")
        raise ManifestError(
            f"{len(altered)} output(s) in OUT differ from what was written: {shown}; "
            "delete them (the run makes them again) or run with --force"
        )
    state.redo_outputs(missing)
    return len(missing)
