"""A durable spool for received instances: written whole and synced before the sender hears success.

Layout (names are hashes: they carry no patient data nor UIDs)::

    ROOT/                        mode 0700
      .incoming/                 writes in progress (a crash leaves at most temporaries here)
      <study key>/               one folder per StudyInstanceUID
        <instance key>.dcm       mode 0600: preamble, file meta, dataset as received

A key is the first 32 hex digits of SHA-256 of the UID, so a re-sent instance lands on
the same name and replaces its earlier copy atomically. :meth:`Spool.store` writes to
a temporary file in ``.incoming``, fsyncs it, renames it into the study folder and
fsyncs that folder: after a crash a study folder holds only complete files, and
``.incoming`` only temporaries, which :meth:`Spool.recover` deletes.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import queue
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

INCOMING = ".incoming"
SUFFIX = ".dcm"


def uid_key(uid: str) -> str:
    """The spool name of a UID: 32 hex digits of its SHA-256."""
    return hashlib.sha256(uid.strip("\0 ").encode("ascii", "replace")).hexdigest()[:32]


def fsync_dir(path: Path) -> None:
    """Make the entries of a folder (new names, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Spooled:
    """Where one instance went: its file, its study's key, its size, and whether it replaced a copy."""

    path: Path
    study: str
    size: int
    replaced: bool


class Spool:
    """Atomic, durable writes into a private folder.

    Parameters
    ----------
    root : Path
        The spool folder (created, and kept, mode 0700).
    """

    def __init__(self, root: Path):
        self.root = Path(root).absolute()  # as the runner walks it: the state's input paths
        for folder in (self.root, self.root / INCOMING):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)

    def study_dir(self, study: str) -> Path:
        """The folder of a study key."""
        return self.root / study

    def store(self, data: bytes, study_uid: str, sop_uid: str) -> Spooled:
        """Write one instance; when this returns, it is on disk under its final name.

        Raises
        ------
        OSError
            Any write, sync or rename error (full disk, read-only, quota). No final file
            is left half-written; the temporary is removed when possible.
        """
        study = uid_key(study_uid)
        temp = self.root / INCOMING / f"{secrets.token_hex(8)}.part"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            final = self.study_dir(study) / f"{uid_key(sop_uid)}{SUFFIX}"
            replaced = self._move(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return Spooled(final, study, len(data), replaced)

    def _move(self, temp: Path, final: Path) -> bool:
        """Rename into the study folder (made if needed; made again if the service just removed it)."""
        for attempt in range(2):
            folder = final.parent
            if not folder.is_dir():
                folder.mkdir(mode=0o700, exist_ok=True)
                fsync_dir(self.root)
            replaced = final.exists()
            try:
                os.replace(temp, final)
            except FileNotFoundError:
                if attempt:
                    raise
                continue
            fsync_dir(folder)
            return replaced
        raise AssertionError("unreachable")

    def recover(self) -> int:
        """Delete the temporaries a crash left; return how many (call before receiving)."""
        removed = 0
        for temp in (self.root / INCOMING).glob("*.part"):
            temp.unlink(missing_ok=True)
            removed += 1
        return removed

    def studies(self) -> list[str]:
        """The keys of the studies that have a folder, sorted."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def instances(self, study: str | None = None) -> list[Path]:
        """The complete spooled files, of one study or of all, sorted."""
        return sorted(self.root.glob(f"{study or '[!.]*'}/*{SUFFIX}"))

    @staticmethod
    def count(root: Path) -> int:
        """How many complete instances wait in the spool at ``root`` (not yet processed, or failed); read-only."""
        return sum(1 for _ in Path(root).glob(f"[!.]*/*{SUFFIX}"))

    def prune(self, study: str) -> None:
        """Remove a study's folder if it is empty (a new arrival re-creates it)."""
        with contextlib.suppress(OSError):
            self.study_dir(study).rmdir()


Processed = tuple[Path, int, int]  # a spool file, and the size and mtime_ns it had when its outcome was recorded


class Cleaner:
    """Removes processed spool files in a thread of its own, then their study's folder if empty.

    An unlink right after the commit's sync can wait milliseconds on the file system's
    journal; measured in the gateway, removing 2,000 spool files that way took 4.3 s of
    the de-identifying thread. A file is removed only while it still has the size and
    time it had when its outcome was recorded: a copy re-sent since then stays for the
    next settle. Files not removed before a crash are found at the next start, skipped
    as done before, and removed then.

    Parameters
    ----------
    spool : Spool
        Whose files are removed.
    """

    def __init__(self, spool: Spool):
        self.spool = spool
        self._queue: queue.Queue[tuple[str, list[Processed]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pending: collections.Counter[str] = collections.Counter()  # studies with files still to remove
        self._changed = threading.Condition()

    def discard(self, study: str, files: list[Processed]) -> None:
        """Remove these files of ``study`` soon (the thread starts at the first call)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="spool-cleaner", daemon=True)
            self._thread.start()
        with self._changed:
            self._pending[study] += 1
        self._queue.put((study, files))

    def wait(self, study: str) -> None:
        """Return when no file of ``study`` waits to be removed (call before processing it again:
        a file removed while a pass walks the study's folder would count as unreadable)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._pending[study])

    def close(self) -> None:
        """Remove everything queued so far, then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while (work := self._queue.get()) is not None:
            study, files = work
            for path, size, mtime_ns in files:
                with contextlib.suppress(OSError):
                    stat = path.stat()
                    if (stat.st_size, stat.st_mtime_ns) == (size, mtime_ns):
                        path.unlink()
            self.spool.prune(study)
            with self._changed:
                self._pending[study] -= 1
                if not self._pending[study]:
                    del self._pending[study]
                self._changed.notify_all()
