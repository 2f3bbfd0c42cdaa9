"""The project secret: loading, subkey derivation and the keyed functions built on it.

One 256-bit secret per project. HKDF-SHA256 (RFC 5869, from ``cryptography``) derives an
independent subkey per purpose, so tokens, UIDs and date offsets cannot be related to one
another, and different secrets (or project labels) give unlinkable outputs.

:class:`Secret` holds the key and every subkey and stays with the coordinator (the
vault needs its ``vault`` and ``mac`` subkeys). :class:`Subkeys` holds only what a
worker needs to de-identify (the token, UID and date subkeys): it is what travels to
worker processes and Dask workers, never the key itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from anonymizer.errors import KeyFileError

KEY_BYTES = 32
_SALT = b"anonymizer-dicom/hkdf-salt/v1"
_PURPOSES = ("token", "uid", "date", "vault", "mac", "fingerprint")
DERIVATION = ("token", "uid", "date", "mac")  # kept in a vault keyring across rotations
WORKER = ("token", "uid", "date")  # what de-identifying a file needs


def _hkdf(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=_SALT, info=info).derive(key)


def _digest(subkey: bytes, namespace: str, value: bytes) -> bytes:
    return hmac.digest(subkey, namespace.encode("utf-8") + b"\x00" + value, "sha256")  # one-shot, in C


@dataclass(frozen=True)
class Subkeys:
    """The keyed functions of de-identification: tokens, UIDs, date offsets.

    Holds the token, UID and date subkeys only (never the project key, the vault or MAC
    subkeys), so it can be sent to worker processes and cluster workers.

    Parameters
    ----------
    keys : Mapping[str, bytes]
        The ``token``, ``uid`` and ``date`` subkeys.
    project : str
        The project label the subkeys were derived for.
    fingerprint : str
        The fingerprint of the project key (for reports).
    """

    keys: Mapping[str, bytes] = field(repr=False)
    project: str = ""
    fingerprint: str = ""

    def digest(self, purpose: str, namespace: str, value: bytes) -> bytes:
        """HMAC-SHA256 of ``namespace || 0x00 || value`` under the ``purpose`` subkey.

        Parameters
        ----------
        purpose : str
            ``token``, ``uid`` or ``date`` (another raises KeyError).
        namespace : str
            Separates the values of one purpose (an attribute keyword, ``UID``, ...).
        value : bytes
            What is keyed.

        Returns
        -------
        bytes
            The 32-byte digest.
        """
        return _digest(self.keys[purpose], namespace, value)

    def token(self, namespace: str, value: str, length: int = 16) -> str:
        """Upper-case base32 token (A-Z, 2-7) of ``length`` characters (at most 52).

        Parameters
        ----------
        namespace : str
            Separates token spaces: equal values in two namespaces give unrelated tokens.
        value : str
            The original (UTF-8 encoded before keying).
        length : int
            The token's length, at most 52.

        Returns
        -------
        str
            The same token for the same subkeys, namespace and value.
        """
        raw = self.digest("token", namespace, value.encode("utf-8"))
        return base64.b32encode(raw).decode("ascii")[:length]

    def uid(self, original: str) -> str:
        """``2.25.<integer>`` from 128 bits of HMAC of the original UID (at most 44 chars).

        Parameters
        ----------
        original : str
            The original UID (surrounding whitespace ignored, non-ASCII characters as ``?``).

        Returns
        -------
        str
            The new UID, the same for the same subkeys and original.
        """
        raw = self.digest("uid", "UID", original.strip().encode("ascii", "replace"))
        return "2.25." + str(int.from_bytes(raw[:16], "big"))

    def day_offset(self, patient: str, low: int, high: int) -> int:
        """A per-patient day offset in ``[low, high]``, keyed on ``patient``.

        Parameters
        ----------
        patient : str
            What names the patient (the engine passes the PatientID's token).
        low, high : int
            The inclusive bounds of the offset, in days (``low <= high``).

        Returns
        -------
        int
            The offset, the same for the same subkeys and patient.
        """
        raw = self.digest("date", "PatientID", patient.encode("utf-8"))
        return low + int.from_bytes(raw[:8], "big") % (high - low + 1)


@dataclass(frozen=True)
class Secret:
    """A project secret with its derived subkeys.

    Parameters
    ----------
    key : bytes
        The 32-byte project secret.
    project : str
        Optional label mixed into every derivation (one key, unlinkable projects).
    derived : Mapping[str, bytes] or None
        Derivation subkeys (token, uid, date, mac) taken from a vault's keyring instead of
        from ``key``: after a key rotation the new key unwraps the original subkeys, so
        pseudonyms, UIDs and date shifts do not change.

    Raises
    ------
    KeyFileError
        When ``key`` does not have 32 bytes.
    """

    key: bytes = field(repr=False)
    project: str = ""
    derived: Mapping[str, bytes] | None = field(default=None, repr=False)
    _subkeys: dict[str, bytes] = field(init=False, repr=False, compare=False)
    _worker: Subkeys = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise KeyFileError(f"a project key has {KEY_BYTES} bytes")
        label = self.project.encode("utf-8")
        # the project label separates what outputs are made of; the vault key and the
        # fingerprint belong to the key alone (one vault holds several projects)
        subkeys = {
            p: _hkdf(self.key, b"anonymizer/" + p.encode() + b"/" + (label if p in DERIVATION else b""))
            for p in _PURPOSES
        }
        if self.derived is not None:
            subkeys.update({p: bytes(self.derived[p]) for p in DERIVATION})
        object.__setattr__(self, "_subkeys", subkeys)
        object.__setattr__(self, "_worker", Subkeys({p: subkeys[p] for p in WORKER}, self.project, self.fingerprint))

    def derivation_subkeys(self) -> dict[str, bytes]:
        """The subkeys that make pseudonyms, UIDs and date offsets (for a vault keyring).

        Returns
        -------
        dict of str to bytes
            The ``token``, ``uid``, ``date`` and ``mac`` subkeys (32 bytes each).
        """
        return {p: self._subkeys[p] for p in DERIVATION}

    def subkey(self, purpose: str) -> bytes:
        """The derived subkey for ``purpose``.

        Parameters
        ----------
        purpose : str
            ``token``, ``uid``, ``date``, ``vault``, ``mac`` or ``fingerprint`` (another
            raises KeyError).

        Returns
        -------
        bytes
            The 32-byte subkey (from ``derived`` when given, for the derivation purposes).
        """
        return self._subkeys[purpose]

    @property
    def subkeys(self) -> Subkeys:
        """What workers need (token, UID and date subkeys), without the key."""
        return self._worker

    @property
    def derivation_fingerprint(self) -> str:
        """16 hex characters naming what makes the outputs (the derivation subkeys, kept across rotations)."""
        material = b"".join(self._subkeys[p] for p in DERIVATION)
        return hashlib.sha256(b"anonymizer/derivation/" + material).hexdigest()[:16]

    @property
    def fingerprint(self) -> str:
        """16 hex characters that name this key without revealing it.

        Taken from the key itself (never from a keyring), so a rotated key has a new one.
        """
        return hmac.new(self.subkey("fingerprint"), b"fingerprint", hashlib.sha256).hexdigest()[:16]

    def digest(self, purpose: str, namespace: str, value: bytes) -> bytes:
        """HMAC-SHA256 of ``namespace || 0x00 || value`` under the purpose's subkey.

        Parameters
        ----------
        purpose : str
            A purpose of :meth:`subkey`.
        namespace : str
            Separates the values of one purpose.
        value : bytes
            What is keyed.

        Returns
        -------
        bytes
            The 32-byte digest.
        """
        return _digest(self.subkey(purpose), namespace, value)

    def token(self, namespace: str, value: str, length: int = 16) -> str:
        """Upper-case base32 token of ``value``, as :meth:`Subkeys.token`.

        Parameters
        ----------
        namespace : str
            Separates token spaces.
        value : str
            The original.
        length : int
            The token's length (at most 52).

        Returns
        -------
        str
        """
        return self.subkeys.token(namespace, value, length)

    def uid(self, original: str) -> str:
        """The ``2.25.<integer>`` UID for ``original``, as :meth:`Subkeys.uid`.

        Parameters
        ----------
        original : str
            The original UID.

        Returns
        -------
        str
        """
        return self.subkeys.uid(original)

    def day_offset(self, patient: str, low: int, high: int) -> int:
        """The patient's day offset in ``[low, high]``, as :meth:`Subkeys.day_offset`.

        Parameters
        ----------
        patient : str
            What names the patient.
        low, high : int
            The inclusive bounds, in days.

        Returns
        -------
        int
        """
        return self.subkeys.day_offset(patient, low, high)


def generate_key_file(path: str | os.PathLike[str]) -> None:
    """Write a new random key (hex) to ``path`` with mode 0600; never overwrite.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write the key.

    Raises
    ------
    KeyFileError
        When the file exists or cannot be created.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError("key file exists already; refusing to overwrite it") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create key file ({exc.strerror})") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(KEY_BYTES) + "\n")


def load_key_file(path: str | os.PathLike[str], project: str = "") -> Secret:
    """Read a key written by :func:`generate_key_file`.

    Refuses a key file that group or others can read (like ssh), and any content that
    is not exactly 64 hex digits. Messages never contain the key.

    Parameters
    ----------
    path : str or os.PathLike
        The key file.
    project : str
        The project label mixed into the derivation.

    Returns
    -------
    Secret

    Raises
    ------
    KeyFileError
        Unreadable, readable by others, or not a 256-bit hex key.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise KeyFileError("key file cannot be read") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"key file is accessible by others (mode {mode & 0o777:o}); chmod 600 it")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError("key file does not hold a hex key") from None
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"key file holds {len(key)} bytes; a project key has {KEY_BYTES}")
    return Secret(key, project)
