"""Three workarounds for pynetdicom 3.0 associations (measured in the gateway prototype).

- Nagle's algorithm: pynetdicom leaves it on, and with the peer's delayed ACK every
  C-STORE waits about 40 ms (about 20 instances/s instead of 130 to 160).
- A dead peer is not noticed while ``send_c_store`` waits for its response.
- The reactor thread can take a C-STORE response off the queue before the caller.

The last two use pynetdicom internals; a test fails if an upgrade removes them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

from pynetdicom.association import Association


def set_tcp_nodelay(assoc: Association) -> bool:
    """Disable Nagle's algorithm on an association's TCP socket; return whether it was set.

    pynetdicom writes a C-STORE as several small sends (command PDU, then data PDUs)
    and leaves Nagle's algorithm on; with the peer's delayed ACK each message can wait
    about 40 ms.
    Works on plain and TLS sockets; a no-op once the socket is gone.
    """
    transport = getattr(assoc.dul, "socket", None)
    sock = getattr(transport, "socket", None)
    if sock is None:
        return False
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return True
    return False


@contextlib.contextmanager
def wake_on_connection_loss(assoc: Association, interval: float = 0.2) -> Iterator[None]:
    """While the block runs, watch the association's connection; if it dies, wake pynetdicom.

    pynetdicom 3.0 notices a peer's TCP close (its DUL thread ends and the association
    is marked aborted) but a ``send_c_store`` already waiting for the response keeps
    waiting until ``dimse_timeout``: measured here, a receiver killed mid-transfer cost
    the full 60 s timeout. This watchdog puts the "no message" marker on the DIMSE
    queue as soon as the DUL thread is gone, so the call returns at once with no
    status. Uses ``assoc.dul`` and ``assoc.dimse.msg_queue`` (pynetdicom internals);
    without them it does nothing and the timeout applies.
    """
    done = threading.Event()

    def watch() -> None:
        while not done.wait(interval):
            dul = getattr(assoc, "dul", None)
            queue = getattr(getattr(assoc, "dimse", None), "msg_queue", None)
            if dul is None or queue is None:
                return
            if not dul.is_alive():
                queue.put((None, None))
                return

    thread = threading.Thread(target=watch, name="dimse-watchdog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5)


def reserve_responses_for_caller(assoc: Association) -> bool:
    """Stop the association's reactor thread from taking DIMSE messages off the queue.

    In pynetdicom 3.0 ``send_c_store`` pauses the reactor thread with a flag handshake
    that has a race: when the reactor is preempted between raising its "paused" flag
    and passing the checkpoint, it can take the C-STORE response off the queue itself,
    log "Received unexpected C-STORE service message" and drop it, and the sender then
    waits ``dimse_timeout`` for nothing. Seen here once in 500 sends to a fast
    receiver. A pure C-STORE SCU never needs the reactor to serve DIMSE requests, so
    for such an association the reactor is made to see an empty queue.

    Returns whether the guard was installed (it needs pynetdicom internals: the
    association is the reactor thread, ``assoc.dimse.get_msg``).
    """
    dimse = getattr(assoc, "dimse", None)
    original = getattr(dimse, "get_msg", None)
    if dimse is None or original is None or not isinstance(assoc, threading.Thread):
        return False

    def get_msg(block: bool = False) -> Any:
        if threading.current_thread() is assoc:
            return None, None
        return original(block)

    dimse.get_msg = get_msg
    return True
