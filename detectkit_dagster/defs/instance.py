"""The local Dagster instance: Dagster's SQLite storage, with a range run's partition
materializations stored in one transaction per file.

Dagster's SQLite event log stores each event on connections of its own, one to the run's file and
one to the index, each committed and closed: about 10 ms an event, and a 1-year range run
records a materialization per asset and partition (1,464). With `DAGSTER_EVENT_BATCH_SIZE` set,
Dagster hands a step's partition materializations to the storage as one batch; its PostgreSQL
storage writes such a batch in one statement, its SQLite storage one event at a time. This one
writes the batch in one transaction per file, with the rows and index entries Dagster writes for
each event. Every other event is stored exactly as Dagster stores it.
"""

from __future__ import annotations

import os
from typing import Sequence

from dagster import DagsterEventType, EventLogEntry, StringSource
from dagster._core.storage.event_log import SqliteEventLogStorage  # not re-exported by dagster
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable

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
        super().__init__(os.path.join(dagster_home, "history", "runs"), inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

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
