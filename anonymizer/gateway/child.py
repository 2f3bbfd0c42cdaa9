"""Helper processes of the gateway: forked, tied to their parent, talking over one pipe.

Receiving, de-identifying and delivering are Python code; in one process they share one
interpreter lock, and every call that releases it (a socket read, an fsync, an HMAC)
hands the lock to another thread and waits to get it back. So the receiver and each
deliverer run in a child process of their own. A child is forked before the parent
starts any thread (the child inherits no lock held mid-operation), and it

- dies with its parent (``PR_SET_PDEATHSIG`` on Linux, and it stops when the pipe
  closes): a kill -9 of the service leaves no receiver listening behind it;
- ignores SIGINT, SIGTERM and SIGHUP (a terminal and systemd signal the whole group):
  the parent handles the signal and asks each child to finish its work and stop;
- never runs the parent's exit handlers (``os._exit``): the parent's SQLite
  connections, inherited by the fork, are not touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing import get_context
from multiprocessing.connection import Connection
from typing import Any

PR_SET_PDEATHSIG = 1
_CONTEXT = get_context("fork")
_PARENT_ENDS: list[Connection] = []  # a child closes every parent end it inherits: EOF then means "parent gone"


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the closed pipe still ends the child
        pass
    if os.getppid() != parent:  # the parent died before the call above
        os._exit(1)


class Link:
    """One end of the pipe between the gateway and a child; :meth:`send` is thread-safe."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self._lock = threading.Lock()

    def send(self, *message: Any) -> None:
        """Send a message (a tuple of picklable values); nothing happens when the other end is gone."""
        with self._lock, contextlib.suppress(OSError, ValueError):  # closed, broken pipe
            self.connection.send(message)

    def receive(self) -> tuple[Any, ...] | None:
        """The next message, or None when the other end is gone."""
        try:
            message: tuple[Any, ...] = self.connection.recv()
        except (EOFError, OSError):
            return None
        return message


def _bootstrap(target: Callable[[Link], None], connection: Connection, parent: int) -> None:
    _die_with_parent(parent)
    for end in _PARENT_ENDS:
        end.close()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    code = 0
    try:
        target(Link(connection))
    except BaseException:  # the parent sees the pipe close and reports the child as lost
        code = 1
    os._exit(code)


class Child:
    """Run ``target(link)`` in a forked child process; the parent talks to it through :attr:`link`.

    Parameters
    ----------
    name : str
        The process name (shown by ``ps`` with ``-o comm`` on some systems).
    target : callable
        Runs in the child with its end of the pipe; the child exits when it returns.
    """

    def __init__(self, name: str, target: Callable[[Link], None]):
        ours, theirs = _CONTEXT.Pipe()
        self.link = Link(ours)
        self._theirs = theirs
        _PARENT_ENDS.append(ours)
        self.process = _CONTEXT.Process(target=_bootstrap, args=(target, theirs, os.getpid()), name=name, daemon=True)

    def start(self) -> Child:
        """Fork the child (call before the parent starts threads)."""
        self.process.start()
        self._theirs.close()
        return self

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the child to end, then kill it."""
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.link.connection.close()
        if self.link.connection in _PARENT_ENDS:
            _PARENT_ENDS.remove(self.link.connection)
