"""Options shared by several commands, and loading the key they name."""

from __future__ import annotations

import os
from pathlib import Path

import click

from anonymizer.engine.plan import Plan
from anonymizer.errors import KeyFileError
from anonymizer.keys.secret import Secret, load_key_file
from anonymizer.pipeline.worker import with_burned_in
from anonymizer.pixels import detect
from anonymizer.profile.model import Profile
from anonymizer.standard import OPTIONS

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
    envvar="ANONYMIZER_KEY_FILE",
    help="The project key file (see 'anonymizer keygen'), or $ANONYMIZER_KEY_FILE. "
    "A key is never accepted as a command-line value.",
)
vault_option = click.option(
    "--vault",
    "vault_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The vault (SQLite; never inside OUT). Default: $XDG_DATA_HOME/anonymizer/<key fingerprint>/vault.db "
    "(~/.local/share/...), the same from any working directory.",
)
project_option = click.option(
    "--project",
    default=None,
    help="Project label mixed into the key derivation (overrides the profile's).",
)

burned_in_option = click.option(
    "--burned-in",
    type=click.Choice(["quarantine", "ocr", "keep"]),
    default=None,
    help="Objects that may hold burned-in text: fail those no pixel rule covers (quarantine), run the text "
    "detector's redaction loop on every one and ship only what it certifies clean (ocr, research's default; the rest "
    "fails with burned-in-residual), or ship them as they are with PatientIdentityRemoved NO (keep). "
    "Overrides the profile's pixels.burned_in.",
)


def pixel_plan(profile: Profile, burned_in: str | None) -> Plan:
    """The plan with ``--burned-in`` applied, for a machine where the text detector may not run.

    ``--burned-in ocr`` there is a usage error; a profile's own ``ocr`` (research's
    default) falls back to ``quarantine`` with a warning, so nothing that may hold
    burned-in text is shipped unexamined.
    """
    plan = Plan(with_burned_in(profile, burned_in))
    if plan.profile.pixels.burned_in != "ocr" or (why := detect.unavailable()) is None:
        return plan
    if burned_in == "ocr":
        raise click.UsageError(why)
    click.echo(f"warning: {why}; burned_in falls back to quarantine", err=True)
    return Plan(with_burned_in(profile, "quarantine"))


def data_home() -> Path:
    """Where the default vaults and states live: ``$XDG_DATA_HOME/anonymizer`` (``~/.local/share/anonymizer``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "anonymizer"


def vault_path_for(secret: Secret, given: Path | None) -> Path:
    """The vault to use: ``--vault``, else the key's own folder under :func:`data_home`."""
    return given if given is not None else data_home() / secret.fingerprint / "vault.db"


def load_secret(key_file: Path | None, project: str) -> Secret:
    """The key from --key-file or $ANONYMIZER_KEY_FILE (exit 3 when neither)."""
    if key_file is None:
        raise KeyFileError("no key: give --key-file FILE or set ANONYMIZER_KEY_FILE")
    return load_key_file(key_file, project)
