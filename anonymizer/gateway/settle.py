"""When is a study complete enough to de-identify? The "settled" heuristic.

DICOM has no end-of-study signal in C-STORE. A study is reported *settled* when

* no instance of it arrived for ``idle_seconds`` (reason ``"idle"``), or
* an association that sent instances of it was released normally and no other open
  association has sent instances of it (reason ``"released"``).

An aborted association (peer crash, network loss, our own abort) settles nothing: the
sender is expected to retry, and the idle rule applies. An instance of a study that
arrives after it settled starts a new round that settles again later, so whoever
consumes the reports must process a study idempotently.

The tracker only keeps keys (hashes), counts and times: no patient data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settled:
    """A study reported settled.

    Parameters
    ----------
    study : str
        The study's spool key.
    instances : int
        Instances received for it in this round (re-sends counted again).
    reason : str
        ``"idle"`` or ``"released"``.
    first_arrival, last_arrival : float
        Clock times (``time.monotonic`` by default) of the round's first and last instance.
    """

    study: str
    instances: int
    reason: str
    first_arrival: float
    last_arrival: float


@dataclass
class _Round:
    first: float
    last: float
    count: int = 0
    senders: set[Hashable] = field(default_factory=set)  # associations that sent to this round


class SettleTracker:
    """Thread-safe per-study arrival tracking.

    Parameters
    ----------
    idle_seconds : float
        Quiet time after which a study is settled.
    settle_on_release : bool
        Also settle on a normal association release (see module docstring).
    clock : Callable[[], float]
        Time source (injectable for tests).
    """

    def __init__(
        self,
        idle_seconds: float,
        settle_on_release: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.idle_seconds = idle_seconds
        self.settle_on_release = settle_on_release
        self.clock = clock
        self._lock = threading.Lock()
        self._rounds: dict[str, _Round] = {}
        self._open: set[Hashable] = set()

    def opened(self, association: Hashable) -> None:
        """Record that an association is open."""
        with self._lock:
            self._open.add(association)

    def arrived(self, study: str, association: Hashable) -> None:
        """Record one instance of ``study`` received on ``association``."""
        now = self.clock()
        with self._lock:
            entry = self._rounds.get(study)
            if entry is None:
                entry = self._rounds[study] = _Round(first=now, last=now)
            entry.last = now
            entry.count += 1
            entry.senders.add(association)
            self._open.add(association)

    def released(self, association: Hashable) -> list[Settled]:
        """Record a normal release; return the studies this settles."""
        with self._lock:
            self._open.discard(association)
            if not self.settle_on_release:
                return []
            done = [
                key
                for key, entry in self._rounds.items()
                if association in entry.senders and not (entry.senders & self._open)
            ]
            return [self._pop(key, "released") for key in done]

    def aborted(self, association: Hashable) -> None:
        """Record an abort or a connection loss: the association is gone, nothing settles."""
        with self._lock:
            self._open.discard(association)

    def due(self) -> list[Settled]:
        """Return (and forget) the studies idle for at least ``idle_seconds``."""
        now = self.clock()
        with self._lock:
            done = [key for key, entry in self._rounds.items() if now - entry.last >= self.idle_seconds]
            return [self._pop(key, "idle") for key in done]

    def pending(self) -> dict[str, int]:
        """Return the unsettled studies and their instance counts."""
        with self._lock:
            return {key: entry.count for key, entry in self._rounds.items()}

    def _pop(self, key: str, reason: str) -> Settled:
        entry = self._rounds.pop(key)
        return Settled(key, entry.count, reason, entry.first, entry.last)
