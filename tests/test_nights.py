"""A month of nights: the same command every night, through growth, edits, faults and kills.

At every step OUT, its manifest, the state and the vault agree: each manifest entry
exists with its SHA-256, nothing in OUT is unlisted, every PatientID is revealable.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom

from anonymizer.testing import write_flat_corpus
from tests.integrity import assert_consistent, process, remount, tmpfs, tree

KEEP = "name: nightly\nextends: research\nrules:\n  - {tag: Manufacturer, action: keep}\n"
REMOVE = KEEP.replace("keep}", "remove}")


def test_a_month_of_nights(tmp_path: Path, key_file: Path) -> None:
    profile, vault, in_dir = tmp_path / "nightly.yaml", tmp_path / "vault.db", tmp_path / "in"
    profile.write_text(KEEP)
    with tmpfs(tmp_path / "disk", "100m") as disk:
        out = disk / "out"
        common = ("--key-file", key_file, "--vault", vault, "--profile", profile, "--batch-size", "16")

        def night(*more: object) -> subprocess.CompletedProcess[str]:
            return process("run", in_dir, out, *common, "--log-format", "json", *more)

        write_flat_corpus(in_dir / "night1", batch="night1", count=60)  # night 1
        assert night().returncode == 0
        assert_consistent(out, key_file, vault)

        write_flat_corpus(in_dir / "night2", batch="night2", count=6)  # night 2: 10% new, 2 inputs changed
        for edited in sorted((in_dir / "night1").iterdir())[:2]:
            ds = pydicom.dcmread(edited)
            ds.PatientID = f"SNTCHANGED{edited.name[:4]}"
            ds.save_as(edited)
        second = night()
        assert second.returncode == 0 and json.loads(second.stdout.splitlines()[-1])["done"] == 8
        assert_consistent(out, key_file, vault)
        assert len(list(out.rglob("*.dcm"))) == 66

        profile.write_text(REMOVE)  # a profile edit: refused, then forced
        assert night().returncode == 2
        assert night("--force").returncode == 0
        assert_consistent(out, key_file, vault)

        before = tree(out)  # three outputs deleted: made again, byte for byte
        for victim in sorted(out.rglob("*.dcm"))[5:8]:
            victim.unlink()
        assert night().returncode == 0 and tree(out) == before
        assert_consistent(out, key_file, vault)

        vault.rename(tmp_path / "elsewhere.db")  # the vault moved: exit 3, nothing touched
        assert night().returncode == 3 and tree(out) == before
        (tmp_path / "elsewhere.db").rename(vault)

        write_flat_corpus(in_dir / "night3", batch="night3", count=200)  # the disk fills mid-run, then space is freed
        used = sum(p.stat().st_size for p in out.rglob("*"))
        remount(disk, f"size={(used >> 20) + 3}m")
        full = night()
        assert full.returncode == 1 and "storage" in full.stderr
        assert not list(out.rglob("*.part"))
        remount(disk, "size=100m")
        assert night().returncode == 0
        assert_consistent(out, key_file, vault)

        write_flat_corpus(in_dir / "night4", batch="night4", count=150)  # a kill -9 mid-run
        killed = subprocess.Popen(
            [sys.executable, "-m", "anonymizer", "run", in_dir, out, *map(str, common)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while killed.poll() is None and time.monotonic() < deadline:
            if len(list(out.rglob("*.dcm"))) > 300:
                killed.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        killed.wait()
        assert night().returncode == 0
        assert_consistent(out, key_file, vault)

        clean = tmp_path / "clean"  # OUT equals one uninterrupted run over the same inputs
        uninterrupted = process("run", in_dir, clean, "--key-file", key_file, "--profile", profile)
        assert uninterrupted.returncode == 0
        assert tree(out) == tree(clean)
