"""The secured lookup table: reversible tokens with their originals encrypted.

A record is ``(namespace, token, original)``; ``token`` is the value as it appears in
the output (``SUBJ-7Q2M...``, a remapped UID). :class:`SqliteVault` is the real store,
:class:`~anonymizer.keys.memory.MemoryVault` an in-memory one for tests and dry runs. With ``secret.py``, the
only module that imports ``cryptography``.

SQLite layout (WAL, file mode 0600; schema version in ``PRAGMA user_version`` and in
the ``schema`` row of ``meta``, migrations in :data:`MIGRATIONS`)::

    meta(name PRIMARY KEY, value)            key check: AES-GCM of a constant; schema
    keyring(project PRIMARY KEY, nonce, wrapped)
                                             the project's derivation subkeys (token,
                                             uid, date, mac), AES-GCM under the key's
                                             vault subkey: a rotated key unwraps the same ones
    entries(project, namespace, token, nonce, ciphertext, mac, created, run_id,
            PRIMARY KEY(project, namespace, token))
                                             AES-256-GCM(original), associated data
                                             project/namespace/token; mac = keyed HMAC
                                             of the original (collision check without
                                             decrypting)
    audit(at, command, count, fingerprint)   every re-identification and export

A token seen again with a different original is a collision: the file that brings it
fails instead of two values silently sharing one pseudonym. The check runs inside the
write transaction that inserts the record, so two runs sharing a vault cannot give one
token two originals either.
"""

from __future__ import annotations

import hmac
import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anonymizer.errors import KeyFileError, TokenCollisionError, VaultError
from anonymizer.keys.reading import AuditedReading
from anonymizer.keys.schema import MIGRATIONS
from anonymizer.keys.secret import Secret
from anonymizer.keys.store import Record, associated_data, guarded, seal, utc_now

_CHECK = b"anonymizer-dicom vault key check v1"
CACHE_KIB = 512  # SQLite page cache per connection (the default, 2 MiB, grows RSS with the vault)
SETTLED_MEMORY = 65536  # records remembered as settled (bounded: memory stays flat)


class SqliteVault(AuditedReading):
    """The vault in one SQLite file; a context manager that commits and closes.

    Opening checks the file's integrity (``PRAGMA quick_check``) and schema version,
    checks the key (a wrong key raises :class:`KeyFileError` before anything is written)
    and loads or creates the project's keyring; :attr:`secret` is then the secret every
    run must use. The vault's random :attr:`identity` names it in manifests and state.

    Parameters
    ----------
    path : str or os.PathLike
        The database file; created (mode 0600, folder 0700) unless ``readonly``.
    secret : Secret
        Made from the key file and the project label.
    run_id : str
        Stamped on every entry this instance writes.
    readonly : bool
        Open an existing vault without writing (dry runs, stats).
    create : bool
        Create the vault when it does not exist (runs); False for commands that only read.

    Raises
    ------
    VaultError
        No vault (read-only), a damaged file, or a schema newer than this tool.
    KeyFileError
        The key does not open the vault.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        secret: Secret,
        run_id: str = "",
        readonly: bool = False,
        create: bool = True,
    ):
        self.path, self.run_id, self.readonly = Path(path), run_id, readonly
        if (readonly or not create) and not self.path.is_file():
            raise VaultError(f"no vault at {self.path}")
        self._key = secret
        self._writing = False
        # records this instance checked or wrote (any other writer sees them and must agree)
        self._settled: dict[Record, None] = {}
        with guarded():
            self._db = self._connect()
            try:
                self.secret = self._open_keyring(secret)
            except BaseException:
                self._db.close()
                raise

    # --- opening ----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            uri = self.path.resolve().as_uri() + "?mode=ro"
            db = sqlite3.connect(uri, uri=True, isolation_level=None)
        else:
            for missing in reversed([f for f in self.path.parents if not f.exists()]):
                missing.mkdir(mode=0o700, exist_ok=True)  # every folder made here is private
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")  # memory stays flat as the vault grows
        if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            db.close()
            raise VaultError("the vault file failed its integrity check (PRAGMA quick_check)")
        if MIGRATIONS.newer(db):
            db.close()
            raise VaultError("the vault was written by a newer version of anonymizer-dicom")
        if not self.readonly:
            MIGRATIONS.apply(db)
            for suffix in ("-wal", "-shm"):
                side = Path(str(self.path) + suffix)
                if side.exists():
                    side.chmod(0o600)
        return db

    def _aead(self, secret: Secret) -> AESGCM:
        return AESGCM(secret.subkey("vault"))

    def _meta(self, name: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0]) if isinstance(row[0], bytes) else str(row[0]).encode()

    def _open_keyring(self, secret: Secret) -> Secret:
        check = self._meta("check")
        aead = self._aead(secret)
        if check is None:
            if self.readonly:
                raise VaultError("the vault is empty")
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO meta VALUES ('check', ?)", (b"".join(seal(aead, _CHECK, b"check")),))
            self._db.execute("INSERT INTO meta VALUES ('identity', ?)", (os.urandom(16).hex(),))
            self._db.execute("COMMIT")
            check = self._meta("check")
            assert check is not None
        try:
            aead.decrypt(check[:12], check[12:], b"check")
        except InvalidTag:
            raise KeyFileError("this key does not open the vault (wrong key or project vault)") from None
        self._check = check
        if not self.readonly:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(MIGRATIONS.latest),))
            if self._meta("identity") is None:  # a vault made before identities existed
                self._db.execute("INSERT INTO meta VALUES ('identity', ?)", (os.urandom(16).hex(),))
        schema = self._meta("schema")
        if schema is not None and int(schema.decode() or 0) > MIGRATIONS.latest:
            raise VaultError("the vault was written by a newer version of anonymizer-dicom")
        row = self._db.execute("SELECT nonce, wrapped FROM keyring WHERE project = ?", (secret.project,)).fetchone()
        if row is not None:
            plain = aead.decrypt(bytes(row[0]), bytes(row[1]), b"keyring:" + secret.project.encode())
            derived = {k: bytes.fromhex(v) for k, v in json.loads(plain).items()}
            return Secret(secret.key, secret.project, derived)
        if not self.readonly:
            plain = json.dumps({k: v.hex() for k, v in secret.derivation_subkeys().items()}).encode()
            nonce, wrapped = seal(aead, plain, b"keyring:" + secret.project.encode())
            self._db.execute("INSERT INTO keyring VALUES (?, ?, ?)", (secret.project, nonce, wrapped))
        return secret

    @property
    def identity(self) -> str:
        """The vault's random identity (hex), recorded in manifests and states; "" for an old read-only vault."""
        with guarded():
            value = self._meta("identity")
        return "" if value is None else value.decode()

    # --- writing ----------------------------------------------------------------------

    def _mac(self, namespace: str, original: str) -> bytes:
        return self.secret.digest("mac", f"{self.secret.project}\x00{namespace}", original.encode("utf-8"))[:16]

    def _begin(self) -> None:
        """Open the write transaction a batch's records go into; refuse a vault re-keyed meanwhile."""
        if self._writing:
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._writing = True
        if self._meta("check") != self._check:
            self._db.execute("ROLLBACK")
            self._writing = False
            raise VaultError("the vault was re-keyed while this run was using it; run again with the new key")

    def add(self, records: Iterable[Record]) -> None:
        """Check ``records`` for collisions and write them into the open transaction; all or nothing.

        Parameters
        ----------
        records : iterable of (str, str, str)
            ``(namespace, token, original)`` triples; the originals are stored encrypted.

        Raises
        ------
        TokenCollisionError
            A token already stands for another original (committed, by any run, or in
            this batch).
        VaultError
            The vault cannot be written (open read-only, damaged, re-keyed meanwhile).
        StorageError
            The vault's storage failed (full, read-only, I/O error).
        """
        if self.readonly:
            raise VaultError("the vault is open read-only")
        records = [r for r in records if r not in self._settled]  # study and series UIDs repeat per file
        if not records:
            return
        aead, project, created = self._aead(self._key), self.secret.project, utc_now()
        with guarded():
            self._begin()
            self._db.execute("SAVEPOINT file")
            try:
                for namespace, token, original in records:
                    mac = self._mac(namespace, original)
                    row = self._db.execute(
                        "SELECT mac FROM entries WHERE project = ? AND namespace = ? AND token = ?",
                        (project, namespace, token),
                    ).fetchone()
                    if row is not None:
                        if not hmac.compare_digest(bytes(row[0]), mac):
                            raise TokenCollisionError(namespace)
                        continue
                    nonce, sealed = seal(aead, original.encode("utf-8"), associated_data(project, namespace, token))
                    self._db.execute(
                        "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (project, namespace, token, nonce, sealed, mac, created, self.run_id),
                    )
            except BaseException:
                self._db.execute("ROLLBACK TO file")
                raise
            finally:
                self._db.execute("RELEASE file")
        if len(self._settled) > SETTLED_MEMORY:
            self._settled.clear()
        self._settled.update(dict.fromkeys(records))

    def commit(self) -> None:
        """Make the records added since the last commit durable (one transaction)."""
        if self._writing:
            with guarded():
                self._db.execute("COMMIT")
            self._writing = False

    def rotate(self, new: Secret) -> int:
        """Re-encrypt every entry, keyring and the key check under ``new``.

        Runs in one exclusive transaction (a run sharing the vault waits, and afterwards
        refuses to write under the old key). Pseudonyms, UIDs and date shifts do not
        change: the keyrings keep the original derivation subkeys, now wrapped under the
        new key. Afterwards the old key no longer opens the vault.

        Parameters
        ----------
        new : Secret
            The new key (only its vault subkey is used; the rotation is audited under its
            fingerprint).

        Returns
        -------
        int
            The number of entries re-encrypted, of every project in the vault.

        Raises
        ------
        VaultError
            The vault file is damaged, or an entry or keyring fails authentication
            (tampered): the rotation is rolled back.
        StorageError
            The vault's storage failed (full, read-only, I/O error): the rotation is rolled back.
        """
        old_aead, new_aead = self._aead(self._key), self._aead(new)
        with guarded():
            self.commit()
            self._db.execute("BEGIN EXCLUSIVE")
            try:
                rows = self._db.execute("SELECT project, namespace, token, nonce, ciphertext FROM entries").fetchall()
                for project, namespace, token, nonce, sealed in rows:
                    aad = associated_data(project, namespace, token)
                    fresh = seal(new_aead, old_aead.decrypt(bytes(nonce), bytes(sealed), aad), aad)
                    where = "project = ? AND namespace = ? AND token = ?"
                    self._db.execute(
                        f"UPDATE entries SET nonce = ?, ciphertext = ? WHERE {where}",
                        (*fresh, project, namespace, token),
                    )
                for project, nonce, wrapped in self._db.execute(
                    "SELECT project, nonce, wrapped FROM keyring"
                ).fetchall():
                    aad = b"keyring:" + str(project).encode()
                    fresh = seal(new_aead, old_aead.decrypt(bytes(nonce), bytes(wrapped), aad), aad)
                    self._db.execute("UPDATE keyring SET nonce = ?, wrapped = ? WHERE project = ?", (*fresh, project))
                count = len(rows)
                check = b"".join(seal(new_aead, _CHECK, b"check"))
                self._db.execute("UPDATE meta SET value = ? WHERE name = 'check'", (check,))
                self._db.execute("INSERT INTO audit VALUES (?, ?, ?, ?)", (utc_now(), "rotate", count, new.fingerprint))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._key, self._check = new, check
        return count

    def close(self) -> None:
        """Commit what was added and close the database."""
        try:
            if not self.readonly:
                self.commit()
        finally:
            self._db.close()

    def __enter__(self) -> SqliteVault:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
