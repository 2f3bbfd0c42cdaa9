"""One exception tree for the whole package; every class has a stable ``code``.

::

    AnonymizerError                 "error"
    +-- ProfileError                "profile"          bad YAML, unknown key/action (file:line)
    +-- KeyFileError                "key"              missing, unreadable or malformed key
    +-- VaultError                  "vault"            the vault cannot be opened or used
    +-- StateError                  "state"            the state is locked, foreign or damaged
    +-- FolderError                 "folders"          IN, OUT, vault and state overlap
    +-- ManifestError               "manifest"         OUT's manifest is missing or disagrees with OUT
    +-- ClusterError                "cluster"          the Dask cluster cannot be reached
    +-- GatewayError                "gateway"          a listen address, destination or TLS file is unusable
    +-- StorageError                "storage"          OUT's disk is full or read-only: the run stops
    +-- InputError                  per reason         one input file cannot be processed
    |   +-- TokenCollisionError     "token-collision"  one token would stand for two originals
    +-- ActionError                 "action"           an action cannot apply to an element

The command line maps codes to exit codes in one table (``anonymizer.cli``). Messages
carry only safe fields: tag, keyword, VR, action, profile file:line, counts, reason
codes. Never a DICOM value, a token, a key or an input path. Errors of the libraries
underneath (cryptography, sqlite3, pydicom) are wrapped where they are called, their
messages dropped (``raise ... from None``): they can quote values.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from types import MappingProxyType

# Every reason code a file or walk entry can get, and what it means (the README lists them).
REASONS: Mapping[str, str] = MappingProxyType(
    {
        # failed: the file gets no output
        "truncated": "the file ends inside an element, or declares more bytes than it has",
        "malformed": "the bytes do not parse as a DICOM dataset (tags out of order, bad structure)",
        "not-dicom-dataset": "no preamble, begins like a dataset, but no SOP Class and Instance UID parse from it",
        "empty-dataset": "no data element after the file meta",
        "missing-pixel-data": "an image without pixel data (most often a file cut before its pixels)",
        "missing-sop-instance-uid": "no SOP Instance UID: the object cannot be named",
        "too-large": "larger than --max-file-size",
        "timeout": "took longer than --file-timeout",
        "unreadable": "the file or a folder cannot be read (permissions, not a regular file)",
        "io": "an input/output error while reading the file",
        "crash": "the worker process died on this file twice (native abort, out of memory)",
        "action": "an action cannot apply to an element (the detail names tag, VR and action)",
        "token-collision": "a token would stand for two originals in one namespace",
        "sop-instance-conflict": "another input holds the same SOP Instance UID with another dataset",
        "burned-in": "may hold burned-in text that no pixel rule covers (policy quarantine)",
        "burned-in-residual": "policy ocr: the redaction loop cannot certify that no burned-in text is left",
        "ocr-unavailable": "policy ocr, but OCR cannot run here",
        "pixel-decode": "the pixel data cannot be decoded (missing codec, corrupt stream, decoder panic)",
        "pixel-encode": "the redacted pixel data cannot be encoded",
        "broken-link": "a symbolic link whose target does not exist",
        "loop": "a symbolic link that resolves to itself",
        "output-link": "a symbolic link into OUT (never read)",
        # skipped by design: no output, and the run can still exit 0
        "not-dicom": "neither a DICOM preamble and magic nor a dataset without them",
        "dicomdir": "a DICOMDIR (a media index, not an object)",
        "duplicate": "the same dataset as an input already done (same SOP Instance UID, same bytes)",
        "folder-link": "a symbolic link to a folder (not followed)",
        "done-before": "done by an earlier run with the same binding, unchanged since",
        # skipped, but OUT is still incomplete: the exit code stays 1
        "failed-before": "failed in an earlier run and not retried (--retry-failed)",
    }
)


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the closest known word, or ``""``."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


class AnonymizerError(Exception):
    """Base of every error the package raises on purpose."""

    code = "error"


class ProfileError(AnonymizerError):
    """A profile is invalid; the message names the file, the line and the key.

    Parameters
    ----------
    message : str
        What is wrong, in safe words.
    source : str
        The profile file as the user named it (or ``<profile>``).
    line : int or None
        The 1-based line in ``source``.
    """

    code = "profile"

    def __init__(self, message: str, source: str = "<profile>", line: int | None = None):
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}" if source else message)
        self.source = source
        self.line = line

    @classmethod
    def combined(cls, errors: list[ProfileError]) -> ProfileError:
        """One error listing several (each on its own line, with its file and line)."""
        if len(errors) == 1:
            return errors[0]
        return cls(f"{len(errors)} problems:\n" + "\n".join(f"  {e}" for e in errors), source="")


class KeyFileError(AnonymizerError):
    """The project key cannot be loaded, or it does not open the vault."""

    code = "key"


class VaultError(AnonymizerError):
    """The vault cannot be used (message: what and why, never a value or a token)."""

    code = "vault"


class StateError(AnonymizerError):
    """The run state cannot be used: locked by another run, bound to another OUT, damaged."""

    code = "state"


class FolderError(AnonymizerError):
    """IN, OUT, the vault and the state folder are placed so that a run cannot be safe."""

    code = "folders"


class ManifestError(AnonymizerError):
    """OUT has no manifest, or its manifest and its files disagree."""

    code = "manifest"


class ClusterError(AnonymizerError):
    """The Dask cluster cannot be reached or started."""

    code = "cluster"


class GatewayError(AnonymizerError):
    """The DICOM gateway cannot start or deliver: a bad listen address or destination URL, a TLS file."""

    code = "gateway"


class StorageError(AnonymizerError):
    """The storage OUT, the state or the vault live on failed (full, read-only, I/O error).

    Not a verdict on any file: the run stops, records nothing as failed, and the same
    command completes it once the fault is gone.
    """

    code = "storage"


_SQLITE_STORAGE = {10: "EIO", 13: "ENOSPC", 8: "EROFS"}  # SQLITE_IOERR, SQLITE_FULL, SQLITE_READONLY


def sqlite_storage_fault(exc: BaseException, where: str) -> StorageError | None:
    """The :class:`StorageError` for an SQLite error that is its storage's fault, else None.

    ``where``: what the database is ("the state", "the vault"); the message names the
    fault's errno-like name only, never a path.
    """
    name = _SQLITE_STORAGE.get(getattr(exc, "sqlite_errorcode", 0) & 0xFF)
    if name is None:
        return None
    return StorageError(f"{where}'s storage failed ({name}); free space or fix the mount, then run the same command")


class InputError(AnonymizerError):
    """One input file cannot be de-identified; ``reason`` is a stable code.

    Parameters
    ----------
    reason : str
        A reason code from the README's list (``truncated``, ``burned-in``, ...).
    detail : str
        Safe details only (tag, keyword, VR, the name of an exception class).
    """

    code = "input"

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class TokenCollisionError(InputError):
    """One token would stand for two different originals in one namespace."""

    code = "token-collision"

    def __init__(self, namespace: str):
        super().__init__("token-collision", f"namespace {namespace}")
        self.namespace = namespace


class ActionError(AnonymizerError):
    """An action cannot be applied to an element (message: tag, keyword, VR, action)."""

    code = "action"
