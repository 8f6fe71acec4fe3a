"""`<metric>/detections`: every configured detector over the partition, with its lookback."""

import math

import dagster as dg
import polars as pl

from ..partitioning import shortest_partition_seconds
from ..pipeline import anomaly_counts, build_detectors, context_points, detect_windows
from .automation import downstream_condition
from .common import MetricContext, partition_windows
from .io_manager import OWNED_KEYS

def lookback_partitions(mc: MetricContext, points: int) -> int:
    """Partitions that surely hold `points` intervals before a partition start."""
    seconds = points * mc.metric.interval_seconds
    return math.ceil(seconds / shortest_partition_seconds(mc.partitioning.granularity))


def detections_asset(mc: MetricContext) -> dg.AssetsDefinition:
    metric = mc.metric
    detectors = build_detectors(metric)
    lookback = lookback_partitions(mc, context_points(detectors))
    mapping = dg.TimeWindowPartitionMapping(start_offset=-lookback, allow_nonexistent_upstream_partitions=True)
    names = ", ".join(f"{d.detector_name} {d.detector_params}" for d in detectors) or "none configured"

    @dg.asset(
        **mc.asset_args("detections", f"One row per detector and grid point. Detectors: {names}.",
                        {"duckdb", "polars", "numpy"}),
        ins={"datapoints": dg.AssetIn(key=mc.key("datapoints"), partition_mapping=mapping)},
        metadata={OWNED_KEYS: {"column": "detector_id", "keys": [d.detector_id for d in detectors]}},
        automation_condition=downstream_condition(),
    )
    def detections(context: dg.AssetExecutionContext, datapoints: pl.DataFrame) -> dg.Output[pl.DataFrame]:
        frame = detect_windows(metric, detectors, datapoints, partition_windows(context, mc))
        return dg.Output(frame, metadata=_metadata(frame, detectors))

    return detections


def _metadata(frame: pl.DataFrame, detectors) -> dict:
    counts = anomaly_counts(frame)
    meta = {
        "dagster/row_count": frame.height,
        "evaluated_points": int((frame["status"] == "ok").sum()) if frame.height else 0,
        "anomalies": sum(counts.values()),
    }
    for det in detectors:
        meta[f"anomalies/{det.detector_name}/{det.detector_id}"] = counts.get(det.detector_id, 0)
    return meta
