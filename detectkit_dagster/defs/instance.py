"""The local Dagster instance: Dagster's SQLite storage, storing a range run's events with fewer
transactions and without compiling every statement again.

Dagster's SQLite event log stores each event on connections of its own, to the run's file and to
the index, each through a new engine (so each statement is compiled anew), committed and closed:
about 10 ms an event, and a range run records a materialization per asset and partition and an
evaluation per check and partition (a 1-year backfill: 1,464 and 732). Here:
- an engine is kept per file (connections are still opened and closed per use, as Dagster's);
- with `DAGSTER_EVENT_BATCH_SIZE` set, Dagster hands a step's partition materializations over as
  one batch, which its PostgreSQL storage writes in one statement and its SQLite storage one
  event at a time: this one writes the batch in one transaction per file;
- a check evaluation's index row and the check's execution record go in one transaction (Dagster:
  two).
The rows and index entries are Dagster's; every other event is stored as Dagster stores it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from typing import Sequence

from dagster import DagsterEventType, EventLogEntry, StringSource
from dagster._core.storage.event_log import SqliteEventLogStorage  # not re-exported by dagster
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

ENGINES_KEPT = 32  # files' engines kept (a run worker uses two: its run's file and the index)
# Read by Dagster in the process that creates a run (one planned materialization per asset of a
# range run instead of one per partition) and in the process that stores its events (a step's
# partition materializations handed over in batches of this size).
RANGE_EVENTS = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1", "DAGSTER_EVENT_BATCH_SIZE": "200"}


def batch_range_events() -> None:
    """Fewer, cheaper events for the range runs this process creates or runs, unless the
    environment says otherwise."""
    for name, value in RANGE_EVENTS.items():
        os.environ.setdefault(name, value)


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """Events where Dagster's SQLite storage keeps them (`<dagster_home>/history/runs`)."""

    def __init__(self, dagster_home: str, inst_data=None):
        self._index = threading.local()  # the index connection a check evaluation is stored on
        self._engines: OrderedDict = OrderedDict()
        super().__init__(os.path.join(dagster_home, "history", "runs"), inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str):
        """A connection to a file in a transaction, closed after it, as Dagster's: through an
        engine kept per file, so its statements are compiled once, not once per event."""
        with self._db_lock:
            engine = self._engines.pop(shard, None) or create_engine(
                self.conn_string_for_shard(shard), poolclass=NullPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            self._engines[shard] = engine
            if len(self._engines) > ENGINES_KEPT:
                self._engines.popitem(last=False)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        kinds = {event.dagster_event_type for event in events}
        if kinds != {DagsterEventType.ASSET_MATERIALIZATION} or len({event.run_id for event in events}) != 1:
            return super().store_event_batch(events)
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            ids = [conn.execute(SqlEventLogStorageTable.insert().values(**row)).inserted_primary_key[0]
                   for row in rows]
            self._store_asset_event_tags(conn, events, ids)
            # the asset's row holds its latest event, as Dagster's PostgreSQL batches do
            self._store_asset_event(conn, events[-1], ids[-1])

    def store_event(self, event: EventLogEntry) -> None:
        """A check evaluation's index row and the check's execution record in one transaction
        (Dagster: two), as many as a range run has partitions."""
        if event.dagster_event_type != DagsterEventType.ASSET_CHECK_EVALUATION:
            return super().store_event(event)
        insert = self.prepare_insert_event(event)
        with self.run_connection(event.run_id) as conn:
            conn.execute(insert)
        with self.index_connection() as conn:
            event_id = conn.execute(insert).inserted_primary_key[0]
            self._index.held = conn
            try:
                self.store_asset_check_event(event, event_id)
            finally:
                self._index.held = None

    def index_connection(self):
        """In `store_event`'s check transaction, its connection (Dagster's update of the check's
        record asks for one of its own)."""
        held = getattr(self._index, "held", None)
        return nullcontext(held) if held is not None else super().index_connection()
