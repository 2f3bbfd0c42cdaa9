"""``anonymizer keygen``, ``run`` and ``plan``."""

from __future__ import annotations

import json
import os
import signal
import warnings
from pathlib import Path

import click
import pydicom

from anonymizer.cli import EXIT_SIGNAL, EXIT_USAGE, Interrupted, guarded, interrupts, main
from anonymizer.cli.events import Events
from anonymizer.cli.options import (
    burned_in_option,
    data_home,
    key_option,
    load_secret,
    option_option,
    pixel_plan,
    profile_option,
    project_option,
    vault_option,
    vault_path_for,
)
from anonymizer.dicom.tags import format_tag
from anonymizer.engine.apply import planned_changes
from anonymizer.engine.plan import Plan
from anonymizer.errors import FolderError
from anonymizer.keys.secret import generate_key_file
from anonymizer.pipeline.job import Job, default_state_dir
from anonymizer.pipeline.runner import RunOptions
from anonymizer.pipeline.state import failures
from anonymizer.pipeline.worker import Limits, tune_gc
from anonymizer.profile.loader import load_profile


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@guarded
def keygen(path: Path) -> None:
    """Write a new random 256-bit project key to PATH (mode 0600; never overwrites).

    \b
    Example:
      anonymizer keygen project.key
    """
    generate_key_file(path)
    click.echo(f"wrote a new key to {path}; keep it (and only it) safe", err=True)


@main.command("run")
@click.argument("in_dir", type=click.Path(exists=True, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@profile_option
@option_option
@key_option
@vault_option
@project_option
@click.option("--layout", default=None, help="Output path template (default: the profile's, else the built-in).")
@click.option("--workers", default=os.cpu_count() or 1, show_default=True, type=click.IntRange(1))
@click.option(
    "--dask",
    "dask_address",
    default=None,
    help="Run the per-file tasks on a Dask cluster: a scheduler address, or local:N (extra [dask]).",
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State folder (default: runs/<digest of OUT> beside the vault). Holds input paths: keep it local.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Make every file again (also after a changed profile, key, layout or tool version) and remove what "
    "the previous binding left in OUT.",
)
@click.option("--check", is_flag=True, help="Reconcile OUT by SHA-256 of every output (default: size and time first).")
@click.option(
    "--max-file-size",
    default=4 << 30,
    show_default=True,
    type=click.IntRange(1),
    help="Inputs larger than this many bytes fail with reason too-large (before they are read).",
)
@click.option(
    "--file-timeout",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Seconds one file may take; then it fails with reason timeout (pool and in-process workers).",
)
@click.option("--retry-failed", is_flag=True, help="Redo inputs a previous run failed on.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(1), help="Files per commit.")
@click.option(
    "--log-format",
    type=click.Choice(["auto", "text", "json"]),
    default="auto",
    show_default=True,
    help="auto: a progress bar on a terminal, text lines otherwise; json: one JSON line per event.",
)
@click.option(
    "--verify",
    "verify_after",
    is_flag=True,
    help="Search OUT for the inputs' identifying values afterwards (result in the manifest; exit 1 if any).",
)
@click.option(
    "--quarantine",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Copy each input that fails (burned-in quarantine included) here with a JSON sidecar saying why, for "
    "review (outside IN and OUT, created 0700; holds original data: keep it local).",
)
@click.option("--dry-run", is_flag=True, help="De-identify in memory and report; write nothing (vault, state, OUT).")
@burned_in_option
@guarded
def run_command(
    in_dir: Path,
    out_dir: Path,
    profile_name: str,
    options: tuple[str, ...],
    key_file: Path | None,
    vault_path: Path | None,
    project: str | None,
    layout: str | None,
    workers: int,
    dask_address: str | None,
    state_dir: Path | None,
    force: bool,
    check: bool,
    max_file_size: int,
    file_timeout: float,
    retry_failed: bool,
    batch_size: int,
    log_format: str,
    verify_after: bool,
    quarantine: Path | None,
    dry_run: bool,
    burned_in: str | None,
) -> None:
    """De-identify every DICOM file under IN_DIR into OUT_DIR as Patient/Study/Series/Instance.

    Paths are made from de-identified values only. Reversible tokens go to the vault,
    encrypted; a key that does not open the vault stops the run before any file is read
    (exit 3). Re-running the same command skips what is done, picks up new files and
    resumes an interrupted run. A file that fails is reported by its ordinal (its place
    in sorted order) and a reason code, and gets no output; input paths are written only
    to the local state folder.

    \b
    Exit codes: 0 every input done or skipped by design; 1 files failed (now or in an
    earlier run not retried) or OUT's storage failed; 2 usage, profile or state error (also
    OUT made with another binding: --force); 3 key or vault error; 129/130/143 interrupted by
    SIGHUP/SIGINT/SIGTERM (committed; run the same command to resume).

    \b
    Example:
      anonymizer run dicom-in/ dicom-out/ --profile research --key-file project.key --workers 4
    """
    plan = pixel_plan(load_profile(profile_name, options), burned_in)
    secret = load_secret(key_file, plan.profile.project if project is None else project)
    limits = Limits(max_file_size, file_timeout)
    run_options = RunOptions(
        workers, batch_size, force, retry_failed, dask_address, dry_run, verify_after, check, limits, quarantine
    )
    vault = vault_path_for(secret, vault_path)
    job = Job(in_dir, out_dir, plan, secret, vault=vault, state=state_dir, layout=layout, options=run_options)
    events = Events(log_format, job.run_id, dry_run)
    tune_gc()
    try:
        with interrupts(), job:
            events.start(workers)
            if job.created_vault:
                events.note("vault-created", f"created a new vault at {vault}", path=str(vault))
            if job.redone:
                events.note(
                    "outputs-missing", f"{job.redone} outputs missing from OUT are made again", count=job.redone
                )
            with events.progress(job.count_inputs) as on_result:
                result = job.run(on_result)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP: the Job has committed what was done
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        events.finish(job.summary, plan, job.secret.fingerprint, interrupted=signum)
        raise SystemExit(EXIT_SIGNAL[signum]) from None
    if result.verification is not None:
        events.verification(result.verification)
    events.finish(result.summary, plan, job.secret.fingerprint)
    raise SystemExit(result.exit_code)


@main.command("plan")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@profile_option
@option_option
@click.option("--show-values", is_flag=True, help="Also print original values (they are identifying!).")
@guarded
def plan_command(file: Path, profile_name: str, options: tuple[str, ...], show_values: bool) -> None:
    """Print what would change in one FILE: tag path, keyword, VR, action, rule.

    \b
    Example:
      anonymizer plan scan.dcm --profile research
    """
    plan = Plan(load_profile(profile_name, options))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's warnings quote values
            ds = pydicom.dcmread(file)
    except Exception:
        click.echo("error: the file cannot be read as DICOM", err=True)
        raise SystemExit(EXIT_USAGE) from None
    for task in planned_changes(ds, plan):
        path = "/".join(format_tag(t) for t in (*task.path, task.tag))
        elem = task.container[task.tag]
        line = f"{path}\t{elem.keyword or 'private'}\t{task.vr}\t{task.bound.name}\t{task.bound.origin}"
        if show_values and task.vr != "SQ":
            line += f"\t{elem.value!r}"
        click.echo(line)


@main.command("failures")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The run's state folder (default: found for OUT under the data home, or beside --vault).",
)
@click.option("--vault", "vault_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@guarded
def failures_command(out_dir: Path, state_dir: Path | None, vault_path: Path | None, as_json: bool) -> None:
    """List the inputs whose last run failed: ordinal, reason, input path, first seen, attempts.

    This is the one command that prints input paths: it reads the state on this machine,
    which is where they are kept, for the operator. Nothing is changed.

    \b
    Example:
      anonymizer failures dicom-out/
    """
    folder = state_dir or locate_state(out_dir, vault_path)
    for failure in failures(folder):
        if as_json:
            row = {"ordinal": failure.ordinal, "reason": failure.reason, "input": os.fsdecode(failure.path)}
            row |= {"first_seen": failure.first_seen, "attempts": failure.attempts, "last": failure.updated}
            click.echo(json.dumps(row, sort_keys=True))
        else:
            shown = failure.path.decode("utf-8", "backslashreplace")
            click.echo(f"{failure.ordinal}\t{failure.reason}\t{shown}\t{failure.first_seen}\t{failure.attempts}")


def locate_state(out_dir: Path, vault_path: Path | None) -> Path:
    """The state folder of OUT: beside ``--vault``, else the one the data home holds for OUT."""
    if vault_path is not None:
        return default_state_dir(vault_path, out_dir)
    name = default_state_dir(Path("vault.db"), out_dir).name
    found = sorted(p for p in data_home().glob(f"*/runs/{name}") if p.is_dir())
    if len(found) != 1:
        why = "no state" if not found else "several states"
        raise FolderError(f"{why} for this OUT under {data_home()}; give --state or --vault")
    return found[0]
