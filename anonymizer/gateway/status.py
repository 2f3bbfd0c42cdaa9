"""What an operator asks of a gateway, read without locking anything (it may be running)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anonymizer.errors import StateError
from anonymizer.gateway.outbox import Outbox
from anonymizer.gateway.spool import Spool
from anonymizer.pipeline.state import failures


@dataclass(frozen=True)
class Status:
    """Spool depth, deliveries per destination and status, failed inputs, the last delivery error.

    Holds counts, destination URLs, times and error codes only.
    """

    spool: int
    deliveries: dict[str, dict[str, int]] = field(default_factory=dict)
    failed_inputs: int = 0
    last_error: dict[str, Any] | None = None

    @property
    def pending(self) -> int:
        """Deliveries still to make, over every destination."""
        return sum(counts.get("pending", 0) for counts in self.deliveries.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "spool": self.spool,
            "pending": self.pending,
            "deliveries": self.deliveries,
            "failed_inputs": self.failed_inputs,
            "last_error": self.last_error,
        }


def status(state_dir: Path) -> Status:
    """The status of the gateway whose state is ``state_dir``.

    Raises
    ------
    StateError
        No gateway state there, or a damaged one.
    """
    with Outbox(state_dir, readonly=True) as outbox:
        spool_dir = outbox.meta("spool")
        last = outbox.meta("last-error")
        deliveries = outbox.counts()
    depth = Spool.count(Path(spool_dir)) if spool_dir else 0
    try:
        failed = len(failures(state_dir))
    except StateError:
        failed = 0  # no run state yet: nothing was processed
    return Status(depth, deliveries, failed, json.loads(last) if last else None)
