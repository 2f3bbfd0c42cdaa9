"""Helpers for the integrity tests: trees, manifests, mounts, the CLI as a process."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from anonymizer.evidence.manifest import MANIFEST
from anonymizer.keys.secret import load_key_file
from anonymizer.keys.vault import SqliteVault


def tree(out: Path) -> dict[str, bytes]:
    """Every file under OUT by relative path; the manifest without its run block and vault identity."""
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == MANIFEST:
            content = json.loads(data)
            content.pop("run")
            content.pop("vault")
            data = json.dumps(content, sort_keys=True).encode()
        files[path.relative_to(out).as_posix()] = data
    return files


def process(*args: object, permissions: bool = False, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``anonymizer ARGS`` as its own process (output captured as text).

    ``permissions``: file permissions apply even to root (its override capabilities are
    dropped with ``setpriv``), so that a folder of mode 000 is unreadable.
    """
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if permissions and os.getuid() == 0 else []
    command = [*prefix, sys.executable, "-m", "anonymizer", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload,no-any-return]


RSS_PROBE = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def process_rss(*args: object) -> tuple[subprocess.CompletedProcess[str], int]:
    """``anonymizer ARGS`` as its own process, and the peak RSS (KiB) of it and its workers alone.

    Measured by a wrapper process: the test process's own RUSAGE_CHILDREN would include
    every child any earlier test started.
    """
    command = [sys.executable, "-c", RSS_PROBE, sys.executable, "-m", "anonymizer", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = done.stderr.splitlines()
    return subprocess.CompletedProcess(command, done.returncode, done.stdout, "\n".join(lines[:-1])), int(lines[-1])


def assert_consistent(out: Path, key: Path, vault: Path) -> None:
    """OUT, manifest and vault agree: every listed file exists with its SHA-256, nothing unlisted,
    and every PatientID in OUT is revealable from the vault."""
    content = json.loads((out / MANIFEST).read_text())
    listed = {f["path"]: f["sha256"] for f in content["files"]}
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != MANIFEST}
    assert set(listed) == present
    for path, digest in listed.items():
        assert hashlib.sha256((out / path).read_bytes()).hexdigest() == digest, path
    patients = {str(pydicom.dcmread(out / p, stop_before_pixels=True).PatientID) for p in listed}
    with SqliteVault(vault, load_key_file(key), readonly=True) as store:
        assert all(store.reveal("PatientID", p) is not None for p in patients)


def failed_in_state(state: Path) -> int:
    """Inputs the state records as failed."""
    db = sqlite3.connect(state / "state.db")
    try:
        return int(db.execute("SELECT COUNT(*) FROM inputs WHERE status = 'failed'").fetchone()[0])
    finally:
        db.close()


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at ``where`` (root only); the test skips, saying why, where mounting is refused."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs was refused here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, options: str) -> None:
    """Change a mount's options (``size=100m``, ``rw``)."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


@contextlib.contextmanager
def read_only(source: Path, where: Path) -> Iterator[Path]:
    """``source`` bind-mounted read-only at ``where``; the test skips, saying why, where refused."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "--bind", str(source), str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"a bind mount was refused here: {done.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(where)], check=True)
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
