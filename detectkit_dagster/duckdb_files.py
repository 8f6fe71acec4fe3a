"""DuckDB files opened by attaching them to one in-process database, for one operation each.

Opening a DuckDB database builds a new instance and catalog, about 12 ms; attaching a file to a
database that is already open takes under 1 ms and the same file lock, released on detach. A run
touches each metric's file several times per step, so this is most of a short step's cost.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

LOCK_WAIT_SECONDS = 60.0
# A metric's tables are small next to what DuckDB assumes by default (80% of RAM, a thread per
# core, 128 MB kept for later): a run touches many of them one short transaction at a time.
# A bulk insert holds its rows uncompressed until it writes them out a row group at a time, and
# by default buffers 5 row groups of 122,880 rows first: a year of detections would sit in memory
# whole. Small row groups written one by one bound that (and prune range reads more finely).
CONNECTION_CONFIG = {"memory_limit": "256MB", "threads": 1, "allocator_flush_threshold": "16MB",
                     "write_buffer_row_group_count": 1}
ROW_GROUP_SIZE = 16_384


class FileAttacher:
    """`with attacher(path) as con:` a connection whose default database is the file at `path`.

    The file stays attached while any `with` block of this process uses it (nested or from
    other threads) and is detached by the last one, so no process holds a file longer than its
    own short transactions. A file another process holds is waited for, with backoff.

    The database keeps the memory its largest call needed; after a bulk call (a backfill's
    range), `give_back_memory()` closes it once nothing is attached, and the next call opens a
    new one."""

    def __init__(self, wait_seconds: float = LOCK_WAIT_SECONDS):
        self._wait_seconds = wait_seconds
        self._guard = threading.Lock()
        self._database: duckdb.DuckDBPyConnection | None = None
        self._pid: int | None = None
        self._attached: dict[str, list] = {}  # resolved path -> [alias, users]
        self._aliases = itertools.count()
        self._close_when_idle = False

    @contextmanager
    def __call__(self, path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
        key = str(Path(path).resolve())
        alias, database = self._attach(key)
        try:
            con = database.cursor()
            try:
                con.execute(f"USE {alias}")
                yield con
            finally:
                con.close()
        finally:
            self._release(key)

    def _attach(self, key: str) -> tuple[str, duckdb.DuckDBPyConnection]:
        deadline, delay = time.monotonic() + self._wait_seconds, 0.05
        while True:
            with self._guard:
                database = self._current()
                if key in self._attached:
                    self._attached[key][1] += 1
                    return self._attached[key][0], database
                alias = f"file_{next(self._aliases)}"
                try:
                    quoted = key.replace(chr(39), chr(39) * 2)
                    database.execute(f"ATTACH '{quoted}' AS {alias} (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
                    self._attached[key] = [alias, 1]
                    return alias, database
                except duckdb.Error as exc:  # held by another process, or by other code in this one
                    held = any(word in str(exc).lower() for word in ("lock", "unique file handle"))
                    if not held or time.monotonic() + delay > deadline:
                        raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _release(self, key: str) -> None:
        with self._guard:
            entry = self._attached[key]
            entry[1] -= 1
            if entry[1] == 0:
                del self._attached[key]
                self._database.execute(f"DETACH {entry[0]}")
            if self._close_when_idle and not self._attached:
                self._database.close()
                self._database, self._close_when_idle = None, False

    def give_back_memory(self) -> None:
        with self._guard:
            self._close_when_idle = self._database is not None

    def _current(self) -> duckdb.DuckDBPyConnection:
        """The process's database; a forked child opens its own (a DuckDB instance is not fork-safe)."""
        if self._database is None or self._pid != os.getpid():
            self._database = duckdb.connect(config=CONNECTION_CONFIG)
            self._pid, self._attached = os.getpid(), {}
        return self._database


ATTACHER = FileAttacher()
