"""``anonymizer verify`` and ``anonymizer report``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from anonymizer.cli import EXIT_FAILED, EXIT_USAGE, guarded, main, report_error
from anonymizer.cli.commands import locate_state
from anonymizer.cli.options import option_option, profile_option
from anonymizer.engine.plan import Plan
from anonymizer.errors import AnonymizerError
from anonymizer.evidence.report import render_report
from anonymizer.evidence.verify import verify
from anonymizer.pipeline.state import failures
from anonymizer.pixels import detect
from anonymizer.profile.loader import load_profile


@main.command("verify")
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--against",
    "in_dir",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="The inputs OUT was made from: search OUT for every identifying value in them.",
)
@profile_option
@option_option
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the findings as JSON.",
)
@click.option("--show-values", is_flag=True, help="Print the identifying values found (they are identifying!).")
@click.option(
    "--pixels",
    is_flag=True,
    help="Also run the text detector on every output image; findings give box coordinates, "
    "the recognised text only with --show-values.",
)
@guarded
def verify_command(
    out_dir: Path,
    in_dir: Path | None,
    profile_name: str,
    options: tuple[str, ...],
    json_file: Path | None,
    show_values: bool,
    pixels: bool,
) -> None:
    """Search OUT for residual identifiers; exit 1 when anything is found, 0 when clean, 2 on an error.

    With --against IN, every value the profile does not keep in the inputs, and what the
    free-text detector finds in their cleaned and removed text, is searched for in every
    output (all elements at every depth, decoded text, binary values as text, dates in any
    date attribute, raw bytes). Inputs the run failed on (its state, when found for OUT)
    are left out; inputs verify cannot read are counted and the verdict is then not clean.
    Without --against, rule-based checks run (person names, unsafe private elements,
    original-looking UIDs, missing de-identification marks, burned-in text, PHI the
    detector finds in any text element, identifying paths). Findings name the output file,
    the tag path and the kind of identifier.
    With --pixels, text the detector finds in the images is a finding too (its box).

    \b
    Example:
      anonymizer verify dicom-out/ --against dicom-in/ --profile research --json findings.json
      anonymizer verify dicom-out/ --pixels
    """
    if pixels and (why := detect.unavailable()) is not None:
        raise click.UsageError(why)
    plan = Plan(load_profile(profile_name, options)) if in_dir is not None else None
    failed = _failed_ordinals(out_dir) if in_dir is not None else set()
    try:
        outcome = verify(out_dir, in_dir, plan, show_values, failed, "all" if pixels else "")
    except AnonymizerError:
        raise
    except Exception as exc:  # a verify error is never a verdict: exit 2, never 1
        report_error("verify", f"verification stopped: {type(exc).__name__}")
        raise SystemExit(EXIT_USAGE) from None
    for f in outcome.findings:
        click.echo(f"{f.file}\t{f.path}\t{f.kind}" + (f"\t{f.value}" if show_values and f.value else ""))
    summary = f"{len(outcome.findings)} findings in {outcome.files} files ({outcome.mode}, {outcome.seconds:.2f} s)"
    if in_dir is not None:
        used = outcome.inputs
        summary += f"; inputs: {used.read} read, {used.excluded} failed in the run, {used.unreadable} unreadable here"
    click.echo(summary, err=True)
    if json_file is not None:
        json_file.write_text(json.dumps(outcome.as_dict(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    raise SystemExit(0 if outcome.clean else EXIT_FAILED)


def _failed_ordinals(out_dir: Path) -> set[int]:
    """Ordinals of the inputs the run failed on, from OUT's state when this machine has one."""
    try:
        return {f.ordinal for f in failures(locate_state(out_dir, None))}
    except AnonymizerError:
        return set()


@main.command("report")
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), default="html", show_default=True)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (default: standard output).",
)
@guarded
def report_command(out_dir: Path, fmt: str, out_file: Path | None) -> None:
    """Write a data protection officer's report of OUT (from its manifest; no identifiers).

    \b
    Example:
      anonymizer run IN OUT --key-file project.key --verify && anonymizer report OUT --out report.html
    """
    text = render_report(out_dir, fmt)
    if out_file is None:
        click.echo(text, nl=False)
    else:
        out_file.write_text(text, encoding="utf-8")
