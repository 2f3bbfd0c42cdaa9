"""``anonymizer vault reveal|export|stats|rotate``: re-identification, with the key only."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import click

from anonymizer.cli import guarded, main
from anonymizer.cli.options import key_option, load_secret, project_option, vault_option, vault_path_for
from anonymizer.errors import FolderError, KeyFileError
from anonymizer.keys.secret import load_key_file
from anonymizer.keys.store import EXPORTS
from anonymizer.keys.vault import SqliteVault


def _open(vault_path: Path | None, key_file: Path | None, project: str | None, readonly: bool = False) -> SqliteVault:
    """Open an existing vault (these commands never create one)."""
    secret = load_secret(key_file, project or "")
    return SqliteVault(vault_path_for(secret, vault_path), secret, readonly=readonly, create=False)


@main.group()
def vault() -> None:
    """Re-identify, export crosswalks, count and re-key the vault (the key is required).

    \b
    Example:
      anonymizer vault stats --key-file project.key
    """


@vault.command()
@click.argument("namespace")
@click.argument("token")
@vault_option
@key_option
@project_option
@guarded
def reveal(namespace: str, token: str, vault_path: Path, key_file: Path | None, project: str | None) -> None:
    """Print the original behind TOKEN (as it appears in the output) in NAMESPACE.

    NAMESPACE is the attribute keyword the token was made for (PatientID, PatientName,
    AccessionNumber, ...; a profile's namespace parameter when it sets one), or UID for
    remapped UIDs; 'vault stats' lists the namespaces this vault holds. Each use is
    recorded in the vault's audit table. Exit 1 when the token is unknown.

    \b
    Example:
      anonymizer vault reveal PatientID SUBJ-7Q2MZC4K3A --key-file project.key
    """
    store = _open(vault_path, key_file, project)
    original = store.reveal(namespace, token.rstrip("^"))  # a PN carries it as SUBJ-X^
    store.close()
    if original is None:
        click.echo("not found", err=True)
        raise SystemExit(1)
    click.echo(original)


@vault.command()
@click.option("--what", type=click.Choice(sorted(EXPORTS)), default="patient-ids", show_default=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
@vault_option
@key_option
@project_option
@guarded
def export(
    what: str, out_file: Path, force: bool, vault_path: Path, key_file: Path | None, project: str | None
) -> None:
    """Write a crosswalk CSV (columns id_old,id_new; 'all' adds namespace), mode 0600.

    The file re-identifies patients: keep it with the key. An existing file is not
    overwritten unless --force. Each export is recorded in the vault's audit table.

    \b
    Example:
      anonymizer vault export --what patient-ids --out crosswalk.csv --key-file project.key
    """
    if out_file.exists() and not force:
        raise FolderError(f"{out_file} exists; give --force to overwrite it")
    store = _open(vault_path, key_file, project)
    fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id_old", "id_new", "namespace"] if what == "all" else ["id_old", "id_new"])
        count = 0
        for namespace, original, token in store.export(what):
            writer.writerow([original, token, namespace] if what == "all" else [original, token])
            count += 1
    store.close()
    click.echo(f"wrote {count} rows", err=True)


@vault.command()
@vault_option
@key_option
@project_option
@guarded
def stats(vault_path: Path, key_file: Path | None, project: str | None) -> None:
    """Print the number of entries per namespace (no values).

    \b
    Example:
      anonymizer vault stats --key-file project.key
    """
    store = _open(vault_path, key_file, project, readonly=True)
    for namespace, count in store.stats().items():
        click.echo(f"{namespace}\t{count}")
    store.close()


@vault.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@vault_option
@key_option
@project_option
@guarded
def audit(as_json: bool, vault_path: Path, key_file: Path | None, project: str | None) -> None:
    """Print the vault's audit table: when it was revealed, exported or rotated, how many
    entries, with which key (fingerprint). No values, no tokens.

    \b
    Example:
      anonymizer vault audit --key-file project.key
    """
    store = _open(vault_path, key_file, project, readonly=True)
    with store:
        for at, command, count, fingerprint in store.audit_log():
            row = {"at": at, "command": command, "count": count, "key_fingerprint": fingerprint}
            click.echo(json.dumps(row, sort_keys=True) if as_json else f"{at}\t{command}\t{count}\t{fingerprint}")


@vault.command()
@click.option("--new-key-file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@vault_option
@key_option
@guarded
def rotate(new_key_file: Path, vault_path: Path, key_file: Path | None) -> None:
    """Re-encrypt the vault under a new key; pseudonyms, UIDs and date shifts stay.

    The vault keeps each project's derivation subkeys wrapped under the key: rotation
    re-wraps them and re-encrypts every entry, so later runs with the new key give the
    same outputs, and the old key no longer opens the vault. Keep the old key until the
    rotation has succeeded, then destroy it.

    \b
    Example:
      anonymizer keygen new.key && anonymizer vault rotate --new-key-file new.key --key-file old.key
    """
    store = _open(vault_path, key_file, None)
    new = load_key_file(new_key_file)
    if new.key == store.secret.key:
        store.close()
        raise KeyFileError("the new key is the current key")
    with store:
        count = store.rotate(new)
    click.echo(f"re-encrypted {count} entries; the new key is {new.fingerprint}", err=True)
    if vault_path is None:  # the default place follows the key: move the vault and its run states along
        old, moved = store.path.parent, vault_path_for(new, None).parent
        if moved.exists():
            click.echo(f"warning: {moved} exists; the vault stays in {old} (give --vault there)", err=True)
        else:
            old.rename(moved)
            click.echo(f"moved the vault and its run states to {moved}", err=True)
