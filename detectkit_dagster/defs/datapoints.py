"""`<metric>/datapoints`: the metric's query result on its grid, one row per interval."""

from contextlib import contextmanager
from datetime import datetime, timedelta

import dagster as dg
import polars as pl

from ..errors import SourceError
from ..pipeline import Window, completeness_check, span, split
from ..sources import load_datapoints, make_source
from ..storage import Storage
from ..timegrid import ceil_to_grid, floor_to_grid, utc_now
from .checks import check_spec, emit_partition_checks
from .context import MetricContext, readable_failures
from .io_manager import INVALIDATES
from .metadata import add_partition_metadata, code_reference, table_metadata

CHECK = "complete"
# Transient source failures (a connection refused, a timeout) retry with backoff; a wrong query
# or wrong data fail at once.
RETRIES = 2
RETRY_WAIT_SECONDS = 10  # doubled on each attempt


def load_range(mc: MetricContext, window: Window, now: datetime) -> tuple[datetime, datetime]:
    """The part of a window that holds complete intervals of loadable time."""
    metric = mc.metric
    start = max(window.start, ceil_to_grid(metric.loading_start_time, metric.interval_seconds))
    # A point t covers [t, t + interval): it is complete once now - delay has passed its end.
    complete_end = floor_to_grid(now - timedelta(seconds=metric.loading_delay_seconds), metric.interval_seconds)
    return start, max(start, min(window.end, complete_end))


def datapoints_asset(mc: MetricContext, storage: Storage) -> dg.AssetsDefinition:
    metric = mc.metric
    spec = check_spec(mc, "datapoints", CHECK, "Fails when loaded points of the partition have no data.")

    @dg.asset(
        **mc.asset_args("datapoints", f"The metric on its {metric.interval} grid; missing intervals are NaN rows.",
                        {storage.kind, "polars", "sql"}),
        check_specs=[spec],
        metadata={INVALIDATES: "alert_state", **table_metadata(storage, mc.ident, "datapoints"),
                  **code_reference(metric.path)},
    )
    def datapoints(context: dg.AssetExecutionContext):
        windows = mc.windows(context)
        start, end = load_range(mc, span(windows), utc_now())
        profile_name, profile = mc.project.profile_for(metric)
        with readable_failures(mc, "loading"), _retrying_transient(context):
            loaded = load_datapoints(metric, make_source(profile, mc.project.root), start, end)
        keys, parts = context.partition_keys, split(loaded.frame, windows)
        outcomes = {key: completeness_check(rows) for key, rows in zip(keys, parts)}
        metadata = {key: _partition_metadata(rows, outcomes[key]) for key, rows in zip(keys, parts)}
        metadata[keys[-1]].update(_load_metadata(loaded, profile_name, start, end))
        add_partition_metadata(context, metadata)
        yield dg.Output(loaded.frame)
        yield from emit_partition_checks(context, spec, outcomes)

    return datapoints


@contextmanager
def _retrying_transient(context: dg.AssetExecutionContext):
    """A source error that may pass (network, timeout, server unavailable) asks Dagster to run
    the step again with backoff; anything else fails at once."""
    try:
        yield
    except SourceError as exc:
        attempt = context.retry_number
        if not exc.retryable or attempt >= RETRIES:
            raise
        context.log.warning("loading failed (attempt %d of %d): %s; retrying", attempt + 1, RETRIES + 1, exc)
        raise dg.RetryRequested(max_retries=RETRIES, seconds_to_wait=RETRY_WAIT_SECONDS * 2 ** attempt) from None


def _partition_metadata(rows: pl.DataFrame, outcome) -> dict:
    meta = {"dagster/partition_row_count": rows.height, **outcome.metadata}
    if rows.height:
        meta["first_timestamp"] = str(rows["timestamp"].min())
        meta["last_timestamp"] = str(rows["timestamp"].max())
    return meta


def _load_metadata(loaded, profile_name: str, start: datetime, end: datetime) -> dict:
    """What the run's query did, for its whole range (shown on the newest partition)."""
    stats = loaded.stats
    meta = {
        "profile": profile_name,
        "loaded_range": f"{start} .. {end}",
        "query_seconds": round(stats.query_seconds, 3),
        "source_rows": stats.source_rows,
        "off_grid_rows_dropped": stats.off_grid_rows,
        "outside_range_rows_dropped": stats.outside_range_rows,
    }
    if stats.warnings:
        meta["warnings"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in stats.warnings))
    return meta
