"""The gateway on one :class:`~anonymizer.pipeline.job.Job`: receive -> spool -> settle -> run -> deliver.

Threads: pynetdicom's (one per association) write received instances to the spool and
report settled studies; the calling thread (the main thread: signals and the per-file
time limit live there) de-identifies each settled study with :meth:`Job.process`, the
same runner, worker, state, vault and layout as ``anonymizer run`` over IN = the spool;
one thread per destination delivers from OUT (:class:`~anonymizer.gateway.deliver.Deliverer`).

After a study's run has committed (files synced, then the vault, then the state), each
of its spooled instances that the state records as done is queued for every destination
(the outbox commits), and only then is its spool file removed. A failed instance stays
in the spool (``anonymizer failures`` lists it; ``--retry-failed`` tries it again at the
next settle). So after a kill -9 at any point, the same command finds every instance
the sender was told succeeded either in the spool (done again: byte-identical, or
skipped as done) or queued, and delivers it: a destination holds each SOP instance
once. At start, every study left in the spool is processed at once.
"""

from __future__ import annotations

import queue
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anonymizer.gateway.backoff import RetryPolicy
from anonymizer.gateway.deliver import Deliverer, make_sender
from anonymizer.gateway.destination import Listen
from anonymizer.gateway.outbox import Item, Outbox
from anonymizer.gateway.receive import Receiver
from anonymizer.gateway.spool import Spool
from anonymizer.pipeline.job import Job, now
from anonymizer.pipeline.layout import path_key
from anonymizer.pipeline.runner import RunSummary

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class GatewayOptions:
    """How the gateway listens and delivers.

    Parameters
    ----------
    listen : Listen
        Our AE title, address and port.
    forward : tuple of str
        Destination URLs (``dicom://AET@HOST:PORT``, ``dicoms://...``, ``dicomweb+http(s)://HOST/PATH``).
    allow_aets : tuple of str
        Calling AE titles allowed to send (empty: any).
    settle : float
        Seconds without an arrival after which a study is processed (also at association release).
    server_tls, client_tls : ssl.SSLContext or None
        TLS for receiving, and for ``dicoms://`` destinations.
    retry : RetryPolicy
        Waits between delivery attempts.
    drain : float
        On stop, seconds open associations get to finish before they are aborted.
    """

    listen: Listen
    forward: tuple[str, ...] = ()
    allow_aets: tuple[str, ...] = ()
    settle: float = 30.0
    server_tls: ssl.SSLContext | None = None
    client_tls: ssl.SSLContext | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    drain: float = 30.0


def _merge(total: RunSummary, part: RunSummary) -> None:
    total.done += part.done
    total.failed.update(part.failed)
    total.skipped.update(part.skipped)
    total.actions.update(part.actions)
    total.groups.update(part.groups)
    total.earlier_failures += part.earlier_failures
    total.removed += part.removed


class Gateway:
    """Serve until stopped; see the module docstring.

    Parameters
    ----------
    job : Job
        An entered Job whose IN is the spool's root (``job.in_dir``).
    options : GatewayOptions
        Listening and delivery.
    emit : callable
        Gets every event (thread-safe; the CLI writes JSON lines). Events carry counts,
        AE titles, destinations and reason codes: no value, no UID, no input path.
    """

    def __init__(self, job: Job, options: GatewayOptions, emit: Emit):
        self.job, self.options, self.emit = job, options, emit
        self.spool = Spool(job.in_dir)
        self.summary = RunSummary()  # every study processed since the start
        self.port: int | None = None
        self._todo: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._deliverers: list[tuple[Deliverer, threading.Thread]] = []
        self._receiver: Receiver | None = None
        self._started = now()
        self._unwritten = False  # studies processed since the manifest was written
        self._in_study = False  # a study's run or its queueing is under way (an interrupt may land there)

    def stop(self) -> None:
        """Ask :meth:`serve` to return (from another thread; signals raise in the main thread instead)."""
        self._stop.set()

    def serve(self, on_listening: Callable[[int], None] = lambda port: None) -> RunSummary:
        """Recover, listen, process settled studies and deliver until stopped or interrupted.

        On the way out (a stop, an interrupt, an error): no new associations, open ones get
        ``drain`` seconds to finish, deliveries end after the attempt in flight, and the
        manifest is written when every processed study is complete in the state.

        Raises
        ------
        GatewayError
            The address cannot be listened on, a destination URL or TLS file is unusable.
        KeyboardInterrupt
            A signal (the CLI's ``Interrupted``): re-raised after the stop above.
        """
        state_dir = self.job.state_dir
        with Outbox(state_dir) as outbox:
            outbox.set_meta("spool", str(self.spool.root))
            outbox.set_meta("destinations", "\n".join(self.options.forward))
            removed = self.spool.recover()
            if removed:
                self.emit({"event": "spool-recovered", "removed_temporaries": removed})
            for study in self.spool.studies():
                self._todo.put(study)
            senders = [
                (url, make_sender(url, self.options.listen.aet, self.options.client_tls))
                for url in self.options.forward
            ]
            try:
                self._start(senders)
                self._loop(outbox)
            finally:
                self._shutdown()
                if not self._in_study:  # else the next start completes that study, then writes it
                    self._write_manifest()
        return self.summary

    def _start(self, senders: list[tuple[str, Any]]) -> None:
        for url, sender in senders:
            deliverer = Deliverer(
                self.job.state_dir, self.job.out_dir, url, sender, self.options.retry, self.emit, self._stop
            )
            thread = threading.Thread(target=deliverer.run, name="deliver", daemon=True)
            thread.start()
            self._deliverers.append((deliverer, thread))
        options = self.options
        self._receiver = Receiver(
            self.spool,
            options.listen,
            self.emit,
            self._todo.put,
            options.allow_aets,
            options.server_tls,
            options.settle,
        ).start()
        self.port = self._receiver.port
        self.emit(
            {"event": "listening", "aet": options.listen.aet, "port": self.port, "tls": options.server_tls is not None}
        )

    def _loop(self, outbox: Outbox) -> None:
        while not self._stop.is_set():
            try:
                study = self._todo.get(timeout=0.25)
            except queue.Empty:
                self._write_manifest()
                continue
            self._process(study, outbox)
            if self._todo.empty():
                self._write_manifest()

    def _process(self, study: str, outbox: Outbox) -> None:
        """De-identify one study's spooled instances, queue what is done, empty its spool folder."""
        folder = self.spool.study_dir(study)
        if not folder.is_dir():
            return
        part = RunSummary()
        self._in_study = self._unwritten = True
        self.job.process(folder, lambda result: None, part)
        _merge(self.summary, part)
        items, settled = self._settled(study)
        if items and self.options.forward:
            outbox.queue(self.options.forward, items)
            for deliverer, _ in self._deliverers:
                deliverer.wake()
        for path in settled:
            path.unlink(missing_ok=True)
        self.spool.prune(study)
        self._in_study = False
        self.emit(
            {
                "event": "study-processed",
                "done": part.done,
                "failed": sum(part.failed.values()),
                "failed_reasons": sorted(part.failed),
                "skipped": sum(part.skipped.values()),
                "queued": len(items) * len(self.options.forward),
            }
        )

    def _settled(self, study: str) -> tuple[list[Item], list[Path]]:
        """The outputs of a study's spooled instances the state records as done, and the spool files
        whose outcome is final (done or skipped by design); failed ones stay for review."""
        state = self.job.state
        assert state is not None
        items: list[Item] = []
        settled: list[Path] = []
        for path in self.spool.instances(study):
            previous = state.previous(path)
            try:
                stat = path.stat()
            except OSError:
                continue
            if previous is None or (previous.size, previous.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                continue  # arrived (or was replaced) after this study's run: the next settle takes it
            if previous.status == "done":
                output = state.output(path_key(previous.output))
                if output is None:
                    continue
                items.append(Item(output.sop_uid, output.path, output.sha256))
                settled.append(path)
            elif previous.status == "skipped":
                settled.append(path)
        return items, settled

    def _write_manifest(self) -> None:
        if self._unwritten:
            self.job.write_manifest(self.summary, self._started)
            self._unwritten = False

    def _shutdown(self) -> None:
        if self._receiver is not None:
            aborted = self._receiver.stop(self.options.drain)
            pending = self._receiver.pending()
            self.emit({"event": "receiver-stopped", "aborted_associations": aborted, "unsettled_studies": pending})
        self._stop.set()
        for deliverer, thread in self._deliverers:
            deliverer.wake()
            thread.join(self.options.drain)
