"""The run state's SQLite schema, as numbered migrations (see :mod:`anonymizer.migrations`).

::

    meta(name PRIMARY KEY, value)      out, binding (what made OUT), vault identity
    inputs(path BLOB PRIMARY KEY, size, mtime_ns, status, reason, output, updated,
           binding, source, sop_uid, attempts, first_seen, ordinal, counts)
                                       path = os.fsencode of the absolute input path;
                                       source = SHA-256 of the dataset outside file meta
    outputs(key PRIMARY KEY, path, sop_uid, sha256, pixels, size, mtime_ns, binding, input)
                                       key = case-folded relative path; input = its input
"""

from __future__ import annotations

import sqlite3

from anonymizer.migrations import Migrations

MIGRATIONS = Migrations("state")


@MIGRATIONS
def create_tables(db: sqlite3.Connection) -> None:
    """Version 1: meta, inputs, outputs (``IF NOT EXISTS``: states made before migrations adopt it)."""
    db.execute("CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS inputs(path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
        " status TEXT NOT NULL, reason TEXT NOT NULL, output TEXT NOT NULL, updated TEXT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS outputs(key TEXT PRIMARY KEY, path TEXT NOT NULL, sop_uid TEXT NOT NULL,"
        " sha256 TEXT NOT NULL)"
    )


@MIGRATIONS
def add_pixels_column(db: sqlite3.Connection) -> None:
    """Version 2: outputs.pixels, the redacted boxes (rule names and coordinates) of each output."""
    columns = {str(row[1]) for row in db.execute("PRAGMA table_info(outputs)")}
    if "pixels" not in columns:  # states written by the version that added the column without a migration
        db.execute("ALTER TABLE outputs ADD COLUMN pixels TEXT NOT NULL DEFAULT ''")


@MIGRATIONS
def bind_inputs_and_outputs(db: sqlite3.Connection) -> None:
    """Version 3: paths as bytes (any file name), what made each record, output sizes and owners."""
    db.execute(
        "CREATE TABLE inputs_v3(path BLOB PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
        " status TEXT NOT NULL, reason TEXT NOT NULL, output TEXT NOT NULL, updated TEXT NOT NULL,"
        " binding TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '', sop_uid TEXT NOT NULL DEFAULT '',"
        " attempts INTEGER NOT NULL DEFAULT 1, first_seen TEXT NOT NULL DEFAULT '')"
    )
    db.execute(
        "INSERT INTO inputs_v3(path, size, mtime_ns, status, reason, output, updated, first_seen)"
        " SELECT CAST(path AS BLOB), size, mtime_ns, status, reason, output, updated, updated FROM inputs"
    )
    db.execute("DROP TABLE inputs")
    db.execute("ALTER TABLE inputs_v3 RENAME TO inputs")
    for column in (
        "size INTEGER NOT NULL DEFAULT -1",
        "mtime_ns INTEGER NOT NULL DEFAULT -1",
        "binding TEXT NOT NULL DEFAULT ''",
        "input BLOB NOT NULL DEFAULT x''",
    ):
        db.execute(f"ALTER TABLE outputs ADD COLUMN {column}")
    db.execute("CREATE INDEX outputs_by_sop ON outputs(sop_uid)")


@MIGRATIONS
def record_ordinals(db: sqlite3.Connection) -> None:
    """Version 4: inputs.ordinal, the input's position in its last run (``anonymizer failures``)."""
    db.execute("ALTER TABLE inputs ADD COLUMN ordinal INTEGER NOT NULL DEFAULT 0")


@MIGRATIONS
def record_counts(db: sqlite3.Connection) -> None:
    """Version 5: inputs.counts, the elements per group/action of each done input (whole-dataset counts)."""
    db.execute("ALTER TABLE inputs ADD COLUMN counts TEXT NOT NULL DEFAULT ''")
