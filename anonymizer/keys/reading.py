"""The audited reading side of :class:`~anonymizer.keys.vault.SqliteVault`: reveal, export,
statistics and the audit log (a mixin over the vault's connection and keys)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anonymizer.keys.secret import Secret
from anonymizer.keys.store import EXPORTS, associated_data, guarded, utc_now


class AuditedReading:
    """Reveal, export, stats and audit log; every re-identification is audited."""

    _db: sqlite3.Connection
    _key: Secret
    secret: Secret
    readonly: bool

    def _aead(self, secret: Secret) -> AESGCM:
        raise NotImplementedError

    def _audit(self, command: str, count: int) -> None:
        if not self.readonly:
            self._db.execute(
                "INSERT INTO audit VALUES (?, ?, ?, ?)", (utc_now(), command, count, self._key.fingerprint)
            )

    def _open(self, namespace: str, token: str, nonce: bytes, sealed: bytes) -> str:
        plain = self._aead(self._key).decrypt(nonce, sealed, associated_data(self.secret.project, namespace, token))
        return plain.decode("utf-8")

    def reveal(self, namespace: str, token: str) -> str | None:
        """The original behind ``token`` in ``namespace``; the use is audited (unless read-only).

        Parameters
        ----------
        namespace : str
            The token's namespace (an attribute keyword, ``UID``, a lookup's namespace).
        token : str
            The value as it appears in the output.

        Returns
        -------
        str or None
            The original, or None when this project's entries do not hold the token.

        Raises
        ------
        VaultError
            The vault file is damaged, or the entry fails authentication (tampered).
        StorageError
            The vault's storage failed (full, read-only, I/O error).
        """
        with guarded():
            row = self._db.execute(
                "SELECT nonce, ciphertext FROM entries WHERE project = ? AND namespace = ? AND token = ?",
                (self.secret.project, namespace, token),
            ).fetchone()
            self._audit("reveal", 0 if row is None else 1)
            return None if row is None else self._open(namespace, token, bytes(row[0]), bytes(row[1]))

    def export(self, what: str) -> Iterator[tuple[str, str, str]]:
        """Every entry of this project in a namespace set, decrypted; the export is audited.

        A generator: nothing is read until iteration starts; then every chosen entry is
        decrypted (and, unless read-only, the export audited) before the first is yielded.

        Parameters
        ----------
        what : str
            ``patient-ids`` (namespace PatientID), ``uids`` (namespace UID) or ``all``
            (another name raises KeyError).

        Yields
        ------
        tuple of (str, str, str)
            ``(namespace, original, token)``, ordered by namespace and token.

        Raises
        ------
        VaultError
            The vault file is damaged, or an entry fails authentication (tampered).
        StorageError
            The vault's storage failed (full, read-only, I/O error).
        """
        namespaces = EXPORTS[what]
        with guarded():
            rows = self._db.execute(
                "SELECT namespace, token, nonce, ciphertext FROM entries WHERE project = ? ORDER BY namespace, token",
                (self.secret.project,),
            ).fetchall()
            chosen = [r for r in rows if namespaces is None or r[0] in namespaces]
            self._audit(f"export {what}", len(chosen))
            opened = [(str(n), self._open(n, t, bytes(nonce), bytes(s)), str(t)) for n, t, nonce, s in chosen]
        yield from opened

    def stats(self) -> dict[str, int]:
        """Entries per namespace for this project (no values).

        Returns
        -------
        dict of str to int
            The number of entries in each namespace, sorted by namespace.

        Raises
        ------
        VaultError
            The vault file is damaged.
        """
        with guarded():
            rows = self._db.execute(
                "SELECT namespace, COUNT(*) FROM entries WHERE project = ? GROUP BY namespace ORDER BY namespace",
                (self.secret.project,),
            ).fetchall()
        return {str(n): int(c) for n, c in rows}

    def audit_log(self) -> list[tuple[str, str, int, str]]:
        """Every audited use of the vault (every project's).

        Returns
        -------
        list of (str, str, int, str)
            ``(time, command, count, key fingerprint)``: the UTC time, ``reveal``,
            ``export <what>`` or ``rotate``, the entries concerned, the key used.

        Raises
        ------
        VaultError
            The vault file is damaged.
        """
        with guarded():
            return [tuple(r) for r in self._db.execute("SELECT at, command, count, fingerprint FROM audit")]
