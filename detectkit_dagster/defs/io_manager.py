"""The I/O manager: polars frames in per-metric DuckDB files, one time partition per write.

Asset keys are `<metric>/<table>`; partitions are time windows on the `timestamp` column.
A write replaces exactly the window it covers, in one transaction, so a re-run leaves one
copy and a failed write leaves the previous rows in place. An asset whose definition
metadata names `detectkit/owned_keys` ({"column": ..., "keys": [...]}) replaces only the rows
of those keys (the configured detectors or alert blocks).
"""

from __future__ import annotations

import dagster as dg
import polars as pl

from ..schemas import TABLE_SCHEMAS
from ..storage import DuckDBStorage, MetricStore


OWNED_KEYS = "detectkit/owned_keys"


def naive_window(window: dg.TimeWindow):
    """Dagster time windows are tz-aware UTC; storage is naive UTC."""
    return window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)


class MetricStoreIOManager(dg.ConfigurableIOManager):
    storage_dir: str

    def _store(self, key: dg.AssetKey) -> tuple[MetricStore, str]:
        return DuckDBStorage(self.storage_dir).metric(key.path[0]), key.path[-1]

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | None) -> None:
        if obj is None:
            return
        store, table = self._store(context.asset_key)
        start, end = naive_window(context.asset_partitions_time_window) if context.has_asset_partitions else (None, None)
        owned = (context.definition_metadata or {}).get(OWNED_KEYS)
        scope = (owned["column"], owned["keys"]) if owned else None
        store.replace_range(table, obj, start, end, scope=scope)

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        store, table = self._store(context.asset_key)
        start, end = naive_window(context.asset_partitions_time_window) if context.has_asset_partitions else (None, None)
        return store.read_range(table, start, end, schema=TABLE_SCHEMAS.get(table))
