"""The files under IN, in the order that numbers them (their *ordinals*).

The inputs are the regular files under IN and the symbolic links to regular files, as
``cd IN && find . -xtype f | LC_ALL=C sort`` lists them: sorted by full relative path,
byte by byte. Symbolic links to folders are not followed. A file's ordinal is its
1-based position in that list. Entries the walk cannot read are reported, not dropped:

- ``unreadable``: a folder that cannot be listed, or an entry that cannot be examined;
- ``broken-link``: a symbolic link whose target does not exist;
- ``loop``: a symbolic link that resolves to itself;
- ``folder-link``: a symbolic link to a folder (not followed, by design);
- ``output-link``: a symbolic link into OUT (never read: OUT is what the run writes).

The walk streams: each folder is listed and sorted on its own (folder names compare as
``name/``, which gives the order of the whole sorted list), so memory does not grow with
the number of files.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Skipped by design: a run that only skipped these may still exit 0.
BY_DESIGN = frozenset({"folder-link"})


@dataclass(frozen=True)
class Problem:
    """An entry the walk could not read: its path (local only) and a reason code."""

    path: Path
    reason: str


def discover(root: Path, out_dir: Path | None = None) -> Iterator[Path]:
    """Every input under ``root`` in ordinal order (``root`` may be one file).

    Problems are skipped here; :func:`walk` yields them too.
    """
    for entry in walk(root, out_dir):
        if isinstance(entry, Path):
            yield entry


def walk(root: Path, out_dir: Path | None = None) -> Iterator[Path | Problem]:
    """Inputs in ordinal order, and the problems met on the way, where they are met.

    Parameters
    ----------
    root : Path
        IN: a folder, or one file.
    out_dir : Path or None
        OUT, whose files are never inputs (a link into it is a problem).
    """
    if not root.is_dir():
        yield root
        return
    inside = out_dir.resolve() if out_dir is not None else None
    yield from _folder(root, inside)


def _folder(folder: Path, out_dir: Path | None) -> Iterator[Path | Problem]:
    try:
        with os.scandir(folder) as it:
            entries = [(os.fsencode(e.name), e) for e in it]
    except OSError:
        yield Problem(folder, "unreadable")
        return
    keyed = []
    for name, entry in entries:
        try:
            is_folder = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_folder = False
        keyed.append((name + b"/" if is_folder else name, is_folder, entry))
    keyed.sort(key=lambda item: item[0])
    for _, is_folder, entry in keyed:
        path = Path(entry.path)
        if is_folder:
            yield from _folder(path, out_dir)
        else:
            yield _classify(path, entry, out_dir)


def _classify(path: Path, entry: os.DirEntry[str], out_dir: Path | None) -> Path | Problem:
    try:
        if not entry.is_symlink():
            mode = entry.stat(follow_symlinks=False).st_mode
            return path if stat.S_ISREG(mode) else Problem(path, "unreadable")
        target = path.stat()  # follows the link
    except FileNotFoundError:
        return Problem(path, "broken-link")
    except OSError as exc:
        return Problem(path, "loop" if exc.errno == errno.ELOOP else "unreadable")
    if out_dir is not None:
        resolved = path.resolve()
        if resolved == out_dir or out_dir in resolved.parents:
            return Problem(path, "output-link")
    if stat.S_ISDIR(target.st_mode):
        return Problem(path, "folder-link")
    return path if stat.S_ISREG(target.st_mode) else Problem(path, "unreadable")
