"""A total deadline for one delivery: name lookup, connect, TLS, sending and reading the reply.

Socket timeouts bound each read, not the request: a server that drips one byte every half
second keeps a request alive for as long as it likes. So the work runs in a daemon thread that
the caller waits for at most `seconds`; at the deadline the caller stops waiting and shuts down
every socket the work opened (the connection code registers them with `track`), which ends
the work promptly instead of leaving it to drip on.
"""

from __future__ import annotations

import socket
import threading
from typing import Callable, TypeVar

T = TypeVar("T")
_current = threading.local()
SLACK = 5.0  # socket timeouts run this much longer than the deadline: the deadline always speaks first


def socket_timeout(seconds: float) -> float:
    """The per-operation timeout for sockets of work bounded by `within(seconds, ...)`: a
    backstop only, should cutting the sockets ever fail."""
    return seconds + SLACK


class DeadlineExceeded(TimeoutError):
    """The work did not finish within its total time."""


class _Sockets:
    """The sockets one piece of work opened, as duplicates: shutting one down ends the
    connection for the worker too, whatever it wrapped the original in (TLS)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._closed = False

    def add(self, sock: socket.socket) -> None:
        twin = sock.dup()
        with self._lock:
            if not self._closed:
                self._open.append(twin)
                return
        _shutdown(twin)  # the deadline passed while this one was connecting

    def close(self, cut: bool) -> None:
        with self._lock:
            self._closed = True
            twins, self._open = self._open, []
        for twin in twins:
            if cut:
                _shutdown(twin)
            else:
                twin.close()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the other side
    sock.close()


def track(sock: socket.socket) -> socket.socket:
    """Register a socket opened by work running under `within` (a no-op elsewhere)."""
    sockets = getattr(_current, "sockets", None)
    if sockets is not None:
        sockets.add(sock)
    return sock


def within(seconds: float, work: Callable[[], T]) -> T:
    """`work()`'s result or exception, or DeadlineExceeded once `seconds` have passed."""
    sockets = _Sockets()
    outcome: dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        _current.sockets = sockets
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as is
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="detectkit-delivery", daemon=True).start()
    finished = done.wait(seconds)
    sockets.close(cut=not finished)
    if not finished:
        raise DeadlineExceeded(f"no complete reply within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
