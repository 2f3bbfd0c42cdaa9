"""Numbered schema migrations for the SQLite files the package keeps (vault, state).

Like sqlite-utils' ``migrations.py``: a registry of steps, each a function of the
connection, applied in order inside one transaction each. The schema version is the
database's ``PRAGMA user_version``; a database written by a newer version of the tool
(a version this registry does not know) is refused rather than guessed at.

Every first step creates its tables with ``IF NOT EXISTS``, so files written before
migrations existed (version 0) adopt the scheme without losing anything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

Step = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    """One numbered step."""

    version: int
    name: str
    step: Step


class Migrations:
    """An ordered registry of :class:`Migration` steps for one kind of database.

    Parameters
    ----------
    name : str
        What the database is (``vault``, ``state``), for messages.
    """

    def __init__(self, name: str):
        self.name = name
        self._steps: list[Migration] = []

    def __call__(self, step: Step) -> Step:
        """Decorator: register ``step`` as the next version; a duplicate name is an error."""
        if any(m.name == step.__name__ for m in self._steps):
            raise ValueError(f"migration {step.__name__!r} registered twice for the {self.name}")
        self._steps.append(Migration(len(self._steps) + 1, step.__name__, step))
        return step

    @property
    def latest(self) -> int:
        """The schema version this code writes."""
        return len(self._steps)

    def version(self, db: sqlite3.Connection) -> int:
        """The schema version of ``db`` (0: written before migrations existed, or new)."""
        return int(db.execute("PRAGMA user_version").fetchone()[0])

    def newer(self, db: sqlite3.Connection) -> bool:
        """True when ``db`` was written by a newer version of the tool."""
        return self.version(db) > self.latest

    def apply(self, db: sqlite3.Connection) -> list[str]:
        """Apply every pending step, each in its own transaction; return the names applied.

        ``db`` must be in autocommit mode (``isolation_level=None``).

        Raises
        ------
        ValueError
            When ``db`` is newer than every step known here.
        """
        current = self.version(db)
        if current > self.latest:
            raise ValueError(f"the {self.name} has schema version {current}; this tool knows up to {self.latest}")
        applied = []
        for migration in self._steps[current:]:
            db.execute("BEGIN IMMEDIATE")
            try:
                migration.step(db)
                db.execute(f"PRAGMA user_version = {migration.version}")
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
                    db.execute("ROLLBACK")
                raise
            applied.append(migration.name)
        return applied
