"""The secured lookup table: reversible tokens with their originals encrypted.

A record is ``(namespace, token, original)``; ``token`` is the value as it appears in
the output (``SUBJ-7Q2M...``, a remapped UID). :class:`SqliteVault` is the real store,
:class:`MemoryVault` an in-memory one for tests and dry runs. This is the only module
that imports ``cryptography``.

SQLite layout (WAL, file mode 0600)::

    meta(name PRIMARY KEY, value)            key check: AES-GCM of a constant
    keyring(project PRIMARY KEY, nonce, wrapped)
                                             the project's derivation subkeys (token,
                                             uid, date), AES-GCM under the key's vault
                                             subkey: a rotated key unwraps the same ones
    entries(project, namespace, token, nonce, ciphertext, mac, created, run_id,
            PRIMARY KEY(project, namespace, token))
                                             AES-256-GCM(original), associated data
                                             project/namespace/token; mac = keyed HMAC
                                             of the original (collision check without
                                             decrypting)
    audit(at, command, count, fingerprint)   every re-identification and export

A token seen again with a different original is a collision: the file that brings it
fails instead of two values silently sharing one pseudonym.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anonymizer.errors import AnonymizerError, KeyFileError
from anonymizer.keys.secret import Secret

Record = tuple[str, str, str]
SCHEMA_VERSION = "1"
_CHECK = b"anonymizer-dicom vault key check v1"
EXPORTS = {"patient-ids": ("PatientID",), "uids": ("UID",), "all": None}
CACHE_KIB = 512  # SQLite page cache per connection (the default, 2 MiB, grows RSS with the vault)


class VaultError(AnonymizerError):
    """The vault cannot be used (message: what and why, never a value or a token)."""

    code = "vault"


class TokenCollisionError(AnonymizerError):
    """One token stands for two different originals in one namespace."""

    code = "token-collision"


class Vault(Protocol):
    """Stores reversible tokens. ``add`` checks and stages; ``commit`` makes durable."""

    def add(self, records: Iterable[Record]) -> None: ...

    def commit(self) -> None: ...

    def reveal(self, namespace: str, token: str) -> str | None: ...


class MemoryVault:
    """An in-memory :class:`Vault` (nothing is persisted)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], str] = {}

    def add(self, records: Iterable[Record]) -> None:
        """Record every ``(namespace, token, original)``; all or nothing on a collision."""
        staged: dict[tuple[str, str], str] = {}
        for namespace, token, original in records:
            key = (namespace, token)
            known = staged.get(key, self._entries.get(key))
            if known is not None and known != original:
                raise TokenCollisionError(f"token collision in namespace {namespace}")
            staged[key] = original
        self._entries.update(staged)

    def commit(self) -> None:
        """Nothing to do in memory."""

    def reveal(self, namespace: str, token: str) -> str | None:
        """The original behind ``token``, or None."""
        return self._entries.get((namespace, token))

    def __len__(self) -> int:
        return len(self._entries)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _aad(project: str, namespace: str, token: str) -> bytes:
    return "\x00".join((project, namespace, token)).encode("utf-8")


def _seal(aead: AESGCM, plain: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """``(nonce, ciphertext)`` with a fresh random 96-bit nonce."""
    nonce = os.urandom(12)
    return nonce, aead.encrypt(nonce, plain, aad)


class SqliteVault:
    """The vault in one SQLite file.

    Opening checks the key (a wrong key raises :class:`KeyFileError` before anything is
    written) and loads or creates the project's keyring; :attr:`secret` is then the
    secret every run must use.

    Parameters
    ----------
    path : Path
        The database file; created (mode 0600, folder 0700) unless ``readonly``.
    secret : Secret
        Made from the key file and the project label.
    run_id : str
        Stamped on every entry this instance writes.
    readonly : bool
        Open an existing vault without writing (dry runs, reveal, export, stats).
    """

    def __init__(self, path: Path, secret: Secret, run_id: str = "", readonly: bool = False):
        self.path, self.run_id, self.readonly = path, run_id, readonly
        self._key = secret
        self._staged: dict[tuple[str, str], tuple[bytes, str]] = {}  # bounded by commit()
        self._db = self._connect()
        self.secret = self._open_keyring(secret)

    # --- opening ----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            if not self.path.is_file():
                raise VaultError("no vault at the given path")
            uri = self.path.resolve().as_uri() + "?mode=ro"
            return sqlite3.connect(uri, uri=True, isolation_level=None)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")  # memory stays flat as the vault grows
            db.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS keyring(
                    project TEXT PRIMARY KEY, nonce BLOB NOT NULL, wrapped BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS entries(
                    project TEXT NOT NULL, namespace TEXT NOT NULL, token TEXT NOT NULL,
                    nonce BLOB NOT NULL, ciphertext BLOB NOT NULL, mac BLOB NOT NULL,
                    created TEXT NOT NULL, run_id TEXT NOT NULL,
                    PRIMARY KEY(project, namespace, token)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS audit(
                    at TEXT NOT NULL, command TEXT NOT NULL, count INTEGER NOT NULL,
                    fingerprint TEXT NOT NULL);
                """
            )
        except sqlite3.DatabaseError:
            raise VaultError("the vault file is not a usable SQLite database") from None
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                side.chmod(0o600)
        return db

    def _aead(self, secret: Secret) -> AESGCM:
        return AESGCM(secret.subkey("vault"))

    def _open_keyring(self, secret: Secret) -> Secret:
        try:
            check = self._db.execute("SELECT value FROM meta WHERE name = 'check'").fetchone()
        except sqlite3.DatabaseError:
            raise VaultError("the vault file is not a usable SQLite database") from None
        aead = self._aead(secret)
        if check is None:
            if self.readonly:
                raise VaultError("the vault is empty")
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO meta VALUES ('check', ?)", (b"".join(_seal(aead, _CHECK, b"check")),))
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            self._db.execute("COMMIT")
        else:
            blob = bytes(check[0])
            try:
                aead.decrypt(blob[:12], blob[12:], b"check")
            except InvalidTag:
                raise KeyFileError("this key does not open the vault (wrong key or project vault)") from None
        row = self._db.execute("SELECT nonce, wrapped FROM keyring WHERE project = ?", (secret.project,)).fetchone()
        if row is not None:
            plain = aead.decrypt(bytes(row[0]), bytes(row[1]), b"keyring:" + secret.project.encode())
            derived = {k: bytes.fromhex(v) for k, v in json.loads(plain).items()}
            return Secret(secret.key, secret.project, derived)
        if not self.readonly:
            plain = json.dumps({k: v.hex() for k, v in secret.derivation_subkeys().items()}).encode()
            nonce, wrapped = _seal(aead, plain, b"keyring:" + secret.project.encode())
            self._db.execute("INSERT INTO keyring VALUES (?, ?, ?)", (secret.project, nonce, wrapped))
        return secret

    # --- writing ----------------------------------------------------------------------

    def _mac(self, namespace: str, original: str) -> bytes:
        return self.secret.digest("mac", f"{self.secret.project}\x00{namespace}", original.encode("utf-8"))[:16]

    def add(self, records: Iterable[Record]) -> None:
        """Check ``records`` for collisions and stage them; all or nothing.

        Raises
        ------
        TokenCollisionError
            A token already stands for another original (in the vault or staged).
        """
        batch: dict[tuple[str, str], tuple[bytes, str]] = {}
        for namespace, token, original in records:
            key = (namespace, token)
            mac = self._mac(namespace, original)
            known = batch.get(key) or self._staged.get(key)
            known_mac = known[0] if known else self._stored_mac(namespace, token)
            if known_mac is not None and not hmac.compare_digest(known_mac, mac):
                raise TokenCollisionError(f"token collision in namespace {namespace}")
            if known_mac is None:
                batch[key] = (mac, original)
        self._staged.update(batch)

    def _stored_mac(self, namespace: str, token: str) -> bytes | None:
        row = self._db.execute(
            "SELECT mac FROM entries WHERE project = ? AND namespace = ? AND token = ?",
            (self.secret.project, namespace, token),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def commit(self) -> None:
        """Write every staged record in one transaction (idempotent)."""
        if not self._staged:
            return
        aead, project, created = self._aead(self._key), self.secret.project, _now()
        rows = []
        for (namespace, token), (mac, original) in self._staged.items():
            nonce, sealed = _seal(aead, original.encode("utf-8"), _aad(project, namespace, token))
            rows.append((project, namespace, token, nonce, sealed, mac, created, self.run_id))
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany("INSERT OR IGNORE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._db.execute("COMMIT")
        self._staged.clear()

    # --- reading (audited) --------------------------------------------------------------

    def _audit(self, command: str, count: int) -> None:
        if not self.readonly:
            self._db.execute("INSERT INTO audit VALUES (?, ?, ?, ?)", (_now(), command, count, self._key.fingerprint))

    def _open(self, namespace: str, token: str, nonce: bytes, sealed: bytes) -> str:
        try:
            plain = self._aead(self._key).decrypt(nonce, sealed, _aad(self.secret.project, namespace, token))
        except InvalidTag:
            raise VaultError("an entry failed authentication (tampered or foreign)") from None
        return plain.decode("utf-8")

    def reveal(self, namespace: str, token: str) -> str | None:
        """The original behind ``token`` in ``namespace``, or None; the use is audited."""
        row = self._db.execute(
            "SELECT nonce, ciphertext FROM entries WHERE project = ? AND namespace = ? AND token = ?",
            (self.secret.project, namespace, token),
        ).fetchone()
        self._audit("reveal", 0 if row is None else 1)
        return None if row is None else self._open(namespace, token, bytes(row[0]), bytes(row[1]))

    def export(self, what: str) -> Iterator[tuple[str, str, str]]:
        """``(namespace, original, token)`` for ``patient-ids``, ``uids`` or ``all``."""
        namespaces = EXPORTS[what]
        rows = self._db.execute(
            "SELECT namespace, token, nonce, ciphertext FROM entries WHERE project = ? ORDER BY namespace, token",
            (self.secret.project,),
        ).fetchall()
        chosen = [r for r in rows if namespaces is None or r[0] in namespaces]
        self._audit(f"export {what}", len(chosen))
        for namespace, token, nonce, sealed in chosen:
            yield namespace, self._open(namespace, token, bytes(nonce), bytes(sealed)), token

    def stats(self) -> dict[str, int]:
        """Entries per namespace for this project (no values)."""
        rows = self._db.execute(
            "SELECT namespace, COUNT(*) FROM entries WHERE project = ? GROUP BY namespace ORDER BY namespace",
            (self.secret.project,),
        )
        return {str(n): int(c) for n, c in rows}

    def audit_log(self) -> list[tuple[str, str, int, str]]:
        """Every audited use: (time, command, count, key fingerprint)."""
        return [tuple(r) for r in self._db.execute("SELECT at, command, count, fingerprint FROM audit")]

    def rotate(self, new: Secret) -> int:
        """Re-encrypt every entry, keyring and the key check under ``new``; return entries.

        Pseudonyms, UIDs and date shifts do not change: the keyrings keep the original
        derivation subkeys, now wrapped under the new key. Afterwards the old key no
        longer opens the vault.
        """
        old_aead, new_aead = self._aead(self._key), self._aead(new)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            count = 0
            for project, namespace, token, nonce, sealed in self._db.execute(
                "SELECT project, namespace, token, nonce, ciphertext FROM entries"
            ).fetchall():
                aad = _aad(project, namespace, token)
                plain = old_aead.decrypt(bytes(nonce), bytes(sealed), aad)
                self._db.execute(
                    "UPDATE entries SET nonce = ?, ciphertext = ? WHERE project = ? AND namespace = ? AND token = ?",
                    (*_seal(new_aead, plain, aad), project, namespace, token),
                )
                count += 1
            for project, nonce, wrapped in self._db.execute("SELECT project, nonce, wrapped FROM keyring").fetchall():
                aad = b"keyring:" + str(project).encode()
                plain = old_aead.decrypt(bytes(nonce), bytes(wrapped), aad)
                self._db.execute(
                    "UPDATE keyring SET nonce = ?, wrapped = ? WHERE project = ?",
                    (*_seal(new_aead, plain, aad), project),
                )
            check = b"".join(_seal(new_aead, _CHECK, b"check"))
            self._db.execute("UPDATE meta SET value = ? WHERE name = 'check'", (check,))
            self._db.execute("INSERT INTO audit VALUES (?, ?, ?, ?)", (_now(), "rotate", count, new.fingerprint))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._key = new
        return count

    def close(self) -> None:
        """Commit what is staged and close the database."""
        if not self.readonly:
            self.commit()
        self._db.close()
