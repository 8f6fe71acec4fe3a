"""What every source backend provides, the registry that picks one per profile type, and the
guards every server backend shares: a total deadline per query, TCP keepalives, secrets
scrubbed from errors, and driver rows turned into polars columns."""

from __future__ import annotations

import os
import re
import socket
import threading
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

import polars as pl

from ..errors import SourceError


class Source(Protocol):
    """Runs one rendered query and returns its result; every failure is a `SourceError`
    whose text is safe to show (no password, no secret URL part)."""

    @property
    def label(self) -> str:
        """Where the query runs, for messages (never a secret)."""

    def fetch(self, sql: str) -> pl.DataFrame:
        """The result set of `sql` as a polars frame."""


# profile type -> constructor(profile, project root)
REGISTRY: dict[str, Callable[[object, Path], Source]] = {}


def register(*types: str):
    def add(factory):
        for kind in types:
            REGISTRY[kind] = factory
        return factory
    return add


def make_source(profile, root: Path) -> Source:
    """The source a `profiles.yml` profile describes (paths relative to the project root)."""
    factory = REGISTRY.get(getattr(profile, "type", None))
    if factory is None:
        raise SourceError(f"unsupported profile type: {getattr(profile, 'type', profile)!r}")
    return factory(profile, root)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# -- secrets -----------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s/?&=:@;,'\"]+")
MIN_PIECE = 4


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced by ***, and every piece of one too: drivers echo a
    malformed DSN or URL cut at spaces and separators. Pieces shorter than 4 characters
    stay, or every message would lose its digits."""
    words = set()
    for secret in secrets:
        if secret:
            words.add(secret)
            words.update(p for p in _SEPARATORS.split(secret) if len(p) >= MIN_PIECE)
    for word in sorted(words, key=len, reverse=True):
        text = text.replace(word, "***")
    return text


def safe_error(exc: BaseException, secrets: Iterable[str | None],
               describe: Callable[[BaseException], str] = first_line) -> str:
    """A driver error in one line (its first, unless `describe` knows better), scrubbed."""
    return scrub(describe(exc), secrets)


# -- bounded time ------------------------------------------------------------------------------


class Deadline:
    """The total time one query may take: connecting, running and reading its rows.

    Driver timeouts bound each wait on the socket, not their sum, and a server whose
    processes are stopped keeps the connection open without answering. When the time is up,
    a timer thread runs the registered interrupt (`shut_down` of the connection's socket), the
    blocked driver call fails at once, and `timed_out` turns that failure into one clear error.
    """

    def __init__(self, seconds: float, label: str):
        self.seconds = seconds
        self.label = label
        self.expired = False
        self._interrupt: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        with self._lock:  # an interrupt in progress finishes before the connection closes
            self._interrupt = None

    def on_expiry(self, interrupt: Callable[[], None]) -> None:
        with self._lock:
            self._interrupt = interrupt
            if self.expired:
                _quietly(interrupt)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._interrupt is not None:
                _quietly(self._interrupt)

    def timed_out(self) -> SourceError:
        return SourceError(f"query on {self.label} did not finish within {self.seconds:g} s "
                           "(query_timeout of the profile); the server may be down or overloaded", retryable=True)


def _quietly(interrupt: Callable[[], None]) -> None:
    try:
        interrupt()
    except (OSError, ValueError):
        pass  # the connection is already gone: nothing left to interrupt


def shut_down(fd: int) -> None:
    """Shut a connected socket down for both directions (through a duplicate of its fd, so
    the driver still owns and closes the original)."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 30, 10, 3


def keep_alive(sock: socket.socket, user_timeout_seconds: float) -> None:
    """TCP keepalives and a TCP user timeout, so a vanished host or a cut network ends the
    connection even while no query is waiting on it."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE), ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
                        ("TCP_KEEPCNT", KEEPALIVE_COUNT),
                        ("TCP_USER_TIMEOUT", int(user_timeout_seconds * 1000))):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


# -- driver values to polars --------------------------------------------------------------------

_INT64_MAX = 2**63 - 1


def frame_from_columns(names: Sequence[str], columns: Sequence[Sequence]) -> pl.DataFrame:
    """Driver values as polars columns, the same whatever the backend: decimals and integers
    beyond 64 bits become floats; timestamps with a zone become their instants, keeping the
    zone's name (the loader converts them to naive UTC and says so); the rest as polars reads it."""
    return pl.DataFrame([_series(name, list(values)) for name, values in zip(names, columns)])


def frame_from_rows(names: Sequence[str], rows: Sequence[Sequence]) -> pl.DataFrame:
    return frame_from_columns(names, list(zip(*rows)) if rows else [()] * len(names))


def cursor_frame(conn, sql: str, label: str) -> pl.DataFrame:
    """The result of `sql` on a DB-API connection as a frame."""
    with conn.cursor() as cur:
        cur.execute(sql)
        if cur.description is None:
            raise SourceError(f"query on {label} returned no result set")
        return frame_from_rows([column[0] for column in cur.description], cur.fetchall())


def _series(name: str, values: list) -> pl.Series:
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, Decimal) or _wide_ints(sample, values):
        return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
    if isinstance(sample, datetime) and sample.tzinfo is not None:
        instants = [None if v is None else v.astimezone(timezone.utc).replace(tzinfo=None) for v in values]
        series = pl.Series(name, instants, dtype=pl.Datetime("us")).dt.replace_time_zone("UTC")
        return series.dt.convert_time_zone(_zone_name(sample.tzinfo))
    return pl.Series(name, values, strict=False)


def _wide_ints(sample, values: list) -> bool:
    return (isinstance(sample, int) and not isinstance(sample, bool)
            and any(v is not None and abs(v) > _INT64_MAX for v in values))


def _zone_name(tz) -> str:
    """IANA name of a pytz or zoneinfo zone; 'UTC' for a bare offset (the instants are exact)."""
    name = getattr(tz, "zone", None) or getattr(tz, "key", None)
    return name if isinstance(name, str) and name else "UTC"


def fetch_bounded(*, label: str, timeout: float, connect: Callable, query: Callable, fileno: Callable,
                  close: Callable, errors: tuple[type[BaseException], ...], secrets: Iterable[str | None],
                  describe: Callable[[BaseException], str] = first_line):
    """`query(connect())` within `timeout` seconds in all, every driver error a scrubbed
    `SourceError`. `fileno(connection)` gives the socket to shut down when time is up."""
    secrets = list(secrets)
    deadline = Deadline(timeout, label)
    conn = None
    try:
        with deadline:
            try:
                conn = connect()
            except errors as exc:
                raise _failure(deadline, f"cannot connect to {label}", safe_error(exc, secrets, describe),
                               retryable=True) from None
            fd = fileno(conn)
            deadline.on_expiry(lambda: shut_down(fd))
            try:
                return query(conn)
            except errors as exc:
                raise _failure(deadline, f"query failed on {label}", safe_error(exc, secrets, describe)) from None
    finally:
        # Closed only after the deadline is disarmed: its fd must not be shut down once reused.
        if conn is not None:
            try:
                close(conn)
            except Exception:  # noqa: BLE001 - a broken connection may fail to close; nothing to keep
                pass


def _failure(deadline: Deadline, what: str, detail: str, retryable: bool = False) -> SourceError:
    """A deadline or a refused connection may pass on the next attempt; a failed query will not."""
    return deadline.timed_out() if deadline.expired else SourceError(f"{what}: {detail}", retryable)
