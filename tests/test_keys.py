"""Keys and vault internals: pinned derivation, worker keys, concurrency, rotation, schema versions."""

from __future__ import annotations

import pickle
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from anonymizer.engine.plan import Plan
from anonymizer.errors import StateError, TokenCollisionError, VaultError
from anonymizer.keys.secret import Secret
from anonymizer.keys.vault import SqliteVault
from anonymizer.pipeline.state import StateStore
from anonymizer.pipeline.worker import WorkerConfig
from anonymizer.profile.loader import load_profile
from anonymizer.profile.template import DEFAULT_LAYOUT
from tests.conftest import cli

KEY = bytes(range(32))


def test_subkeys_are_pinned_so_outputs_never_change() -> None:
    """HKDF moved from a hand-written hmac loop to cryptography's; these values are from before."""
    plain, project = Secret(KEY), Secret(KEY, "trial-42")
    assert plain.subkey("token").hex().startswith("4b184c902650e896")
    assert plain.subkey("uid").hex().startswith("686db55458e91203")
    assert plain.subkey("date").hex().startswith("1443de3c04e87fa3")
    assert plain.subkey("vault").hex().startswith("89f0cde9265f2092")
    assert plain.subkey("mac").hex().startswith("ecbc7d61ee489d8b")
    assert project.subkey("token").hex().startswith("cacde69d19142cc9")
    assert project.subkey("vault") == plain.subkey("vault")  # the vault key belongs to the key alone
    assert plain.fingerprint == project.fingerprint == "f918c8e5489d4b05"
    assert plain.token("PatientID", "X123") == "BBYSX5QDYH26BTFE"
    assert project.token("PatientID", "X123") == "M27W3S2YEWLHBY5Y"
    assert plain.uid("1.2.3") == "2.25.323126521214269611203058477163292147607"
    assert plain.day_offset("SUBJ", -3650, -365) == -621


def test_the_worker_configuration_carries_no_key_and_no_vault_subkey() -> None:
    """What reaches a pool or Dask worker (pickled) holds the token, UID and date subkeys only."""
    secret = Secret(KEY, "p")
    config = WorkerConfig(Plan(load_profile("research")), secret.subkeys, DEFAULT_LAYOUT, Path("/out"))
    data = pickle.dumps(config)
    for secret_bytes in (KEY, secret.subkey("vault"), secret.subkey("mac"), secret.subkey("fingerprint")):
        assert secret_bytes not in data
    assert secret.subkey("token") in data  # what a worker needs does travel
    assert pickle.loads(data).keys.token("PatientID", "A") == secret.token("PatientID", "A")


def test_two_vault_users_cannot_give_one_token_two_originals(tmp_path: Path) -> None:
    """The collision check runs inside the write transaction: a second writer sees the first."""
    path = tmp_path / "vault.db"
    SqliteVault(path, Secret(KEY)).close()
    holding = threading.Event()

    def first_run() -> None:  # a connection lives in its thread
        first = SqliteVault(path, Secret(KEY))
        first.add([("PatientID", "SUBJ-T", "SNTFIRST")])  # holds the write transaction
        holding.set()
        time.sleep(0.5)
        first.close()

    thread = threading.Thread(target=first_run)
    thread.start()
    holding.wait()
    second = SqliteVault(path, Secret(KEY))
    with pytest.raises(TokenCollisionError):
        second.add([("PatientID", "SUBJ-T", "SNTSECOND")])  # waits for the first, then sees its entry
    thread.join()
    second.add([("PatientID", "SUBJ-T", "SNTFIRST")])  # the same pair again is fine
    second.close()
    with SqliteVault(path, Secret(KEY), readonly=True) as store:
        assert store.reveal("PatientID", "SUBJ-T") == "SNTFIRST"


def test_a_run_holding_the_old_key_cannot_write_after_a_rotation(tmp_path: Path) -> None:
    path, old, new = tmp_path / "vault.db", Secret(KEY), Secret(bytes(32))
    running = SqliteVault(path, old)
    running.add([("UID", "2.25.1", "1.2.3")])
    running.commit()
    with SqliteVault(path, old) as rotating:
        assert rotating.rotate(new) == 1
    with pytest.raises(VaultError, match="re-keyed"):
        running.add([("UID", "2.25.2", "1.2.4")])
    running.close()
    with SqliteVault(path, new, readonly=True) as store:
        assert store.stats() == {"UID": 1}


def test_schema_versions_are_migrated_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    old = tmp_path / "old.db"  # a vault as the first release wrote it: no migrations, no identity
    db = sqlite3.connect(old)
    db.executescript(
        "CREATE TABLE meta(name TEXT PRIMARY KEY, value BLOB NOT NULL);"
        "CREATE TABLE keyring(project TEXT PRIMARY KEY, nonce BLOB NOT NULL, wrapped BLOB NOT NULL);"
        "CREATE TABLE entries(project TEXT NOT NULL, namespace TEXT NOT NULL, token TEXT NOT NULL,"
        " nonce BLOB NOT NULL, ciphertext BLOB NOT NULL, mac BLOB NOT NULL, created TEXT NOT NULL,"
        " run_id TEXT NOT NULL, PRIMARY KEY(project, namespace, token)) WITHOUT ROWID;"
        "CREATE TABLE audit(at TEXT NOT NULL, command TEXT NOT NULL, count INTEGER NOT NULL,"
        " fingerprint TEXT NOT NULL);"
    )
    db.close()
    with SqliteVault(old, Secret(KEY)) as vault:
        assert len(vault.identity) == 32
    db = sqlite3.connect(old)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()[0] == "1"
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(VaultError, match="newer version"):
        SqliteVault(old, Secret(KEY))
    state = tmp_path / "state"
    StateStore(state, None, "r1").close()
    db = sqlite3.connect(state / "state.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 5
    db.execute("PRAGMA user_version = 7")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer version"):
        StateStore(state, None, "r2")


def test_a_damaged_vault_is_one_line_and_exit_3(tmp_path: Path, key_file: Path) -> None:
    vault = tmp_path / "vault.db"
    with SqliteVault(vault, Secret(KEY)) as store:
        store.add([("UID", f"2.25.{n}", f"1.2.{n}") for n in range(2000)])
    data = bytearray(vault.read_bytes())
    data[4096 * 2 : 4096 * 2 + 512] = bytes(range(256)) * 2  # random bytes in a b-tree page
    vault.write_bytes(bytes(data))
    for wal in (tmp_path / "vault.db-wal", tmp_path / "vault.db-shm"):
        wal.unlink(missing_ok=True)
    result = cli("vault", "stats", "--vault", vault, "--key-file", key_file)
    assert result.exit_code == 3, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
