"""No silent loss: re-runs, failures and faults keep IN, OUT, state and vault in agreement.

One test per numbered item of the integrity issue, through the command line.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from anonymizer.engine.plan import Plan
from anonymizer.evidence.manifest import MANIFEST
from anonymizer.profile.loader import load_profile
from anonymizer.testing import write_flat_corpus
from tests.conftest import cli
from tests.integrity import failed_in_state, process, process_rss, read_only, remount, tmpfs, tree


def _summary(result: object) -> dict[str, object]:
    return json.loads(str(getattr(result, "stdout")).splitlines()[-1])  # noqa: B009


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    write_flat_corpus(tmp_path / "in", 8, per_patient=4)
    return tmp_path / "in"


def run(in_dir: Path, out: Path, key: Path, *more: object) -> object:
    common = ("--key-file", key, "--vault", out.parent / "vault.db", "--log-format", "json", "--workers", "1")
    return cli("run", in_dir, out, *common, *more)


# 1 ----------------------------------------------------------------------------------------


def test_1_a_changed_profile_stops_the_rerun_until_force(corpus: Path, tmp_path: Path, key_file: Path) -> None:
    profile, out = tmp_path / "p.yaml", tmp_path / "out"
    profile.write_text("name: p\nextends: research\nrules:\n  - {tag: Manufacturer, action: keep}\n")
    assert run(corpus, out, key_file, "--profile", profile).exit_code == 0
    before = tree(out)
    profile.write_text("name: p\nextends: research\nrules:\n  - {tag: Manufacturer, action: remove}\n")
    again = run(corpus, out, key_file, "--profile", profile)
    assert again.exit_code == 2
    assert again.stderr.count("\n") == 1 and "plan" in again.stderr and "--force" in again.stderr
    assert tree(out) == before  # nothing was read or written
    forced = run(corpus, out, key_file, "--profile", profile, "--force")
    assert forced.exit_code == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["profile"]["plan_sha256"] == Plan(load_profile(profile)).digest
    for entry in manifest["files"]:
        assert "Manufacturer" not in pydicom.dcmread(out / entry["path"])


# 2 ----------------------------------------------------------------------------------------


def test_2_deleted_outputs_are_made_again_and_altered_ones_stop_the_run(
    corpus: Path, tmp_path: Path, key_file: Path
) -> None:
    out = tmp_path / "out"
    assert run(corpus, out, key_file).exit_code == 0
    before = tree(out)
    victims = sorted(p for p in out.rglob("*.dcm"))[:3]
    for victim in victims:
        victim.unlink()
    assert cli("verify", out).exit_code == 1  # the manifest lists files OUT no longer holds
    assert cli("report", out).exit_code == 1
    assert run(corpus, out, key_file).exit_code == 0
    assert tree(out) == before  # made again, byte for byte
    shutil.rmtree(out)
    assert run(corpus, out, key_file).exit_code == 0
    assert tree(out) == before
    altered = sorted(out.rglob("*.dcm"))[0]
    altered.write_bytes(altered.read_bytes() + b"\0\0")
    stopped = run(corpus, out, key_file)
    assert stopped.exit_code == 1 and altered.relative_to(out).as_posix() in stopped.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("verify", empty).exit_code == 1  # nothing verified is not clean


def test_2_check_finds_an_output_altered_behind_the_same_size_and_mtime(
    corpus: Path, tmp_path: Path, key_file: Path
) -> None:
    out = tmp_path / "out"
    assert run(corpus, out, key_file).exit_code == 0
    altered = sorted(out.rglob("*.dcm"))[0]
    stat = altered.stat()
    data = bytearray(altered.read_bytes())
    data[-1] ^= 0xFF  # same size
    altered.write_bytes(bytes(data))
    os.utime(altered, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime
    assert run(corpus, out, key_file).exit_code == 0  # size+mtime: not hashed by default
    stopped = run(corpus, out, key_file, "--check")
    assert stopped.exit_code == 1 and altered.relative_to(out).as_posix() in stopped.stderr


# 3 ----------------------------------------------------------------------------------------


def test_3_a_changed_input_replaces_its_own_output(corpus: Path, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "out"
    assert run(corpus, out, key_file).exit_code == 0
    edited = sorted(corpus.iterdir())[0]
    ds = pydicom.dcmread(edited)
    ds.PatientID = "SNTNEWPATIENT"
    ds.save_as(edited)
    assert run(corpus, out, key_file).exit_code == 0
    files = sorted(out.rglob("*.dcm"))
    uids = [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files]
    assert len(uids) == len(set(uids)) == 8  # one output per instance, the old one removed
    listed = {f["path"] for f in json.loads((out / MANIFEST).read_text())["files"]}
    assert listed == {p.relative_to(out).as_posix() for p in files}


# 4 ----------------------------------------------------------------------------------------


def test_4_one_sop_instance_uid_gives_one_output(corpus: Path, tmp_path: Path, key_file: Path) -> None:
    first = sorted(corpus.iterdir())[0]
    (corpus / "copies").mkdir()
    shutil.copy(first, corpus / "copies" / "same.dcm")  # the same object again
    ds = pydicom.dcmread(first)
    ds.file_meta.SourceApplicationEntityTitle = "OTHERAE"  # file meta differs: still the same object
    ds.save_as(corpus / "copies" / "meta.dcm")
    ds.SeriesDescription = "another object"
    ds.save_as(corpus / "copies" / "other.dcm")  # one SOP Instance UID, another object
    out = tmp_path / "out"
    result = run(corpus, out, key_file)
    summary = _summary(result)
    assert summary["skipped"] == {"duplicate": 2} and summary["failed"] == {"sop-instance-conflict": 1}
    assert result.exit_code == 1 and summary["done"] == 8
    assert len(list(out.rglob("*.dcm"))) == 8
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["run"]["skipped"] == {"duplicate": 2}


# 5 ----------------------------------------------------------------------------------------


def test_5_a_full_disk_stops_the_run_and_the_same_command_completes_it(tmp_path: Path, key_file: Path) -> None:
    write_flat_corpus(tmp_path / "in", 300)  # about 12 MB
    args = ("--key-file", key_file, "--vault", tmp_path / "vault.db", "--state", tmp_path / "state")
    with tmpfs(tmp_path / "small", "3m") as small:
        out = small / "out"
        full = process("run", tmp_path / "in", out, *args, "--log-format", "json")
        assert full.returncode == 1
        assert full.stderr.count("\n") == 1 and "storage" in full.stderr and "Traceback" not in full.stderr
        assert failed_in_state(tmp_path / "state") == 0  # nothing recorded as failed
        assert not list(out.rglob("*.part"))
        remount(small, "size=100m")  # space freed
        assert process("run", tmp_path / "in", out, *args).returncode == 0
        assert process("run", tmp_path / "in", tmp_path / "clean", "--key-file", key_file).returncode == 0
        assert tree(out) == tree(tmp_path / "clean")


def test_5_a_read_only_out_stops_the_run_and_resumes_when_writable(tmp_path: Path, key_file: Path) -> None:
    write_flat_corpus(tmp_path / "in", 20)
    target = tmp_path / "target"
    target.mkdir()
    args = ("--key-file", key_file, "--vault", tmp_path / "vault.db", "--state", tmp_path / "state")
    with read_only(target, tmp_path / "ro") as out:
        stopped = process("run", tmp_path / "in", out, *args)
        assert stopped.returncode == 1 and "storage" in stopped.stderr and "Traceback" not in stopped.stderr
        assert failed_in_state(tmp_path / "state") == 0
        remount(out, "rw,bind")
        assert process("run", tmp_path / "in", out, *args).returncode == 0
        assert len(list(out.rglob("*.dcm"))) == 20


@pytest.mark.parametrize("where", ["state", "vault"])
def test_5_a_full_disk_under_the_state_or_the_vault_is_a_storage_fault(tmp_path: Path, key_file: Path, where) -> None:
    write_flat_corpus(tmp_path / "in", 300)
    with tmpfs(tmp_path / "small", "64k") as small:
        state = small / "state" if where == "state" else tmp_path / "state"
        vault = small / "vault.db" if where == "vault" else tmp_path / "vault.db"
        args = ("--key-file", key_file, "--vault", vault, "--state", state)
        full = process("run", tmp_path / "in", tmp_path / "out", *args, "--log-format", "json")
        assert full.returncode == 1, full.stderr
        assert full.stderr.count("\n") == 1 and '"storage"' in full.stderr and "Traceback" not in full.stderr
        assert f"the {where}'s storage failed" in full.stderr
        remount(small, "size=100m")
        assert process("run", tmp_path / "in", tmp_path / "out", *args).returncode == 0
        assert len(list((tmp_path / "out").rglob("*.dcm"))) == 300


# 6 ----------------------------------------------------------------------------------------


def test_6_the_vault_is_part_of_the_dataset(corpus: Path, tmp_path: Path, key_file: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    first = cli("run", corpus, out, "--key-file", key_file, "--log-format", "json")
    assert first.exit_code == 0 and '"event": "vault-created"' in first.stdout
    monkeypatch.chdir(tmp_path / "in")  # (b) the default vault does not depend on the working directory
    again = cli("run", corpus, out, "--key-file", key_file, "--log-format", "json")
    assert again.exit_code == 0 and _summary(again)["skipped"] == {"done-before": 8}
    vaults = list((tmp_path / "data-home").rglob("vault.db"))
    assert len(vaults) == 1
    vaults[0].rename(tmp_path / "moved.db")  # (a) a missing vault is never recreated silently
    missing = cli("run", corpus, out, "--key-file", key_file)
    assert missing.exit_code == 3 and "missing" in missing.stderr and not vaults[0].exists()
    other = tmp_path / "other.db"  # (a) nor replaced by another one
    assert cli("vault", "stats", "--key-file", key_file, "--vault", other).exit_code == 3
    assert not other.exists()  # (c) reading commands never create a vault
    assert cli("vault", "reveal", "PatientID", "X", "--key-file", key_file, "--vault", other).exit_code == 3
    assert cli("vault", "export", "--out", tmp_path / "x.csv", "--key-file", key_file, "--vault", other).exit_code == 3
    assert not other.exists()
    assert cli("run", corpus, tmp_path / "new-out", "--key-file", key_file, "--vault", other).exit_code == 0
    wrong = cli("run", corpus, out, "--key-file", key_file, "--vault", other)
    assert wrong.exit_code == 3 and "not the one" in wrong.stderr
    data = bytearray((tmp_path / "moved.db").read_bytes())  # (d) a damaged vault: exit 3, one line
    data[4096:] = os.urandom(len(data) - 4096)  # random bytes in every page but the header's
    vaults[0].write_bytes(bytes(data))
    damaged = cli("run", corpus, out, "--key-file", key_file)
    assert damaged.exit_code == 3 and damaged.stderr.count("\n") == 1


# 7 ----------------------------------------------------------------------------------------

PANIC_OFFSET, PANIC_BYTE = 109, 164  # one byte in MR_small_RLE's fragments that makes the RLE decoder panic


def _panicking_rle() -> bytes:
    raw = bytearray(Path(get_testdata_file("MR_small_RLE.dcm")).read_bytes())
    start = pydicom.dcmread(io.BytesIO(bytes(raw)))._dict[0x7FE00010].value_tell
    raw[start + PANIC_OFFSET] = PANIC_BYTE
    return bytes(raw)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_7_a_decoder_panic_fails_only_its_file(tmp_path: Path, key_file: Path, workers: str) -> None:
    in_dir = tmp_path / "in"
    write_flat_corpus(in_dir, 6)
    (in_dir / "panics.dcm").write_bytes(_panicking_rle())
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "name: p\nextends: research\npixels:\n  rules:\n"
        "    - {name: corner, when: {Modality: MR}, redact: [[0, 0, 4, 4]]}\n"
    )
    result = run(in_dir, tmp_path / "out", key_file, "--profile", profile, "--workers", workers)
    summary = _summary(result)
    assert result.exit_code == 1 and summary["done"] == 6 and summary["failed"] == {"pixel-decode": 1}


# 8 ----------------------------------------------------------------------------------------


def test_8_file_names_that_are_not_utf8(corpus: Path, tmp_path: Path, key_file: Path) -> None:
    first = sorted(corpus.iterdir())[0]
    os.rename(first, os.path.join(os.fsencode(corpus), b"\xff\xfe-latin1-\xe9.dcm"))
    assert run(corpus, tmp_path / "out", key_file).exit_code == 0
    again = run(corpus, tmp_path / "out", key_file)
    assert again.exit_code == 0 and _summary(again)["skipped"] == {"done-before": 8}


# 9 ----------------------------------------------------------------------------------------


def test_9_huge_and_slow_inputs_fail_alone_without_allocating(tmp_path: Path, key_file: Path) -> None:
    in_dir = tmp_path / "in"
    write_flat_corpus(in_dir, 3)
    raw = bytearray(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    start = pydicom.dcmread(io.BytesIO(bytes(raw)))._dict[0x7FE00010].value_tell
    raw[start - 4 : start] = (2_000_000_000).to_bytes(4, "little")  # PixelData declares 2 GB
    with (in_dir / "declares-2gb.dcm").open("wb") as fh:
        fh.write(raw)
        fh.truncate(300 << 20)  # larger than what is read into memory: parsed from the file
    with (in_dir / "sparse.dcm").open("wb") as fh:
        fh.write(bytes(128) + b"DICM" + raw[132 : start - 12])  # a header, then 2 GB of zero bytes
        fh.truncate(2 << 30)
    done, peak = process_rss("run", in_dir, tmp_path / "out", "--key-file", key_file, "--log-format", "json")
    summary = json.loads(done.stdout.splitlines()[-1])
    assert done.returncode == 1 and summary["done"] == 3
    assert sum(summary["failed"].values()) == 2 and set(summary["failed"]) <= {"truncated", "malformed"}
    assert peak < 400 * 1024  # KiB: nothing allocated for 2 GB
    small = process(
        "run", in_dir, tmp_path / "o2", "--key-file", key_file, "--max-file-size", "1000", "--log-format", "json"
    )
    assert json.loads(small.stdout.splitlines()[-1])["failed"] == {"too-large": 5}
    slow = process(
        "run", in_dir, tmp_path / "o3", "--key-file", key_file, "--file-timeout", "0.001", "--log-format", "json"
    )
    assert slow.returncode == 1 and "timeout" in json.loads(slow.stdout.splitlines()[-1])["failed"]


# 10 ---------------------------------------------------------------------------------------


def test_10_entries_the_walk_cannot_read_are_counted(tmp_path: Path, key_file: Path) -> None:
    in_dir, out = tmp_path / "in", tmp_path / "out"
    write_flat_corpus(in_dir, 4)
    write_flat_corpus(in_dir / "locked", 2)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(in_dir / "gone.dcm", in_dir / "dangling.dcm")
    os.symlink(in_dir / "loop.dcm", in_dir / "loop.dcm")
    out.mkdir()
    (out / "planted.dcm").write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    os.symlink(out / "planted.dcm", in_dir / "into-out.dcm")
    os.symlink(tmp_path / "elsewhere", in_dir / "folder-link")
    os.chmod(in_dir / "locked", 0)
    try:
        args = ("run", in_dir, out, "--key-file", key_file, "--vault", tmp_path / "v.db", "--log-format", "json")
        done = process(*args, permissions=True)
    finally:
        os.chmod(in_dir / "locked", 0o700)
    summary = json.loads(done.stdout.splitlines()[-1])
    assert done.returncode == 1, done.stderr
    assert summary["failed"] == {"unreadable": 1, "broken-link": 1, "loop": 1, "output-link": 1}
    assert summary["skipped"] == {"folder-link": 1} and summary["done"] == 4
    assert not (out / "planted.dcm").read_bytes().startswith(b"x")  # untouched, and never an input


# 11 ---------------------------------------------------------------------------------------


def test_11_names_the_tool_writes_in_out_are_reserved(corpus: Path, tmp_path: Path, key_file: Path) -> None:
    layout = "anonymizer-manifest.json/{PatientID}/{SOPInstanceUID}.dcm"
    for _ in range(2):
        assert run(corpus, tmp_path / "out", key_file, "--layout", layout).exit_code == 0
    assert (tmp_path / "out" / MANIFEST).is_file()


# 12 ---------------------------------------------------------------------------------------


def test_12_ordinals_are_positions_in_find_xtype_f_sorted(tmp_path: Path, key_file: Path) -> None:
    in_dir = tmp_path / "in"
    for name in ("a/z", "a-b/y", "a.c", "a0", "A", "b/c/d", "a-b/x/w", "a/a/a"):
        (in_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (in_dir / name).write_text("not DICOM")
    bad = in_dir / "a-b" / "y"
    bad.write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes()[:2000])  # fails: truncated
    listed = subprocess.run(
        "find . -xtype f | LC_ALL=C sort", shell=True, cwd=in_dir, capture_output=True, text=True
    ).stdout.split()
    result = run(in_dir, tmp_path / "out", key_file)
    failed = [json.loads(line) for line in result.stdout.splitlines() if '"failed"' in line and '"file"' in line]
    assert [f["ordinal"] for f in failed] == [listed.index("./a-b/y") + 1]
