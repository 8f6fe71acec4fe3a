"""`<metric>/alerts`: the events of every alert block, replayed over the stored detections."""

from contextlib import ExitStack
from datetime import timedelta

import dagster as dg
import polars as pl

from ..pipeline import alert_check, build_detectors, replay_alerts, save_alerts, split
from ..schemas import DATAPOINTS, DETECTIONS
from ..storage import Storage
from ..timegrid import utc_now
from .checks import check_spec, emit_partition_checks
from .context import MetricContext
from .metadata import CHART_COLUMNS, add_partition_metadata, code_reference, partition_chart, table_metadata
from .resources import STORAGE

CHECK = "no_anomaly_alert"
# Sendable events travel in the materialization metadata, where the dispatch sensor reads them.
EVENTS_TO_SEND = "detectkit/events_to_send"


def dispatch_max_age(mc: MetricContext) -> timedelta:
    """Events older than this when computed are history (a backfill), never sent."""
    return timedelta(seconds=max(3600, 3 * mc.metric.interval_seconds))


def alerts_asset(mc: MetricContext, storage: Storage, freshness: dg.FreshnessPolicy | None) -> dg.AssetsDefinition:
    metric = mc.metric
    detector_ids = [d.detector_id for d in build_detectors(metric)]
    rules = "; ".join(a.rule_text(len(detector_ids)) for a in metric.alerts) or "no alert blocks"
    spec = check_spec(mc, "alerts", CHECK, "Fails when an anomaly alert fired in the partition.")

    args = mc.asset_args("alerts", f"Alert events (anomaly, recovery, no_data) per alert block. Rules: {rules}.",
                         {storage.kind, "polars"})
    args.pop("io_manager_key")  # the asset stores its events and replay state in one transaction

    @dg.asset(
        **args,
        deps=[mc.key("detections")],
        required_resource_keys={STORAGE},
        metadata={**table_metadata(storage, mc.ident, "alerts"), **code_reference(metric.path)},
        check_specs=[spec],
        freshness_policy=freshness,
    )
    def alerts(context: dg.AssetExecutionContext):
        windows = mc.windows(context)
        store = getattr(context.resources, STORAGE).metric(mc.ident)
        run = replay_alerts(metric, detector_ids, store, windows, utc_now(), dispatch_max_age(mc))
        save_alerts(store, metric, run, windows)  # stored before the materializations dispatch reads
        by_key = dict(zip(context.partition_keys, split(run.events, windows)))
        metadata = {key: _metadata(events) for key, events in by_key.items()}
        metadata[context.partition_keys[-1]]["replay"] = (
            f"resumed from the state stored at {windows[0].start}" if run.resumed
            else "from the first stored point (no valid stored state)")
        add_partition_metadata(context, metadata)
        yield dg.MaterializeResult()
        outcomes = {key: alert_check(metric, events) for key, events in by_key.items()}
        with ExitStack() as opened:
            windows_by_key, readers = dict(zip(context.partition_keys, windows)), []

            def chart(key: str, _) -> dict:
                """A failing partition's chart, read when there is one (one connection for all)."""
                if not readers:
                    readers.append(opened.enter_context(store.reading()))
                window = windows_by_key[key]
                datapoints = readers[0].read_range("datapoints", window.start, window.end, schema=DATAPOINTS)
                detections = readers[0].read_range("detections", window.start, window.end, schema=DETECTIONS,
                                                   columns=CHART_COLUMNS)
                return {"chart": partition_chart(datapoints, detections, by_key[key])}

            yield from emit_partition_checks(context, spec, outcomes, chart)

    return alerts


def _metadata(events: pl.DataFrame) -> dict:
    count = dict(events.group_by("kind").len().iter_rows()) if events.height else {}
    to_send = events.filter(pl.col("sendable")).with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M:%S"))
    meta = {
        "dagster/partition_row_count": events.height,
        "anomaly_alerts": count.get("anomaly", 0),
        "recoveries": count.get("recovery", 0),
        "no_data_alerts": count.get("no_data", 0),
        "held_events": int((~events["sendable"]).sum()) if events.height else 0,
    }
    if to_send.height:
        meta[EVENTS_TO_SEND] = dg.MetadataValue.json(to_send.to_dicts())
    return meta
