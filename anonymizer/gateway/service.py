"""The gateway on one :class:`~anonymizer.pipeline.job.Job`: receive -> spool -> settle -> run -> deliver.

Processes (:mod:`anonymizer.gateway.child`: forked at start, they die with the service):
the receiver's (pynetdicom's threads, one per association) writes received instances to
the spool and reports settled studies over its pipe; the calling thread (the main
thread: signals and the per-file time limit live there) de-identifies each settled study
with :meth:`Job.process`, the same runner, worker, state, vault and layout as
``anonymizer run`` over IN = the spool; one process per destination delivers from OUT
(:class:`~anonymizer.gateway.deliver.Deliverer`), woken over its pipe when instances are
queued. The children's events reach ``emit`` in this process. A child that dies stops
the service with an error (the same command restarts it).

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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from anonymizer.errors import AnonymizerError, GatewayError
from anonymizer.gateway.backoff import RetryPolicy
from anonymizer.gateway.child import Child, Link
from anonymizer.gateway.deliver import Deliverer, make_sender
from anonymizer.gateway.destination import Listen
from anonymizer.gateway.outbox import Item, Outbox
from anonymizer.gateway.outcome import Sender
from anonymizer.gateway.receive import Receiver
from anonymizer.gateway.spool import Cleaner, Processed, Spool
from anonymizer.pipeline.job import Job, now
from anonymizer.pipeline.layout import path_key
from anonymizer.pipeline.runner import RunSummary

Emit = Callable[[dict[str, Any]], None]
MANIFEST_EVERY = 30.0  # seconds: how stale OUT's manifest may get while studies keep settling


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
        self._cleaner = Cleaner(self.spool)
        self.summary = RunSummary()  # every study processed since the start
        self.port: int | None = None
        self._todo: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._deliverers: list[Child] = []
        self._receiver: Child | None = None
        self._receiver_stopped: tuple[int, int] | None = None  # (aborted associations, unsettled studies)
        self._closing = False  # children are being stopped: a closed pipe is expected
        self._lost = ""  # the child that died unexpectedly
        self._started = now()
        self._unwritten = False  # studies processed since the manifest was written
        self._written = time.monotonic()  # when it was last written (or the service started)
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
        AnonymizerError
            The receiving or a delivering process died (exit code 1; the same command restarts).
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
        if self._lost:
            message = f"the gateway's {self._lost} process ended unexpectedly; the same command restarts it"
            raise AnonymizerError(message)
        return self.summary

    def _start(self, senders: list[tuple[str, Sender]]) -> None:
        """Fork the deliverers and the receiver (before any thread starts), then relay their messages."""
        options = self.options
        for url, sender in senders:
            target = partial(_delivering, self.job.state_dir, self.job.out_dir, url, sender, options.retry)
            self._deliverers.append(Child("deliver", target).start())
        self._receiver = Child("receive", partial(_receiving, self.spool, options)).start()
        first = self._receiver.link.receive()
        if first is None or first[0] != "listening":
            raise GatewayError(first[1] if first is not None else "the receiving process ended before it listened")
        self.port = int(first[1])
        for child in (self._receiver, *self._deliverers):
            threading.Thread(target=self._relay, args=(child,), name="relay", daemon=True).start()
        self.emit(
            {"event": "listening", "aet": options.listen.aet, "port": self.port, "tls": options.server_tls is not None}
        )

    def _relay(self, child: Child) -> None:
        """Pass a child's messages on: events to ``emit``, settled studies to the queue."""
        while (message := child.link.receive()) is not None:
            kind = message[0]
            if kind == "event":
                self.emit(message[1])
            elif kind == "settled":
                self._todo.put(message[1])
            elif kind == "stopped":
                self._receiver_stopped = (int(message[1]), int(message[2]))
        if not self._closing:
            self._lost = child.process.name
            self.emit({"event": "process-lost", "process": self._lost})
            self._stop.set()

    def _loop(self, outbox: Outbox) -> None:
        """Process settled studies; write the manifest after a second without one, or every
        :data:`MANIFEST_EVERY` seconds while studies keep coming (it lists all of OUT)."""
        while not self._stop.is_set():
            try:
                study = self._todo.get(timeout=1.0)
            except queue.Empty:
                self._write_manifest()
                continue
            self._process(study, outbox)
            if time.monotonic() - self._written >= MANIFEST_EVERY:
                self._write_manifest()

    def _process(self, study: str, outbox: Outbox) -> None:
        """De-identify one study's spooled instances, queue what is done, empty its spool folder."""
        self._cleaner.wait(study)
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
            for deliverer in self._deliverers:
                deliverer.link.send("wake")
        self._cleaner.discard(study, settled)
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

    def _settled(self, study: str) -> tuple[list[Item], list[Processed]]:
        """The outputs of a study's spooled instances the state records as done, and the spool files
        whose outcome is final (done or skipped by design); failed ones stay for review."""
        state = self.job.state
        assert state is not None
        items: list[Item] = []
        settled: list[Processed] = []
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
                settled.append((path, stat.st_size, stat.st_mtime_ns))
            elif previous.status == "skipped":
                settled.append((path, stat.st_size, stat.st_mtime_ns))
        return items, settled

    def _write_manifest(self) -> None:
        if self._unwritten:
            self.job.write_manifest(self.summary, self._started)
            self._unwritten = False
        self._written = time.monotonic()

    def _shutdown(self) -> None:
        self._cleaner.close()
        self._closing = True
        if self._receiver is not None:
            self._receiver.link.send("stop", self.options.drain)
            self._receiver.join(self.options.drain + 10)
            aborted, pending = self._receiver_stopped or (-1, -1)
            self.emit({"event": "receiver-stopped", "aborted_associations": aborted, "unsettled_studies": pending})
        self._stop.set()
        for deliverer in self._deliverers:
            deliverer.link.send("stop")
        for deliverer in self._deliverers:
            deliverer.join(self.options.drain)


def _receiving(spool: Spool, options: GatewayOptions, link: Link) -> None:
    """The receiver's process: listen until the parent says stop (or is gone), then drain."""
    receiver = Receiver(
        spool,
        options.listen,
        partial(link.send, "event"),
        partial(link.send, "settled"),
        options.allow_aets,
        options.server_tls,
        options.settle,
    )
    try:
        receiver.start()
    except GatewayError as exc:
        link.send("error", str(exc))
        return
    link.send("listening", receiver.port)
    message = link.receive()  # ("stop", drain), or None: the parent is gone
    aborted = receiver.stop(float(message[1]) if message is not None else 0.0)
    link.send("stopped", aborted, receiver.pending())


def _delivering(state_dir: Path, out_dir: Path, url: str, sender: Sender, policy: RetryPolicy, link: Link) -> None:
    """A deliverer's process: deliver until the parent says stop (or is gone); "wake" means new work."""
    stop = threading.Event()
    deliverer = Deliverer(state_dir, out_dir, url, sender, policy, partial(link.send, "event"), stop)

    def listen() -> None:
        while (message := link.receive()) is not None and message[0] != "stop":
            deliverer.wake()
        stop.set()
        deliverer.wake()

    threading.Thread(target=listen, name="wake", daemon=True).start()
    deliverer.run()
