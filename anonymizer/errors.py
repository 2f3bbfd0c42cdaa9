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
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line


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


class StorageError(AnonymizerError):
    """The storage OUT, the state or the vault live on failed (full, read-only, I/O error).

    Not a verdict on any file: the run stops, records nothing as failed, and the same
    command completes it once the fault is gone.
    """

    code = "storage"


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
