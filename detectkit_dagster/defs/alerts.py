"""`<metric>/alerts`: the events of every alert block, replayed over the stored detections."""

from datetime import timedelta

import dagster as dg
import polars as pl

from ..pipeline import alert_check, alert_events, build_detectors
from ..schemas import DATAPOINTS, DETECTIONS
from ..storage import open_storage
from ..timegrid import utc_now
from .checks import check_spec, emit_partition_checks
from .automation import downstream_condition
from .common import MetricContext, partition_windows
from .io_manager import OWNED_KEYS

CHECK = "no_anomaly_alert"
# Sendable events travel in the materialization metadata, where the dispatch sensor reads them.
EVENTS_TO_SEND = "detectkit/events_to_send"


def dispatch_max_age(mc: MetricContext) -> timedelta:
    """Events older than this when computed are history (a backfill), never sent."""
    return timedelta(seconds=max(3600, 3 * mc.metric.interval_seconds))


def read_history(mc: MetricContext, detector_ids: list[str], end) -> tuple[pl.DataFrame, pl.DataFrame]:
    store = open_storage(mc.project).metric(mc.ident)
    datapoints = store.read_range("datapoints", None, end, schema=DATAPOINTS)
    detections = store.read_range("detections", None, end, order_by=("timestamp", "detector_id"), schema=DETECTIONS)
    return detections.filter(pl.col("detector_id").is_in(detector_ids)), datapoints


def alerts_asset(mc: MetricContext) -> dg.AssetsDefinition:
    metric = mc.metric
    detector_ids = [d.detector_id for d in build_detectors(metric)]
    rules = "; ".join(a.rule_text(len(detector_ids)) for a in metric.alerts) or "no alert blocks"
    spec = check_spec(mc, "alerts", CHECK, "Fails when an anomaly alert fired in the partition.")
    same_partition = dg.TimeWindowPartitionMapping()

    @dg.asset(
        **mc.asset_args("alerts", f"Alert events (anomaly, recovery, no_data) per alert block. Rules: {rules}.",
                        {"duckdb", "polars"}),
        deps=[dg.AssetDep(mc.key("detections"), partition_mapping=same_partition)],
        metadata={OWNED_KEYS: {"column": "config_id", "keys": [a.config_id for a in metric.alerts]}},
        check_specs=[spec],
        automation_condition=downstream_condition(),
    )
    def alerts(context: dg.AssetExecutionContext):
        windows = partition_windows(context, mc)
        detections, datapoints = read_history(mc, detector_ids, max(w.end for w in windows))
        events = alert_events(metric, detections, datapoints, windows, utc_now(), dispatch_max_age(mc))
        yield dg.Output(events, metadata=_metadata(events))
        outcomes = {key: alert_check(metric, w.rows(events)) for key, w in zip(context.partition_keys, windows)}
        yield from emit_partition_checks(context, spec, outcomes)

    return alerts


def _metadata(events: pl.DataFrame) -> dict:
    kinds = events["kind"].value_counts() if events.height else None
    count = {row["kind"]: row["count"] for row in kinds.iter_rows(named=True)} if kinds is not None else {}
    to_send = events.filter(pl.col("sendable")).with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M:%S"))
    return {
        EVENTS_TO_SEND: dg.MetadataValue.json(to_send.to_dicts()),
        "dagster/row_count": events.height,
        "anomaly_alerts": count.get("anomaly", 0),
        "recoveries": count.get("recovery", 0),
        "no_data_alerts": count.get("no_data", 0),
        "held_events": int((~events["sendable"]).sum()) if events.height else 0,
    }
