"""Where reversible tokens are recorded: the :class:`Vault` protocol.

A record is ``(namespace, token, original)``. :class:`MemoryVault` keeps them in memory
(tests, dry runs). A token seen again with a different original is a collision: two
values would share one pseudonym, so the file that brings it fails instead of silently
merging two patients.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from anonymizer.errors import AnonymizerError

Record = tuple[str, str, str]


class TokenCollisionError(AnonymizerError):
    """One token stands for two different originals in one namespace."""

    code = "token-collision"


class Vault(Protocol):
    """Stores reversible tokens; ``add`` is idempotent and detects collisions."""

    def add(self, records: Iterable[Record]) -> None: ...

    def reveal(self, namespace: str, token: str) -> str | None: ...


class MemoryVault:
    """An in-memory :class:`Vault` (nothing is persisted)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], str] = {}

    def add(self, records: Iterable[Record]) -> None:
        """Record every ``(namespace, token, original)``; all or nothing on a collision."""
        batch = list(records)
        staged: dict[tuple[str, str], str] = {}
        for namespace, token, original in batch:
            key = (namespace, token)
            known = staged.get(key, self._entries.get(key))
            if known is not None and known != original:
                raise TokenCollisionError(f"token collision in namespace {namespace}")
            staged[key] = original
        self._entries.update(staged)

    def reveal(self, namespace: str, token: str) -> str | None:
        """The original behind ``token``, or None."""
        return self._entries.get((namespace, token))

    def __len__(self) -> int:
        return len(self._entries)
