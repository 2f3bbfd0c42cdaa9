"""Deliveries per destination and SOP instance: ``gateway.db`` in the state folder (SQLite, WAL).

::

    meta(name PRIMARY KEY, value)          spool (its folder), last-error (JSON: at, destination, error)
    deliveries(destination, sop_uid, path, sha256, status, attempts, error, updated)
        PRIMARY KEY (destination, sop_uid)  status: pending | delivered | failed

One row per (destination, new SOP Instance UID): an instance is delivered once. Queueing
it again with the same SHA-256 changes nothing (a re-sent instance that de-identifies to
the same bytes is not sent twice); with another SHA-256 (a corrected instance) it is
pending again. Every change is committed at once (durable before the call returns).
Rows hold de-identified values only (OUT's relative paths, new UIDs, digests); errors are
status codes and exception class names.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from anonymizer.errors import StateError
from anonymizer.migrations import Migrations

DATABASE = "gateway.db"
MIGRATIONS = Migrations("gateway outbox")


@MIGRATIONS
def create_outbox(db: sqlite3.Connection) -> None:
    """Version 1: meta and deliveries."""
    db.execute("CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS deliveries(destination TEXT NOT NULL, sop_uid TEXT NOT NULL, path TEXT NOT NULL,"
        " sha256 TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
        " error TEXT NOT NULL DEFAULT '', updated TEXT NOT NULL, PRIMARY KEY (destination, sop_uid))"
    )
    db.execute("CREATE INDEX IF NOT EXISTS deliveries_by_status ON deliveries(destination, status)")


QUEUE = (
    "INSERT INTO deliveries VALUES (?, ?, ?, ?, 'pending', 0, '', ?) ON CONFLICT(destination, sop_uid) DO UPDATE SET"
    " path = excluded.path, updated = excluded.updated,"
    " status = CASE WHEN sha256 = excluded.sha256 THEN status ELSE 'pending' END,"
    " attempts = CASE WHEN sha256 = excluded.sha256 THEN attempts ELSE 0 END,"
    " sha256 = excluded.sha256"
)


@dataclass(frozen=True)
class Item:
    """One instance to deliver: its new SOP Instance UID, its path in OUT and its SHA-256."""

    sop_uid: str
    path: str
    sha256: str


@dataclass(frozen=True)
class Result:
    """What one attempt did for one item: ``delivered``, ``pending`` (retry later) or ``failed``."""

    sop_uid: str
    status: str
    error: str = ""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Outbox:
    """The delivery records of one state folder (one connection: one per thread).

    Parameters
    ----------
    folder : Path
        The state folder (created 0700 if missing).
    readonly : bool
        Open without creating or writing (``anonymizer status``).

    Raises
    ------
    StateError
        The database is damaged, newer than this tool, or (read-only) missing.
    """

    def __init__(self, folder: Path, readonly: bool = False):
        path = Path(folder) / DATABASE
        try:
            if readonly:
                if not path.is_file():
                    raise StateError("no gateway state in that folder")
                self._db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
            else:
                Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
                path.chmod(0o600)
                self._db.execute("PRAGMA journal_mode=WAL")
                MIGRATIONS.apply(self._db)
            if MIGRATIONS.version(self._db) != MIGRATIONS.latest:
                raise StateError("the gateway state was written by another version of anonymizer-dicom")
        except ValueError:
            raise StateError("the gateway state was written by a newer version of anonymizer-dicom") from None
        except sqlite3.DatabaseError:
            raise StateError("the gateway state database is damaged; give --state a new folder") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _write(self, sql: str, rows: Iterable[tuple[object, ...]]) -> None:
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(sql, rows)
        except sqlite3.DatabaseError:
            raise StateError("the gateway state cannot be written (damaged, or its disk is full)") from None

    # --- meta ---------------------------------------------------------------------------

    def meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(name, value)])

    # --- deliveries ---------------------------------------------------------------------

    def queue(self, destinations: Iterable[str], items: Iterable[Item]) -> None:
        """Record instances to deliver to each destination (idempotent; see the module docstring)."""
        now, items = _now(), list(items)
        self._write(QUEUE, [(d, i.sop_uid, i.path, i.sha256, now) for d in destinations for i in items])

    def pending(self, destination: str, limit: int) -> list[Item]:
        """Up to ``limit`` instances waiting for ``destination``, oldest first."""
        rows = self._db.execute(
            "SELECT sop_uid, path, sha256 FROM deliveries WHERE destination = ? AND status = 'pending'"
            " ORDER BY rowid LIMIT ?",
            (destination, limit),
        ).fetchall()
        return [Item(str(u), str(p), str(s)) for u, p, s in rows]

    def record(self, destination: str, results: Iterable[Result]) -> None:
        """Store the outcome of one attempt per instance; the last error goes to meta."""
        now, results = _now(), list(results)
        rows = [(r.status, r.error, now, destination, r.sop_uid) for r in results]
        self._write(
            "UPDATE deliveries SET status = ?, attempts = attempts + 1, error = ?, updated = ?"
            " WHERE destination = ? AND sop_uid = ?",
            rows,
        )
        errors = [r.error for r in results if r.status != "delivered" and r.error]
        if errors:
            self.set_meta("last-error", json.dumps({"at": now, "destination": destination, "error": errors[-1]}))

    def retry_failed(self, destination: str) -> int:
        """Make the failed deliveries to ``destination`` pending again; return how many."""
        count = self.count(destination, "failed")
        self._write(
            "UPDATE deliveries SET status = 'pending' WHERE destination = ? AND status = ?", [(destination, "failed")]
        )
        return count

    def count(self, destination: str, status: str) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE destination = ? AND status = ?", (destination, status)
        ).fetchone()
        return int(row[0])

    def counts(self) -> dict[str, dict[str, int]]:
        """Instances per destination and status."""
        found: dict[str, dict[str, int]] = {}
        for destination, status, n in self._db.execute(
            "SELECT destination, status, COUNT(*) FROM deliveries GROUP BY destination, status ORDER BY destination"
        ):
            found.setdefault(str(destination), {})[str(status)] = int(n)
        return found
