"""`<metric>/datapoints`: the metric's query result on its grid, one row per interval."""

from datetime import datetime, timedelta

import dagster as dg

from ..pipeline import completeness_check
from ..sources import load_datapoints, make_source
from ..timegrid import ceil_to_grid, floor_to_grid, utc_now
from .automation import loading_condition
from .checks import check_spec, emit_partition_checks
from .common import MetricContext, partition_windows, readable_failures
from .io_manager import naive_window

CHECK = "complete"


def load_range(mc: MetricContext, window: dg.TimeWindow, now: datetime) -> tuple[datetime, datetime]:
    """The part of a partition window that holds complete intervals of loadable time."""
    metric = mc.metric
    start, end = naive_window(window)
    start = max(start, ceil_to_grid(metric.loading_start_time, metric.interval_seconds))
    # A point t covers [t, t + interval): it is complete once now - delay has passed its end.
    complete_end = floor_to_grid(now - timedelta(seconds=metric.loading_delay_seconds), metric.interval_seconds)
    return start, min(end, complete_end)


def datapoints_asset(mc: MetricContext) -> dg.AssetsDefinition:
    metric = mc.metric

    spec = check_spec(mc, "datapoints", CHECK, "Fails when loaded points of the partition have no data.")

    @dg.asset(
        **mc.asset_args(
            "datapoints",
            f"The metric on its {metric.interval} grid; missing intervals are NaN rows.",
            {"duckdb", "polars", "sql"},
        ),
        check_specs=[spec],
        automation_condition=loading_condition(mc.partitioning.cron),
    )
    def datapoints(context: dg.AssetExecutionContext):
        start, end = load_range(mc, context.partition_time_window, utc_now())
        profile_name, profile = mc.project.profile_for(metric)
        source = make_source(profile, mc.project.root)
        if end <= start:
            context.log.info("no complete interval in %s .. %s yet", start, end)
        with readable_failures(mc, "loading"):
            loaded = load_datapoints(metric, source, start, max(start, end))
        yield dg.Output(loaded.frame, metadata=_metadata(loaded, profile_name, start, end))
        outcomes = {
            key: completeness_check(w.rows(loaded.frame))
            for key, w in zip(context.partition_keys, partition_windows(context, mc))
        }
        yield from emit_partition_checks(context, spec, outcomes)

    return datapoints


def _metadata(loaded, profile_name: str, start: datetime, end: datetime) -> dict:
    frame, stats = loaded.frame, loaded.stats
    missing = int(frame["value"].is_nan().sum()) if frame.height else 0
    meta = {
        "dagster/row_count": frame.height,
        "rows": frame.height,
        "missing_points": missing,
        "completeness": round(1 - missing / frame.height, 4) if frame.height else 0.0,
        "source_rows": stats.source_rows,
        "off_grid_rows_dropped": stats.off_grid_rows,
        "outside_range_rows_dropped": stats.outside_range_rows,
        "query_seconds": round(stats.query_seconds, 3),
        "loaded_from": str(start),
        "loaded_until": str(end),
        "profile": profile_name,
    }
    if frame.height:
        meta["first_timestamp"] = str(frame["timestamp"].min())
        meta["last_timestamp"] = str(frame["timestamp"].max())
    if stats.warnings:
        meta["warnings"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in stats.warnings))
    return meta
