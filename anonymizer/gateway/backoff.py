"""Exponential backoff with jitter between delivery attempts."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before the n-th retry, and how many failed attempts ``send`` makes before it stops.

    The wait before retry ``n`` (1-based) is ``min(max_delay, initial * factor ** (n - 1))``
    times a random factor in ``[1 - jitter, 1 + jitter]``. The service retries without
    end (a research PACS may be down for a night); ``anonymizer send`` stops after
    ``attempts`` failed attempts in a row and can be run again.

    Parameters
    ----------
    initial : float
        Seconds before the first retry.
    factor : float
        Growth of the wait per retry.
    max_delay : float
        Longest wait, before jitter.
    jitter : float
        Relative spread (0: none).
    attempts : int
        Failed attempts in a row after which ``send`` gives up.
    rng : callable
        Uniform [0, 1) numbers for the jitter.
    """

    initial: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.1
    attempts: int = 8
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def __post_init__(self) -> None:
        if self.initial < 0 or self.factor < 1 or self.max_delay < 0 or not 0 <= self.jitter < 1 or self.attempts < 1:
            raise ValueError("initial >= 0, factor >= 1, max_delay >= 0, 0 <= jitter < 1 and attempts >= 1 required")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        base = min(self.max_delay, self.initial * self.factor ** max(0, retry - 1))
        return base * (1 + self.jitter * (2 * self.rng() - 1))
