"""The I/O manager: polars frames in the project's storage, one time range per write.

Asset keys are `<metric key>/<table>`; partitions are time windows on the `timestamp` column.
A write replaces exactly the window it covers, in one transaction, so a re-run leaves one
copy and a failed write leaves the previous rows in place. An asset whose definition
metadata names `detectkit/owned_keys` ({"column": ..., "keys": [...]}) replaces only the rows
of those keys (the configured detectors or alert blocks); one that names
`detectkit/invalidates` (a table) deletes that table's rows after the window start first
(state derived from the rows it rewrites).
"""

from __future__ import annotations

import dagster as dg
import polars as pl

from ..pipeline import stale_after
from ..schemas import TABLE_ORDER, TABLE_SCHEMAS
from ..storage import Storage, Write
from .context import naive_window

OWNED_KEYS = "detectkit/owned_keys"
INVALIDATES = "detectkit/invalidates"


class MetricTablesIOManager(dg.IOManager):
    def __init__(self, storage: Storage):
        self.storage = storage

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | None) -> None:
        if obj is None:
            return
        store, table = self.storage.metric(context.asset_key.path[0]), context.asset_key.path[-1]
        start, end = _window(context)
        meta = context.definition_metadata or {}
        owned = meta.get(OWNED_KEYS)
        writes = [Write(table, obj, start, end, scope=(owned["column"], owned["keys"]) if owned else None)]
        if meta.get(INVALIDATES):  # in the same transaction: never rows without their derived state gone
            derived = meta[INVALIDATES]
            writes.insert(0, Write(derived, pl.DataFrame(schema=TABLE_SCHEMAS[derived]), stale_after(start), None))
        store.replace_ranges(writes)

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        store, table = self.storage.metric(context.asset_key.path[0]), context.asset_key.path[-1]
        start, end = _window(context)
        return store.read_range(table, start, end, order_by=TABLE_ORDER.get(table, ("timestamp",)),
                                schema=TABLE_SCHEMAS.get(table))


def _window(context):
    return naive_window(context.asset_partitions_time_window) if context.has_asset_partitions else (None, None)


def metric_tables_io_manager(storage_key: str) -> dg.IOManagerDefinition:
    """The I/O manager over the storage resource named `storage_key`."""

    @dg.io_manager(required_resource_keys={storage_key})
    def metric_tables(init_context) -> MetricTablesIOManager:
        return MetricTablesIOManager(getattr(init_context.resources, storage_key))

    return metric_tables
