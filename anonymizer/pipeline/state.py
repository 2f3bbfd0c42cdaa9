"""The operator's local state: what each input became, who owns each output path, locks.

SQLite (WAL) in the state folder (default ``.anonymizer/`` beside the vault; never in
OUT), plus one JSON-lines run log per run. This is the only place input paths are
written, and it stays on the operator's machine::

    inputs(path PRIMARY KEY, size, mtime_ns, status, reason, output, updated)
    outputs(key PRIMARY KEY, path, sop_uid, sha256)   key = case-folded relative path
    meta(name PRIMARY KEY, value)                      the OUT this state belongs to

A run holds an exclusive ``flock`` on the state folder and on OUT (the directories
themselves: no lock files), so a second run on either is refused.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from anonymizer.errors import StateError
from anonymizer.keys.vault import CACHE_KIB
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


@dataclass(frozen=True)
class Previous:
    """What an earlier run recorded for one input."""

    size: int
    mtime_ns: int
    status: str


def _lock(folder: Path) -> int:
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateError("another run holds this state folder or OUT; wait for it to finish") from None
    return fd


class StateStore:
    """Per-input records and output-path ownership; ``folder=None`` keeps them in memory.

    Writes are staged and made durable by :meth:`commit`; the runner commits right after
    the vault, so an input recorded as done always has its tokens in the vault.
    """

    def __init__(self, folder: Path | None, out_dir: Path | None, run_id: str):
        self.folder, self.run_id = folder, run_id
        self._locks: list[int] = []
        self._pending: dict[str, tuple[str, str, str, str]] = {}  # key -> (path, sop_uid, sha256, pixels)
        self._log = None
        if folder is not None:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._locks.append(_lock(folder))
            if out_dir is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                self._locks.append(_lock(out_dir))
        try:
            self._db = self._connect(folder)
            MIGRATIONS.apply(self._db)
            if out_dir is not None:
                self._bind(out_dir)
            self._db.execute("BEGIN")
        except ValueError:
            self._release()
            raise StateError("the state was written by a newer version of anonymizer-dicom") from None
        except sqlite3.DatabaseError:
            self._release()
            raise StateError("the state database is damaged; give --state a new folder") from None
        except StateError:
            self._release()
            raise
        if folder is not None:
            log_fd = os.open(folder / f"run-{run_id}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._log = os.fdopen(log_fd, "a", encoding="utf-8")

    @staticmethod
    def _connect(folder: Path | None) -> sqlite3.Connection:
        if folder is None:
            return sqlite3.connect(":memory:", isolation_level=None)
        db = sqlite3.connect(folder / "state.db", isolation_level=None, timeout=30)
        (folder / "state.db").chmod(0o600)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")  # memory stays flat as the state grows
        return db

    def _bind(self, out_dir: Path) -> None:
        target = str(out_dir.resolve())
        row = self._db.execute("SELECT value FROM meta WHERE name = 'out'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('out', ?)", (target,))
        elif row[0] != target:
            raise StateError("this state folder belongs to another OUT; give --state another folder")

    def previous(self, path: Path) -> Previous | None:
        """What was recorded for ``path`` (None: never seen)."""
        row = self._db.execute("SELECT size, mtime_ns, status FROM inputs WHERE path = ?", (str(path),)).fetchone()
        return None if row is None else Previous(int(row[0]), int(row[1]), str(row[2]))

    def owner(self, key: str) -> str | None:
        """The SOP Instance UID that owns output path ``key``, or None."""
        if key in self._pending:
            return self._pending[key][1]
        row = self._db.execute("SELECT sop_uid FROM outputs WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def record(self, path: Path, stat: os.stat_result, status: str, reason: str = "", output: str = "") -> None:
        """Stage the outcome of one input (and log it with its path, locally)."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._db.execute(
            "INSERT OR REPLACE INTO inputs VALUES (?, ?, ?, ?, ?, ?, ?)",
            (str(path), stat.st_size, stat.st_mtime_ns, status, reason, output, now),
        )
        if self._log is not None:
            entry = {"at": now, "input": str(path), "status": status, "reason": reason, "output": output}
            self._log.write(json.dumps(entry) + "\n")

    def claim(self, key: str, path: str, sop_uid: str, sha256: str, pixels: str = "") -> None:
        """Stage ownership of an output path (``pixels``: JSON of redacted boxes, coordinates only)."""
        self._pending[key] = (path, sop_uid, sha256, pixels)

    def commit(self) -> None:
        """Make every staged record durable (one transaction)."""
        self._db.executemany(
            "INSERT OR REPLACE INTO outputs(key, path, sop_uid, sha256, pixels) VALUES (?, ?, ?, ?, ?)",
            [(key, *value) for key, value in self._pending.items()],
        )
        self._db.execute("COMMIT")
        self._pending.clear()
        if self._log is not None:
            self._log.flush()
        self._db.execute("BEGIN")

    def outputs(self) -> Iterator[tuple[str, str, str, str]]:
        """Every committed output: (relative path, SOP Instance UID, SHA-256, pixels JSON), by path."""
        query = "SELECT path, sop_uid, sha256, pixels FROM outputs ORDER BY path"
        for path, sop_uid, digest, pixels in self._db.execute(query):
            yield str(path), str(sop_uid), str(digest), str(pixels)

    def close(self) -> None:
        """Commit, close, release the locks."""
        try:
            self.commit()
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError:
            raise StateError("the state database cannot be written (damaged or full disk)") from None
        finally:
            self._release()

    def _release(self) -> None:
        if hasattr(self, "_db"):
            self._db.close()
        if self._log is not None:
            self._log.close()
        for fd in self._locks:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._locks.clear()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
