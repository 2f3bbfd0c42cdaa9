"""Delivery: pending instances of the outbox go to a destination, with retries and exponential backoff.

A :class:`Deliverer` takes the oldest pending instances of its destination in batches,
checks that each file in OUT still has the SHA-256 the pipeline recorded (an altered or
missing file is never sent: it fails), sends the batch once and records each outcome at
once: delivered, pending again (retryable: the peer is down or out of resources), or
failed (permanent: refused). After an attempt with retryable failures it waits
(:class:`~anonymizer.gateway.backoff.RetryPolicy`) before the next one.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anonymizer.gateway.backoff import RetryPolicy
from anonymizer.gateway.destination import DimseDestination, parse_destination
from anonymizer.gateway.dimse import DimseSender
from anonymizer.gateway.outbox import Item, Outbox, Result
from anonymizer.gateway.outcome import Sender
from anonymizer.gateway.stow import StowSender

BATCH = 64  # instances per attempt (one association, or a few STOW-RS requests)


def make_sender(url: str, calling_aet: str = "GATEWAY", tls: ssl.SSLContext | None = None) -> Sender:
    """The sender for a destination URL (``dicom://``, ``dicoms://``, ``dicomweb+http(s)://``).

    Raises
    ------
    GatewayError
        The URL cannot be used, or a ``dicoms://`` destination has no TLS context.
    """
    destination = parse_destination(url)
    if isinstance(destination, DimseDestination):
        return DimseSender(destination, calling_aet=calling_aet, ssl_context=tls)
    return StowSender(destination)


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


class Deliverer:
    """Delivers one destination's pending instances from OUT.

    Parameters
    ----------
    state_dir : Path
        The state folder holding the outbox (the deliverer opens its own connection).
    out_dir : Path
        OUT, where the files are.
    url : str
        The destination, as queued.
    sender : Sender
        What sends (:func:`make_sender`).
    policy : RetryPolicy
        Waits between attempts.
    emit : callable
        Gets ``delivered``, ``delivery-failed`` and ``delivery-retry`` events (counts, the
        destination, error codes; no values). Called from the delivering thread.
    stop : threading.Event
        Set to end :meth:`run` after the attempt in flight.
    """

    def __init__(
        self,
        state_dir: Path,
        out_dir: Path,
        url: str,
        sender: Sender,
        policy: RetryPolicy,
        emit: Callable[[dict[str, Any]], None],
        stop: threading.Event,
    ):
        self.state_dir, self.out_dir, self.url, self.sender = state_dir, out_dir, url, sender
        self.policy, self.emit, self.stop = policy, emit, stop
        self._wake = threading.Event()

    def wake(self) -> None:
        """New instances were queued: look now rather than at the next poll."""
        self._wake.set()

    def run(self, until_done: bool = False) -> int:
        """Deliver until stopped; with ``until_done``, until nothing is pending or the policy gives up.

        Returns how many instances are still pending for this destination.
        """
        with Outbox(self.state_dir) as outbox:
            failing = 0
            while not self.stop.is_set():
                batch = outbox.pending(self.url, BATCH)
                if not batch:
                    if until_done:
                        break
                    self._wake.wait(1.0)
                    self._wake.clear()
                    continue
                results = self.attempt(batch)
                outbox.record(self.url, results)
                if not any(r.status == "pending" for r in results):
                    failing = 0
                    continue
                failing += 1
                if until_done and failing >= self.policy.attempts:
                    break
                wait = self.policy.delay(failing)
                self.emit(
                    {"event": "delivery-retry", "destination": self.url, "attempt": failing, "wait": round(wait, 3)}
                )
                self.stop.wait(wait)
            return outbox.count(self.url, "pending")

    def attempt(self, batch: list[Item]) -> list[Result]:
        """Send a batch once; one result per item."""
        results: dict[str, Result] = {}
        ready: list[Item] = []
        for item in batch:
            digest = _sha256(self.out_dir / item.path)
            if digest != item.sha256:
                results[item.sop_uid] = Result(item.sop_uid, "failed", "missing" if not digest else "altered")
            else:
                ready.append(item)
        if ready:
            outcomes = self.sender.send([self.out_dir / item.path for item in ready])
            for item, outcome in zip(ready, outcomes, strict=True):
                status = "delivered" if outcome.ok else "pending" if outcome.retryable else "failed"
                results[item.sop_uid] = Result(item.sop_uid, status, outcome.detail)
        ordered = [results[item.sop_uid] for item in batch]
        delivered = sum(r.status == "delivered" for r in ordered)
        if delivered:
            self.emit({"event": "delivered", "destination": self.url, "instances": delivered})
        failed = [r for r in ordered if r.status == "failed"]
        if failed:
            errors = sorted({r.error for r in failed})
            self.emit({"event": "delivery-failed", "destination": self.url, "instances": len(failed), "errors": errors})
        return ordered
