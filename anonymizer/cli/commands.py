"""``anonymizer keygen``, ``run`` and ``plan``."""

from __future__ import annotations

import uuid
from pathlib import Path

import click
import pydicom
from rich.console import Console
from rich.table import Table

from anonymizer.cli import EXIT_USAGE, guarded, main
from anonymizer.cli.options import (
    key_option,
    load_secret,
    option_option,
    profile_option,
    project_option,
    vault_option,
)
from anonymizer.engine import Plan, planned_changes
from anonymizer.errors import InputError
from anonymizer.profile import load_profile
from anonymizer.runner import FileResult, RunSummary, check_folders, run
from anonymizer.secret import generate_key_file
from anonymizer.tags import format_tag
from anonymizer.vault import MemoryVault, SqliteVault, Vault


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
@click.option(
    "--batch-size", default=256, show_default=True, type=click.IntRange(1), help="Files per vault transaction."
)
@click.option("--dry-run", is_flag=True, help="De-identify in memory and report; write nothing, vault included.")
@guarded
def run_command(
    in_dir: Path,
    out_dir: Path,
    profile_name: str,
    options: tuple[str, ...],
    key_file: Path | None,
    vault_path: Path,
    project: str | None,
    batch_size: int,
    dry_run: bool,
) -> None:
    """De-identify every DICOM file under IN_DIR into OUT_DIR.

    Files are named from de-identified values only. Reversible tokens go to the vault,
    encrypted; a key that does not open the vault stops the run before any file is read
    (exit 3). Non-DICOM files are skipped and counted; a file that fails is reported by
    its ordinal (its place in sorted order) and a reason code, and gets no output. Exit 0
    all done, 1 some failed, 2 usage or profile error, 3 key or vault error.

    \b
    Example:
      anonymizer run dicom-in/ dicom-out/ --profile research --key-file project.key
    """
    plan = Plan(load_profile(profile_name, options))
    check_folders(in_dir, out_dir)
    if out_dir.resolve() in vault_path.resolve().parents:
        raise InputError("folders", "the vault must not live inside OUT")
    secret = load_secret(key_file, plan.profile.project if project is None else project)
    vault: Vault
    if dry_run:
        vault = MemoryVault()
        if vault_path.is_file():  # the pseudonyms a real run would give
            secret = SqliteVault(vault_path, secret, readonly=True).secret
    else:
        sqlite = SqliteVault(vault_path, secret, run_id=uuid.uuid4().hex)
        vault, secret = sqlite, sqlite.secret
    console = Console(stderr=True)

    def report(result: FileResult) -> None:
        if result.status == "failed":
            detail = f" ({result.detail})" if result.detail else ""
            console.print(f"file #{result.ordinal}: failed: {result.reason}{detail}", highlight=False, markup=False)

    summary = run(in_dir, None if dry_run else out_dir, plan, secret, vault, report, batch_size)
    if isinstance(vault, SqliteVault):
        vault.close()
    _print_summary(console, summary, plan, secret.fingerprint)
    raise SystemExit(summary.exit_code)


def _print_summary(console: Console, summary: RunSummary, plan: Plan, fingerprint: str) -> None:
    table = Table(title=f"profile {plan.profile.name}, key {fingerprint}", show_header=False)
    table.add_row("done", str(summary.done))
    for reason, n in sorted(summary.skipped.items()):
        table.add_row(f"skipped: {reason}", str(n))
    for reason, n in sorted(summary.failed.items()):
        table.add_row(f"failed: {reason}", str(n))
    for action, n in sorted(summary.actions.items()):
        table.add_row(f"elements: {action}", str(n))
    console.print(table)


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
