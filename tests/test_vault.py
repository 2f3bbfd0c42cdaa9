"""The vault: encryption at rest, key check, nightly consistency, rotation, crash safety."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest

from anonymizer.engine.plan import Plan
from anonymizer.errors import KeyFileError, TokenCollisionError, VaultError
from anonymizer.keys.memory import MemoryVault
from anonymizer.keys.secret import Secret, Subkeys, load_key_file
from anonymizer.keys.vault import SqliteVault
from anonymizer.pipeline.runner import run
from anonymizer.pipeline.state import StateStore
from anonymizer.pipeline.worker import WorkerConfig
from anonymizer.profile.loader import load_profile
from anonymizer.profile.template import DEFAULT_LAYOUT
from anonymizer.testing import Sample, write_sample
from tests.conftest import cli, make_key, output_files


def vault_bytes(path: Path) -> bytes:
    return b"".join(Path(str(path) + s).read_bytes() for s in ("", "-wal", "-shm") if Path(str(path) + s).exists())


def original_identifiers(sample: Sample) -> set[str]:
    uids = set()
    for path in sample.files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        uids |= {ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID}
    return sample.sentinels | uids


@pytest.fixture(scope="module")
def vaulted(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("vaulted")
    key, vault = make_key(folder), folder / "state" / "vault.db"
    result = cli("run", sample.files[0].parents[1], folder / "out", "--key-file", key, "--vault", vault)
    assert result.exit_code == 0, result.output
    return folder / "out", key, vault


def test_vault_holds_no_original_and_exports_the_crosswalk(sample: Sample, vaulted, tmp_path: Path) -> None:
    out, key, vault = vaulted
    data = vault_bytes(vault)
    for identifier in original_identifiers(sample):
        assert identifier.encode() not in data, identifier
    result = cli(
        "vault", "export", "--what", "patient-ids", "--out", tmp_path / "ids.csv", "--vault", vault, "--key-file", key
    )
    assert result.exit_code == 0
    rows = list(csv.DictReader((tmp_path / "ids.csv").open()))
    assert {r["id_old"] for r in rows} == set(sample.patients)
    assert {r["id_new"] for r in rows} == {pydicom.dcmread(p).PatientID for p in output_files(out)}
    assert (tmp_path / "ids.csv").stat().st_mode & 0o777 == 0o600
    uids = cli("vault", "export", "--what", "uids", "--out", tmp_path / "uids.csv", "--vault", vault, "--key-file", key)
    assert uids.exit_code == 0
    mapping = {r["id_new"]: r["id_old"] for r in csv.DictReader((tmp_path / "uids.csv").open())}
    for path in output_files(out):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert mapping[ds.SOPInstanceUID] and mapping[ds.StudyInstanceUID]


def test_reveal_stats_and_audit(sample: Sample, vaulted) -> None:
    out, key, vault = vaulted
    pseudonym = pydicom.dcmread(output_files(out)[0]).PatientID
    revealed = cli("vault", "reveal", "PatientID", pseudonym, "--vault", vault, "--key-file", key)
    assert revealed.exit_code == 0 and revealed.output.strip() in sample.patients
    assert cli("vault", "reveal", "PatientID", "SUBJ-NOPE", "--vault", vault, "--key-file", key).exit_code == 1
    stats = cli("vault", "stats", "--vault", vault, "--key-file", key).output
    assert "PatientID\t3" in stats and "UID\t" in stats and "SNT" not in stats
    store = SqliteVault(vault, load_key_file(key), readonly=True)
    commands = [entry[1] for entry in store.audit_log()]
    assert "reveal" in commands and "export patient-ids" in commands
    assert all(entry[3] == store.secret.fingerprint for entry in store.audit_log())


def test_files_are_private(vaulted) -> None:
    _, _, vault = vaulted
    assert vault.stat().st_mode & 0o777 == 0o600
    assert vault.parent.stat().st_mode & 0o777 == 0o700


def test_a_wrong_key_exits_3_writes_nothing_and_leaves_the_vault_as_it_was(
    sample: Sample, vaulted, tmp_path: Path
) -> None:
    _, _, vault = vaulted
    before = vault.read_bytes()
    wrong = make_key(tmp_path, "wrong.key")
    result = CliRunnerSplit.run("run", sample.files[0].parent, tmp_path / "out", "--key-file", wrong, "--vault", vault)
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1 and "does not open the vault" in result.stderr
    assert not (tmp_path / "out").exists()
    assert vault.read_bytes() == before
    assert cli("vault", "stats", "--vault", vault, "--key-file", wrong).exit_code == 3


class CliRunnerSplit:
    """The CLI with stderr apart from stdout (click >= 8.2 keeps them apart)."""

    @staticmethod
    def run(*args: object):
        from click.testing import CliRunner

        from anonymizer.cli import main

        return CliRunner().invoke(main, [str(a) for a in args])


def _halves(sample: Sample, tmp_path: Path) -> tuple[Path, Path]:
    first, second = tmp_path / "night1", tmp_path / "night2"
    for files in sample.patients.values():
        for n, path in enumerate(files):
            target = (first if n % 2 == 0 else second) / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return first, second


def _by_patient(out: Path) -> dict[str, tuple[set[str], set[str], set[str]]]:
    """original-free summary per output patient: (PatientIDs, StudyUIDs, StudyDates)."""
    found: dict[str, tuple[set[str], set[str], set[str]]] = {}
    for path in output_files(out):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        entry = found.setdefault(ds.PatientName.family_name, (set(), set(), set()))
        entry[0].add(ds.PatientID)
        entry[1].add(ds.StudyInstanceUID)
        entry[2].add(ds.StudyDate)
    return found


def test_two_nights_give_the_same_pseudonyms_uids_and_shifts(sample: Sample, tmp_path: Path) -> None:
    first, second = _halves(sample, tmp_path)
    key, vault = make_key(tmp_path), tmp_path / "vault.db"
    for night in (first, second):
        assert cli("run", night, tmp_path / f"out-{night.name}", "--key-file", key, "--vault", vault).exit_code == 0
    one, two = _by_patient(tmp_path / "out-night1"), _by_patient(tmp_path / "out-night2")
    assert one == two and len(one) == 3
    assert all(len(ids) == 1 and len(studies) == 1 and len(dates) == 1 for ids, studies, dates in one.values())
    other = cli("run", first, tmp_path / "out-other", "--key-file", key, "--vault", vault, "--project", "other")
    assert other.exit_code == 0
    three = _by_patient(tmp_path / "out-other")
    assert not {i for ids, _, _ in three.values() for i in ids} & {i for ids, _, _ in one.values() for i in ids}
    assert not {u for _, s, _ in three.values() for u in s} & {u for _, s, _ in one.values() for u in s}


def test_rotation_keeps_outputs_and_retires_the_old_key(sample: Sample, tmp_path: Path) -> None:
    in_dir = sample.files[0].parent
    old, new, vault = make_key(tmp_path, "old.key"), make_key(tmp_path, "new.key"), tmp_path / "vault.db"
    assert cli("run", in_dir, tmp_path / "before", "--key-file", old, "--vault", vault).exit_code == 0
    rotated = cli("vault", "rotate", "--new-key-file", new, "--vault", vault, "--key-file", old)
    assert rotated.exit_code == 0, rotated.output
    pseudonym = pydicom.dcmread(output_files(tmp_path / "before")[0]).PatientID
    assert (
        cli("vault", "reveal", "PatientID", pseudonym, "--vault", vault, "--key-file", new).output.strip() == "SNTPID0"
    )
    assert cli("vault", "reveal", "PatientID", pseudonym, "--vault", vault, "--key-file", old).exit_code == 3
    assert cli("run", in_dir, tmp_path / "after", "--key-file", new, "--vault", vault).exit_code == 0
    before = {p.relative_to(tmp_path / "before"): p.read_bytes() for p in output_files(tmp_path / "before")}
    after = {p.relative_to(tmp_path / "after"): p.read_bytes() for p in output_files(tmp_path / "after")}
    assert before == after


class TinyTokens(Subkeys):
    """Every value gets the same token: a forced collision."""

    def token(self, namespace: str, value: str, length: int = 16) -> str:
        return "A" * length


def test_a_token_collision_fails_the_file_and_never_merges_patients(sample: Sample, tmp_path: Path) -> None:
    secret = Secret(os.urandom(32))
    vault = SqliteVault(tmp_path / "vault.db", secret)
    keys = TinyTokens(vault.secret.subkeys.keys, secret.project, secret.fingerprint)
    config = WorkerConfig(Plan(load_profile("research")), keys, DEFAULT_LAYOUT, tmp_path / "out")
    state = StateStore(None, None, "test")
    summary = run(sample.files[0].parents[1], config, vault, state)
    vault.close()
    per_patient = len(sample.patients["SNTPID0"])
    assert summary.done == per_patient  # the first patient only
    assert summary.failed == {"token-collision": 2 * per_patient}
    assert len(output_files(tmp_path / "out")) == per_patient
    store = SqliteVault(tmp_path / "vault.db", secret, readonly=True)
    assert store.reveal("PatientID", "SUBJ-AAAAAAAAAA") == "SNTPID0"
    with pytest.raises(TokenCollisionError) as err:
        MemoryVault().add([("PatientID", "T", "SNTX"), ("PatientID", "T", "SNTY")])
    assert "SNT" not in str(err.value)


def test_a_crosswalk_mapping_two_patients_to_one_id_is_refused(sample: Sample, tmp_path: Path, key_file: Path) -> None:
    (tmp_path / "ids.csv").write_text("original,pseudonym\nSNTPID0,TRIAL-1\nSNTPID1,TRIAL-1\n")
    (tmp_path / "p.yaml").write_text(
        "name: p\nextends: research\nrules:\n  - {tag: PatientID, action: lookup, with: {file: ids.csv}}\n"
    )
    result = cli(
        "run", sample.files[0].parent, tmp_path / "out", "--profile", tmp_path / "p.yaml", "--key-file", key_file
    )
    assert result.exit_code == 2 and "SNT" not in result.output
    assert not (tmp_path / "out").exists() or not output_files(tmp_path / "out")


def test_crosswalk_pairs_are_imported_whole(sample: Sample, tmp_path: Path, key_file: Path) -> None:
    (tmp_path / "ids.csv").write_text("original,pseudonym\nSNTPID0,TRIAL-1\nNOT-IN-DATA,TRIAL-9\n")
    (tmp_path / "p.yaml").write_text(
        "name: p\nextends: research\nrules:\n  - {tag: PatientID, action: lookup, with: {file: ids.csv}}\n"
    )
    assert (
        cli(
            "run", sample.files[0].parent, tmp_path / "out", "--profile", tmp_path / "p.yaml", "--key-file", key_file
        ).exit_code
        == 0
    )
    assert cli("vault", "reveal", "PatientID", "TRIAL-9", "--key-file", key_file).output.strip() == "NOT-IN-DATA"


def test_killed_between_batches_then_resumed_while_readers_read(tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "in", patients=4, instances=4)
    key, vault = make_key(tmp_path), tmp_path / "vault.db"
    args = [
        sys.executable,
        "-m",
        "anonymizer",
        "run",
        str(tmp_path / "in"),
        str(tmp_path / "out"),
        "--key-file",
        str(key),
        "--vault",
        str(vault),
        "--batch-size",
        "2",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    counts, deadline = [], time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if vault.exists():
            try:
                store = SqliteVault(vault, load_key_file(key), readonly=True)  # a concurrent reader
                counts.append(sum(store.stats().values()))
                store.close()
            except VaultError:
                pass  # created but not initialised yet
        if counts and counts[-1] > 0:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert counts == sorted(counts)
    db = sqlite3.connect(vault)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    partial = SqliteVault(vault, load_key_file(key), readonly=True)
    assert all(original for _, original, _ in partial.export("all"))  # committed batches decrypt
    assert subprocess.run(args, capture_output=True).returncode == 0  # the same command again
    clean_args = [*args[:5], str(tmp_path / "clean"), *args[6:8], "--vault", str(tmp_path / "clean.db")]
    assert subprocess.run(clean_args, capture_output=True).returncode == 0
    resumed = {p.relative_to(tmp_path / "out"): p.read_bytes() for p in output_files(tmp_path / "out")}
    clean = {p.relative_to(tmp_path / "clean"): p.read_bytes() for p in output_files(tmp_path / "clean")}
    assert resumed == clean and len(resumed) == len(sample.files)
    store = SqliteVault(vault, load_key_file(key), readonly=True)
    assert {original for _, original, _ in store.export("patient-ids")} == set(sample.patients)


def test_vault_error_paths_name_no_value(tmp_path: Path, key_file: Path) -> None:
    secret = load_key_file(key_file)
    store = SqliteVault(tmp_path / "v.db", secret)
    store.add([("PatientID", "SUBJ-1", "SNTSECRETVALUE")])
    store.close()
    db = sqlite3.connect(tmp_path / "v.db")
    (sealed,) = db.execute("SELECT ciphertext FROM entries").fetchone()
    db.execute("UPDATE entries SET ciphertext = ?", (bytes([sealed[0] ^ 1]) + sealed[1:],))
    db.commit()
    db.close()
    with pytest.raises(VaultError) as tampered:
        SqliteVault(tmp_path / "v.db", secret, readonly=True).reveal("PatientID", "SUBJ-1")
    (tmp_path / "junk.db").write_bytes(b"SNTSECRETVALUE not a database" * 100)
    with pytest.raises(VaultError) as junk:
        SqliteVault(tmp_path / "junk.db", secret)
    with pytest.raises(KeyFileError) as wrong:
        SqliteVault(tmp_path / "v.db", Secret(os.urandom(32)))
    with pytest.raises(TokenCollisionError) as collision:
        again = SqliteVault(tmp_path / "v.db", secret)
        again.add([("PatientID", "SUBJ-1", "SNTOTHERVALUE")])
    for err in (tampered, junk, wrong, collision):
        assert "SNT" not in str(err.value) and "SUBJ-1" not in str(err.value) and str(tmp_path) not in str(err.value)


def test_vault_inside_out_is_refused(sample: Sample, tmp_path: Path, key_file: Path) -> None:
    result = cli(
        "run", sample.files[0].parent, tmp_path / "out", "--key-file", key_file, "--vault", tmp_path / "out" / "v.db"
    )
    assert result.exit_code == 2


def test_key_from_the_environment_and_never_from_the_command_line(
    sample: Sample, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANONYMIZER_KEY_FILE", str(key_file))
    assert cli("run", sample.files[0].parent, tmp_path / "out").exit_code == 0
    monkeypatch.delenv("ANONYMIZER_KEY_FILE")
    missing = cli("run", sample.files[0].parent, tmp_path / "out2")
    assert missing.exit_code == 3 and "ANONYMIZER_KEY_FILE" in missing.output
