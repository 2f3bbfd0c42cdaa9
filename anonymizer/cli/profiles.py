"""``anonymizer profile list|show|check|explain``."""

from __future__ import annotations

from pathlib import Path

import click

from anonymizer.cli import guarded, main
from anonymizer.engine.plan import Plan
from anonymizer.engine.verdict import shortfalls
from anonymizer.profile.loader import builtin_dir, builtin_names, load_profile, resolve_path
from anonymizer.standard import CID_7050, OPTIONS


@main.group()
def profile() -> None:
    """Inspect and check profiles.

    \b
    Example:
      anonymizer profile explain research --sop-class 1.2.840.10008.5.1.4.1.1.2
    """


@profile.command("list")
def list_profiles() -> None:
    """List the built-in profiles and the Annex E options.

    \b
    Example:
      anonymizer profile list
    """
    for name in builtin_names():
        p = load_profile(name)
        click.echo(f"{name}\t{p.description}")
    for name in OPTIONS:
        click.echo(f"option {name}\tCID 7050 {CID_7050[name][0]}\t{CID_7050[name][1]}")


@profile.command("show")
@click.argument("name")
@guarded
def show(name: str) -> None:
    """Print a profile's YAML (built-in name or file).

    \b
    Example:
      anonymizer profile show research
    """
    path = resolve_path(name)
    click.echo(path.read_text(encoding="utf-8"), nl=False)
    if path.parent == builtin_dir():
        for option in load_profile(name).options:
            click.echo(f"\n# --- option {option} ---")
            click.echo((builtin_dir() / "options" / f"{option}.yaml").read_text(encoding="utf-8"), nl=False)


@profile.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@guarded
def check(file: Path) -> None:
    """Validate a profile file: every problem is listed with its file and line (exit 2).

    Checked: keys (with a 'did you mean'), selectors, actions and their parameters, each
    action against the VRs its selector can meet, the layout's fields, option names,
    and that the rules compile (a rule that follows another finds it). Then the verdict:
    does the profile meet the PS3.15 Basic Profile (the marks it earns), with every
    attribute that falls short.

    \b
    Example:
      anonymizer profile check my-profile.yaml
    """
    plan = Plan(load_profile(file))
    p = plan.profile
    click.echo(f"ok: {p.name} ({len(p.rules)} rules, options: {', '.join(p.options) or 'none'})")
    gaps = shortfalls(plan)
    if not gaps:
        click.echo("meets the PS3.15 Basic Profile: outputs will say PatientIdentityRemoved YES (113100)")
        return
    click.echo(
        f"does not meet the PS3.15 Basic Profile ({len(gaps)} attributes fall short): outputs will say "
        "PatientIdentityRemoved NO, with no CID 7050 code"
    )
    for gap in gaps:
        click.echo(f"  {gap.line()}")


@profile.command("explain")
@click.argument("name")
@click.option("--sop-class", default=None, help="Resolve combined codes for this SOP Class UID.")
@guarded
def explain(name: str, sop_class: str | None) -> None:
    """Print the compiled plan: every tag, its action, and the rule or option that set it.

    \b
    Example:
      anonymizer profile explain basic --sop-class 1.2.840.10008.5.1.4.1.1.4
    """
    for tag, keyword, action, origin in Plan(load_profile(name)).explain(sop_class):
        click.echo(f"{tag}\t{keyword}\t{action}\t{origin}")
