"""The operator's local state: what each input became, what made OUT, who owns each output, locks.

SQLite (WAL) in the state folder (never in OUT; schema in :mod:`anonymizer.pipeline.schema`),
plus one JSON-lines run log per run. This is the only place input paths are written,
and it stays on the operator's machine. Input paths are stored as bytes
(``os.fsencode``), so any file name the file system allows can be recorded.

Every write goes into one open transaction that :meth:`StateStore.commit` ends; the
runner commits right after the files are synced and the vault committed, so an input
recorded as done always has its bytes on disk and its tokens in the vault.

A run holds an exclusive lock on the state folder and on OUT (the directories
themselves: no lock files; portalocker), so a second run on either is refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from anonymizer.errors import StateError, sqlite_storage_fault
from anonymizer.keys.vault import CACHE_KIB
from anonymizer.pipeline.schema import MIGRATIONS


@dataclass(frozen=True)
class Previous:
    """What an earlier run recorded for one input."""

    size: int
    mtime_ns: int
    status: str
    reason: str
    output: str
    binding: str
    attempts: int


@dataclass(frozen=True)
class Output:
    """One output OUT holds, as the state recorded it."""

    path: str
    sop_uid: str
    sha256: str
    pixels: str
    size: int
    mtime_ns: int
    binding: str
    input: bytes


@dataclass(frozen=True)
class Failure:
    """An input whose last outcome was a failure (what ``anonymizer failures`` lists)."""

    ordinal: int
    reason: str
    path: bytes
    first_seen: str
    attempts: int
    updated: str


def failures(folder: Path) -> list[Failure]:
    """The failures a state folder records, read without locking it (a run may be going on).

    Raises
    ------
    StateError
        When the folder holds no readable state.
    """
    database = folder / "state.db"
    if not database.is_file():
        raise StateError("no state in that folder")
    try:
        db = sqlite3.connect(database.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            if MIGRATIONS.version(db) < MIGRATIONS.latest:
                raise StateError("the state is older than this tool; run the same 'anonymizer run' once first")
            query = (
                "SELECT ordinal, reason, path, first_seen, attempts, updated FROM inputs"
                " WHERE status = 'failed' ORDER BY ordinal, path"
            )
            rows = db.execute(query).fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError:
        raise StateError("the state database is damaged") from None
    return [Failure(int(o), str(r), bytes(p), str(f), int(a), str(u)) for o, r, p, f, a, u in rows]


def _lock(folder: Path) -> int:
    """An exclusive lock on a folder itself (no lock file), held until :func:`_unlock`.

    portalocker (imported here, so that importing the package needs no ``fcntl``) locks
    the folder's descriptor; where folders cannot be opened (Windows), a ``.lock`` file
    in it stands for the folder.
    """
    import portalocker

    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        portalocker.lock(fd, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
    except portalocker.LockException:
        os.close(fd)
        raise StateError("another run holds this state folder or OUT; wait for it to finish") from None
    return fd


def _unlock(fd: int) -> None:
    import portalocker

    portalocker.unlock(fd)
    os.close(fd)


# one statement per input: a new row, or the old one updated (attempts counted, first_seen kept)
UPSERT_INPUT = (
    "INSERT INTO inputs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
    " size = excluded.size, mtime_ns = excluded.mtime_ns, status = excluded.status, reason = excluded.reason,"
    " output = excluded.output, updated = excluded.updated, binding = excluded.binding, source = excluded.source,"
    " sop_uid = excluded.sop_uid, attempts = attempts + 1, ordinal = excluded.ordinal, counts = excluded.counts"
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


_OUTPUTS = "SELECT path, sop_uid, sha256, pixels, size, mtime_ns, binding, input FROM outputs"


def _output(row: tuple[Any, ...]) -> Output:
    path, uid, digest, pixels, size, mtime, binding, owner = row
    return Output(str(path), str(uid), str(digest), str(pixels), int(size), int(mtime), str(binding), bytes(owner))


def _key(path: Path) -> bytes:
    return os.fsencode(path)


class StateStore:
    """Per-input records, the binding of OUT and output ownership; ``folder=None`` keeps them in memory.

    Parameters
    ----------
    folder : Path or None
        The state folder (created 0700), or None for an in-memory state (dry runs).
    out_dir : Path or None
        OUT: the state is bound to it, and OUT is locked too.
    run_id : str
        Names this run's log file.

    Raises
    ------
    StateError
        Locked by another run, bound to another OUT, damaged, or newer than this tool.
    """

    def __init__(self, folder: Path | None, out_dir: Path | None, run_id: str):
        self.folder, self.run_id = folder, run_id
        self._locks: list[int] = []
        self._log = None
        if folder is not None:
            for missing in reversed([f for f in (folder, *folder.parents) if not f.exists()]):
                missing.mkdir(mode=0o700, exist_ok=True)  # every folder made here is private
            self._locks.append(_lock(folder))
            if out_dir is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                self._locks.append(_lock(out_dir))
        try:
            self._db = self._connect(folder)
            MIGRATIONS.apply(self._db)
            if out_dir is not None:
                self._bind_out(out_dir)
            self._db.execute("BEGIN")
        except ValueError:
            self._release()
            raise StateError("the state was written by a newer version of anonymizer-dicom") from None
        except sqlite3.DatabaseError as exc:
            self._release()
            damaged = StateError("the state database is damaged; give --state a new folder")
            raise sqlite_storage_fault(exc, "the state") or damaged from None
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

    def _bind_out(self, out_dir: Path) -> None:
        target = str(out_dir.resolve())
        found = self.meta("out")
        if found is None:
            self.set_meta("out", target)
        elif found != target:
            raise StateError("this state folder belongs to another OUT; give --state another folder")

    # --- what made OUT ------------------------------------------------------------------

    def meta(self, name: str) -> str | None:
        """A value of the meta table (``out``, ``binding``), or None."""
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        """Stage a value of the meta table."""
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def binding(self) -> dict[str, Any] | None:
        """What produced the outputs recorded here (plan, keys, layout, tool, vault), or None."""
        found = self.meta("binding")
        return None if found is None else dict(json.loads(found))

    def is_empty(self) -> bool:
        """No input has been recorded yet."""
        return self._db.execute("SELECT 1 FROM inputs LIMIT 1").fetchone() is None

    # --- inputs -------------------------------------------------------------------------

    def previous(self, path: Path) -> Previous | None:
        """What was recorded for ``path`` (None: never seen)."""
        row = self._db.execute(
            "SELECT size, mtime_ns, status, reason, output, binding, attempts FROM inputs WHERE path = ?",
            (_key(path),),
        ).fetchone()
        if row is None:
            return None
        size, mtime, status, reason, output, binding, attempts = row
        return Previous(int(size), int(mtime), str(status), str(reason), str(output), str(binding), int(attempts))

    def record(
        self,
        path: Path,
        stat: os.stat_result | None,
        status: str,
        reason: str = "",
        output: str = "",
        binding: str = "",
        source: str = "",
        sop_uid: str = "",
        ordinal: int = 0,
        counts: str = "",
    ) -> None:
        """Stage the outcome of one input (and log it with its path, locally).

        ``stat`` is None for an entry the walk could not read (a folder, a broken link).
        """
        now = _now()
        size, mtime = (stat.st_size, stat.st_mtime_ns) if stat is not None else (-1, -1)
        row = (_key(path), size, mtime, status, reason, output, now, binding, source, sop_uid, 1, now, ordinal, counts)
        self._db.execute(UPSERT_INPUT, row)
        if self._log is not None:
            entry = {"at": now, "input": os.fsdecode(path), "status": status, "reason": reason, "output": output}
            self._log.write(json.dumps(entry) + "\n")

    def redo_outputs(self, outputs: list[str]) -> None:
        """Forget that the inputs of these outputs are done (the outputs are missing): the run makes them again."""
        self._db.executemany("UPDATE inputs SET status = 'redo' WHERE output = ?", [(o,) for o in outputs])

    def dataset_counts(self) -> dict[str, dict[str, int]]:
        """Elements per action and per group over every input done (the whole dataset, not one run)."""
        groups: Counter[str] = Counter()
        for (text,) in self._db.execute("SELECT counts FROM inputs WHERE status = 'done' AND counts != ''"):
            groups.update(json.loads(text))
        actions: Counter[str] = Counter()
        for key, count in groups.items():
            actions[key.rsplit("/", 1)[1]] += count
        return {"actions": dict(sorted(actions.items())), "groups": dict(sorted(groups.items()))}

    def count_failed(self) -> int:
        """How many inputs failed the last time they were processed."""
        return int(self._db.execute("SELECT COUNT(*) FROM inputs WHERE status = 'failed'").fetchone()[0])

    # --- outputs ------------------------------------------------------------------------

    def owner(self, key: str) -> tuple[str, bytes] | None:
        """The (SOP Instance UID, input) that owns output path ``key``, or None."""
        row = self._db.execute("SELECT sop_uid, input FROM outputs WHERE key = ?", (key,)).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def by_sop(self, sop_uid: str) -> tuple[str, bytes] | None:
        """The (output key, input) of the output holding this (new) SOP Instance UID, or None."""
        row = self._db.execute("SELECT key, input FROM outputs WHERE sop_uid = ? LIMIT 1", (sop_uid,)).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def claim(self, key: str, output: Output) -> None:
        """Stage ownership of an output path (``pixels``: JSON of redacted boxes, coordinates only)."""
        o = output
        self._db.execute(
            "INSERT OR REPLACE INTO outputs(key, path, sop_uid, sha256, pixels, size, mtime_ns, binding, input)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, o.path, o.sop_uid, o.sha256, o.pixels, o.size, o.mtime_ns, o.binding, o.input),
        )

    def release(self, key: str) -> None:
        """Stage forgetting an output (its file was removed from OUT)."""
        self._db.execute("DELETE FROM outputs WHERE key = ?", (key,))

    def output(self, key: str) -> Output | None:
        """The output at path key ``key`` (:func:`~anonymizer.pipeline.layout.path_key`), or None."""
        row = self._db.execute(_OUTPUTS + " WHERE key = ?", (key,)).fetchone()
        return None if row is None else _output(row)

    def count_outputs(self) -> int:
        """How many outputs are recorded."""
        return int(self._db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0])

    def outputs(self, other_than: str | None = None) -> Iterator[Output]:
        """Every recorded output by relative path, or only those not made under binding ``other_than``.

        Rows are read as the caller goes (memory does not grow with OUT): a caller that
        changes outputs while iterating takes a list first.
        """
        where, parameters = ("", ()) if other_than is None else (" WHERE binding != ?", (other_than,))
        for row in self._db.execute(_OUTPUTS + where + " ORDER BY path", parameters):
            yield _output(row)

    # --- durability ---------------------------------------------------------------------

    def commit(self) -> None:
        """Make every staged record durable (one transaction)."""
        try:
            self._db.execute("COMMIT")
            if self._log is not None:
                self._log.flush()
            self._db.execute("BEGIN")
        except sqlite3.DatabaseError as exc:
            raise sqlite_storage_fault(exc, "the state") or StateError("the state database is damaged") from None

    def close(self) -> None:
        """Commit, close, release the locks."""
        try:
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise sqlite_storage_fault(exc, "the state") or StateError("the state database is damaged") from None
        finally:
            self._release()

    def _release(self) -> None:
        if hasattr(self, "_db"):
            self._db.close()
        if self._log is not None:
            with contextlib.suppress(OSError):  # a full disk: the run log is a convenience, the database the record
                self._log.close()
        for fd in self._locks:
            _unlock(fd)
        self._locks.clear()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
