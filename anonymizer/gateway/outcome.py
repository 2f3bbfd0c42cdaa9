"""What one delivery attempt did for one file, and what every sender offers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Outcome:
    """One file, one attempt.

    Parameters
    ----------
    path : Path
        The file.
    ok : bool
        Delivered (a success or warning status).
    retryable : bool
        For a failure: whether a later attempt may succeed (peer down, out of resources).
    detail : str
        Short reason in safe words (status codes, exception class names), "" on success.
    converted : bool
        Sent converted to an uncompressed transfer syntax because the peer refused the file's own.
    """

    path: Path
    ok: bool
    retryable: bool = False
    detail: str = ""
    converted: bool = False


class Sender(Protocol):
    """Attempts to deliver files once each; never raises for a file or a network failure."""

    def send(self, paths: Sequence[Path]) -> list[Outcome]:
        """One outcome per path, in the same order."""
        ...
