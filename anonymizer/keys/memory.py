"""An in-memory vault: the :class:`~anonymizer.keys.vault.Vault` protocol for dry runs and tests."""

from __future__ import annotations

from collections.abc import Iterable

from anonymizer.errors import TokenCollisionError
from anonymizer.keys.store import Record


class MemoryVault:
    """An in-memory :class:`Vault` (nothing is persisted)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], str] = {}

    def add(self, records: Iterable[Record]) -> None:
        """Record every ``(namespace, token, original)``; all or nothing on a collision.

        Parameters
        ----------
        records : iterable of (str, str, str)
            ``(namespace, token, original)`` triples.

        Raises
        ------
        TokenCollisionError
            A token already stands for another original in its namespace (recorded
            earlier or in this batch): none of ``records`` is recorded.
        """
        staged: dict[tuple[str, str], str] = {}
        for namespace, token, original in records:
            key = (namespace, token)
            known = staged.get(key, self._entries.get(key))
            if known is not None and known != original:
                raise TokenCollisionError(namespace)
            staged[key] = original
        self._entries.update(staged)

    def commit(self) -> None:
        """Nothing to do in memory."""

    def reveal(self, namespace: str, token: str) -> str | None:
        """The original behind ``token``.

        Parameters
        ----------
        namespace : str
            The token's namespace.
        token : str
            The value as it appears in the output.

        Returns
        -------
        str or None
            The original, or None when the token was never added.
        """
        return self._entries.get((namespace, token))

    def close(self) -> None:
        """Nothing to do in memory."""

    def __len__(self) -> int:
        return len(self._entries)
