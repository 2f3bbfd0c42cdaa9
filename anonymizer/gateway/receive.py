"""The C-STORE and C-ECHO SCP: every received instance is in the spool before the sender hears success.

A spool write error answers ``0xA700`` (out of resources: the sender may retry); a
dataset without readable Study or SOP Instance UIDs answers ``0xC000``. Calling AE
titles outside ``allow_aets`` are rejected at association time (A-ASSOCIATE-RJ,
permanent, "calling AE title not recognised"). All storage SOP classes are accepted in
the common transfer syntaxes; as acceptor, pynetdicom takes the first syntax of the
*sender's* list that is in ours, so compressed data is stored as sent.

Events go to a callback as flat dicts (AE titles, counts, sizes, transfer syntax UIDs;
never a patient attribute, a UID or a spool name): ``association-opened``,
``association-rejected``, ``association-closed``, ``instance-refused``,
``spool-failed``, ``study-settled``.
"""

from __future__ import annotations

import errno
import io
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pydicom
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from anonymizer.errors import GatewayError
from anonymizer.gateway.destination import Listen
from anonymizer.gateway.settle import Settled, SettleTracker
from anonymizer.gateway.spool import Spool
from anonymizer.gateway.wire import set_tcp_nodelay

TRANSFER_SYNTAXES: tuple[str, ...] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
)
SUCCESS, OUT_OF_RESOURCES, CANNOT_UNDERSTAND = 0x0000, 0xA700, 0xC000
Sink = Callable[[dict[str, Any]], None]


def read_uids(data: bytes) -> tuple[str, str]:
    """(StudyInstanceUID, SOPInstanceUID) of an encoded file; ValueError when either is missing or unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's warnings quote values
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=[0x0020000D, 0x00080018])
            study, sop = str(ds.get("StudyInstanceUID") or ""), str(ds.get("SOPInstanceUID") or "")
    except Exception:  # pydicom raises many types on bad input; its messages quote values
        raise ValueError("unreadable") from None
    if not study or not sop:
        raise ValueError("missing-uid")
    return study, sop


@dataclass
class _Association:
    calling_aet: str
    opened: float
    instances: int = 0
    failures: int = 0
    released: bool = False


class Receiver:
    """pynetdicom SCP writing every C-STORE to a :class:`~anonymizer.gateway.spool.Spool`.

    Parameters
    ----------
    spool : Spool
        Where instances go.
    listen : Listen
        Our AE title, address and port (port 0: a free one, see :attr:`port`).
    on_event : callable
        Gets event dicts from pynetdicom's threads and the settle ticker: thread-safe and quick.
    on_settled : callable
        Gets each settled study's spool key (same threads).
    allow_aets : sequence of str
        Calling AE titles allowed to associate (empty: any).
    ssl_context : ssl.SSLContext or None
        Serve DICOM over TLS.
    settle_seconds : float
        Quiet time after which a study counts as settled.
    """

    def __init__(
        self,
        spool: Spool,
        listen: Listen,
        on_event: Sink,
        on_settled: Callable[[str], None],
        allow_aets: Sequence[str] = (),
        ssl_context: ssl.SSLContext | None = None,
        settle_seconds: float = 30.0,
    ):
        self.spool, self.listen, self.emit, self.on_settled = spool, listen, on_event, on_settled
        self.ssl_context = ssl_context
        self.tracker = SettleTracker(settle_seconds)
        self._associations: dict[Association, _Association] = {}
        self._lock = threading.Lock()
        self._server: ThreadedAssociationServer | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.ae = AE(ae_title=listen.aet)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                self.ae.add_supported_context(context.abstract_syntax, list(TRANSFER_SYNTAXES))
        self.ae.add_supported_context(Verification, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        self.ae.require_calling_aet = list(allow_aets)
        self.ae.maximum_associations = 10

    @property
    def port(self) -> int:
        """The port listened on (the real one when asked for port 0)."""
        if self._server is None:
            raise RuntimeError("the receiver is not started")
        return int(self._server.server_address[1])

    def start(self) -> Receiver:
        """Listen (in pynetdicom's threads) and start the settle ticker.

        Raises
        ------
        GatewayError
            The address cannot be listened on (in use, not ours, no permission).
        """
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, lambda event: SUCCESS),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_RELEASED, self._on_released),
            (evt.EVT_CONN_CLOSE, self._on_closed),
            (evt.EVT_CONN_OPEN, lambda event: set_tcp_nodelay(event.assoc)),
        ]
        address = (self.listen.host, self.listen.port)
        try:
            self._server = self.ae.start_server(
                address, block=False, evt_handlers=handlers, ssl_context=self.ssl_context
            )
        except OSError as exc:
            raise GatewayError(
                f"cannot listen on the --listen address ({exc.strerror or type(exc).__name__})"
            ) from None
        interval = max(0.05, min(1.0, self.tracker.idle_seconds / 4))
        self._ticker = threading.Thread(target=self._tick, args=(interval,), name="settle-ticker", daemon=True)
        self._ticker.start()
        return self

    def stop(self, drain: float = 30.0) -> int:
        """Stop listening, let open associations finish (``drain`` seconds at most, then abort them).

        Returns how many associations had to be aborted.
        """
        server, self._server = self._server, None
        aborted = 0
        if server is not None:
            server.shutdown()  # no new associations; open ones go on
            deadline = time.monotonic() + drain
            while server.active_associations and time.monotonic() < deadline:
                time.sleep(0.05)
            for assoc in server.active_associations:
                assoc.abort()
                aborted += 1
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(5)
            self._ticker = None
        return aborted

    def pending(self) -> int:
        """Studies received but not settled yet."""
        return len(self.tracker.pending())

    # --- pynetdicom handlers (its threads) -------------------------------------------------

    def _on_store(self, event: Event) -> int:
        state = self._state(event.assoc)
        try:
            data = event.encoded_dataset(include_meta=True)
            study_uid, sop_uid = read_uids(data)
        except ValueError as exc:
            state.failures += 1
            self.emit({"event": "instance-refused", "calling_aet": state.calling_aet, "reason": str(exc)})
            return CANNOT_UNDERSTAND
        try:
            spooled = self.spool.store(data, study_uid, sop_uid)
        except OSError as exc:
            state.failures += 1
            self.emit({"event": "spool-failed", "calling_aet": state.calling_aet, "error": _errno_name(exc)})
            return OUT_OF_RESOURCES
        state.instances += 1
        self.tracker.arrived(spooled.study, event.assoc)
        return SUCCESS

    def _state(self, assoc: Association) -> _Association:
        with self._lock:
            state = self._associations.get(assoc)
            if state is None:
                state = self._associations[assoc] = _Association(assoc.requestor.ae_title, time.monotonic())
            return state

    def _on_accepted(self, event: Event) -> None:
        state = self._state(event.assoc)
        self.tracker.opened(event.assoc)
        self.emit({"event": "association-opened", "calling_aet": state.calling_aet})

    def _on_rejected(self, event: Event) -> None:
        self.emit({"event": "association-rejected", "calling_aet": event.assoc.requestor.ae_title})

    def _on_released(self, event: Event) -> None:
        self._state(event.assoc).released = True
        for settled in self.tracker.released(event.assoc):
            self._settled(settled)

    def _on_closed(self, event: Event) -> None:
        with self._lock:
            state = self._associations.pop(event.assoc, None)
        if state is None:  # rejected, or never negotiated
            return
        if not state.released:
            self.tracker.aborted(event.assoc)
        self.emit(
            {
                "event": "association-closed",
                "calling_aet": state.calling_aet,
                "how": "released" if state.released else "aborted",
                "instances": state.instances,
                "failures": state.failures,
                "seconds": round(time.monotonic() - state.opened, 3),
            }
        )

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            for settled in self.tracker.due():
                self._settled(settled)

    def _settled(self, settled: Settled) -> None:
        self.emit({"event": "study-settled", "instances": settled.instances, "reason": settled.reason})
        self.on_settled(settled.study)


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
