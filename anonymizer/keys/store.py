"""What every vault is (:class:`Vault`) and the helpers the SQLite vault's modules share."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anonymizer.errors import VaultError, sqlite_storage_fault

Record = tuple[str, str, str]
"""``(namespace, token, original)``."""

EXPORTS = {"patient-ids": ("PatientID",), "uids": ("UID",), "all": None}
"""What ``vault export`` can export: the namespaces of each choice (None: all)."""


class Vault(Protocol):
    """Stores reversible tokens. ``add`` checks and stages; ``commit`` makes durable."""

    def add(self, records: Iterable[Record]) -> None:
        """Check ``records`` against what is stored and stage them; all or nothing.

        Parameters
        ----------
        records : iterable of (str, str, str)
            ``(namespace, token, original)`` triples.

        Raises
        ------
        TokenCollisionError
            A token already stands for another original in its namespace.
        """
        ...

    def commit(self) -> None:
        """Make what was added since the last commit durable."""
        ...

    def reveal(self, namespace: str, token: str) -> str | None:
        """The original behind a token.

        Parameters
        ----------
        namespace : str
            The token's namespace (an attribute keyword, ``UID``, a lookup's namespace).
        token : str
            The value as it appears in the output.

        Returns
        -------
        str or None
            The original, or None when the vault does not know the token.
        """
        ...

    def close(self) -> None:
        """Commit what was added and release the store."""
        ...


def utc_now() -> str:
    """The time now, UTC, to the second (ISO 8601)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def associated_data(project: str, namespace: str, token: str) -> bytes:
    """What an entry's encryption is bound to: its project, namespace and token."""
    return "\x00".join((project, namespace, token)).encode("utf-8")


def seal(aead: AESGCM, plain: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """``(nonce, ciphertext)`` with a fresh random 96-bit nonce."""
    nonce = os.urandom(12)
    return nonce, aead.encrypt(nonce, plain, aad)


@contextmanager
def guarded() -> Iterator[None]:
    """sqlite3's and cryptography's errors as a :class:`VaultError` (their messages dropped)."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise sqlite_storage_fault(exc, "the vault") or VaultError("the vault file is damaged or not a vault") from None
    except InvalidTag:
        raise VaultError("a vault entry failed authentication (tampered or damaged)") from None
