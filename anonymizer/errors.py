"""One exception tree for the whole package.

::

    AnonymizerError                 code "error"
    +-- ProfileError                code "profile"     bad YAML, unknown key/action (file:line)
    +-- KeyFileError                code "key"         missing, unreadable or malformed key
    +-- InputError                  code per reason    one input file cannot be processed
    +-- ActionError                 code "action"      an action cannot apply to an element

Messages carry only safe fields: tag, keyword, VR, action, profile file:line, counts,
reason codes. Never a DICOM value, a token, a key or an input path.
"""

from __future__ import annotations


class AnonymizerError(Exception):
    """Base of every error the package raises on purpose."""

    code = "error"


class ProfileError(AnonymizerError):
    """A profile is invalid; the message names the file, the line and the key."""

    code = "profile"

    def __init__(self, message: str, source: str = "<profile>", line: int | None = None):
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line


class KeyFileError(AnonymizerError):
    """The project key cannot be loaded."""

    code = "key"


class InputError(AnonymizerError):
    """One input file cannot be de-identified; ``reason`` is a stable code."""

    code = "input"

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ActionError(AnonymizerError):
    """An action cannot be applied to an element (message: tag, keyword, VR, action)."""

    code = "action"
