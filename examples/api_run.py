"""The nightly run from Python (the same steps as `anonymizer run`).

    python examples/api_run.py IN OUT --key-file project.key

The key and the vault stay with the data controller; OUT is what recipients get.
"""

from __future__ import annotations

import argparse
import datetime
import logging
from pathlib import Path

from anonymizer import Plan, RunOptions, SqliteVault, WorkerConfig, load_key_file, load_profile, run
from anonymizer.evidence.manifest import RunInfo, manifest, write_manifest
from anonymizer.pipeline.layout import DEFAULT_LAYOUT
from anonymizer.pipeline.state import StateStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("in_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("pydicom").disabled = True  # pydicom's log lines quote values

    plan = Plan(load_profile("research"))
    vault = SqliteVault(Path(".anonymizer/vault.db"), load_key_file(args.key_file), run_id="api-example")
    state = StateStore(Path(".anonymizer/runs/api-example"), args.out_dir, "api-example")
    config = WorkerConfig("research", (), vault.secret, DEFAULT_LAYOUT, args.out_dir)
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    summary = run(args.in_dir, config, vault, state, options=RunOptions(workers=args.workers))
    finished = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    info = RunInfo("api-example", started, finished, vault.secret.fingerprint, DEFAULT_LAYOUT)
    write_manifest(args.out_dir, manifest(plan, state, info, summary))
    state.close()
    vault.close()
    print(f"done {summary.done}, skipped {dict(summary.skipped)}, failed {dict(summary.failed)}")


if __name__ == "__main__":
    main()
