"""The vault's SQLite schema, as numbered migrations (see :mod:`anonymizer.migrations`)."""

from __future__ import annotations

import sqlite3

from anonymizer.migrations import Migrations

MIGRATIONS = Migrations("vault")


@MIGRATIONS
def create_tables(db: sqlite3.Connection) -> None:
    """Version 1: the four tables (``IF NOT EXISTS``: vaults made before migrations adopt it)."""
    db.execute("CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value BLOB NOT NULL)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS keyring(project TEXT PRIMARY KEY, nonce BLOB NOT NULL, wrapped BLOB NOT NULL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS entries(project TEXT NOT NULL, namespace TEXT NOT NULL, token TEXT NOT NULL,"
        " nonce BLOB NOT NULL, ciphertext BLOB NOT NULL, mac BLOB NOT NULL, created TEXT NOT NULL,"
        " run_id TEXT NOT NULL, PRIMARY KEY(project, namespace, token)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS audit(at TEXT NOT NULL, command TEXT NOT NULL, count INTEGER NOT NULL,"
        " fingerprint TEXT NOT NULL)"
    )
