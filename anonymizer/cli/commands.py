"""``anonymizer keygen``, ``run`` and ``plan``."""

from __future__ import annotations

from pathlib import Path

import click
import pydicom
from rich.console import Console
from rich.table import Table

from anonymizer.cli import EXIT_USAGE, guarded, main
from anonymizer.engine import Plan, planned_changes
from anonymizer.profile import load_profile
from anonymizer.runner import FileResult, RunSummary, check_folders, run
from anonymizer.secret import generate_key_file, load_key_file
from anonymizer.standard import OPTIONS
from anonymizer.tags import format_tag
from anonymizer.vault import MemoryVault

profile_option = click.option(
    "--profile",
    "profile_name",
    default="research",
    show_default=True,
    help="Built-in profile name or path to a YAML profile.",
)
option_option = click.option(
    "--option",
    "options",
    multiple=True,
    type=click.Choice(OPTIONS),
    help="Add a PS3.15 Annex E option (repeatable).",
)
key_option = click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The project key (see 'anonymizer keygen'); never pass a key on the command line.",
)


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
@click.option("--dry-run", is_flag=True, help="De-identify in memory and report; write nothing.")
@guarded
def run_command(
    in_dir: Path, out_dir: Path, profile_name: str, options: tuple[str, ...], key_file: Path, dry_run: bool
) -> None:
    """De-identify every DICOM file under IN_DIR into OUT_DIR.

    Files are named from de-identified values only. Non-DICOM files are skipped and
    counted; a file that fails is reported by its ordinal (its place in sorted order)
    and a reason code, and gets no output. Exit 0 all done, 1 some failed, 2 usage or
    profile error, 3 key error.

    \b
    Example:
      anonymizer run dicom-in/ dicom-out/ --profile research --key-file project.key
    """
    secret = load_key_file(key_file)
    plan = Plan(load_profile(profile_name, options))
    check_folders(in_dir, out_dir)
    console = Console(stderr=True)

    def report(result: FileResult) -> None:
        if result.status == "failed":
            detail = f" ({result.detail})" if result.detail else ""
            console.print(
                f"file #{result.ordinal}: failed: {result.reason}{detail}", highlight=False, markup=False
            )

    summary = run(in_dir, None if dry_run else out_dir, plan, secret, MemoryVault(), report)
    _print_summary(console, summary, plan)
    raise SystemExit(summary.exit_code)


def _print_summary(console: Console, summary: RunSummary, plan: Plan) -> None:
    table = Table(title=f"profile {plan.profile.name}", show_header=False)
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
