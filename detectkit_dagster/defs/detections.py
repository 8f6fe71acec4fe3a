"""`<metric>/detections`: every configured detector over the partitions, with its context before them."""

import dagster as dg
import polars as pl

from ..pipeline import build_detectors, context_start, detect_range, span, window_index
from ..schemas import DATAPOINTS
from ..storage import Storage
from .context import MetricContext
from .io_manager import INVALIDATES, OWNED_KEYS
from .metadata import add_partition_metadata, code_reference, table_metadata
from .resources import STORAGE


def detections_asset(mc: MetricContext, storage: Storage) -> dg.AssetsDefinition:
    metric = mc.metric
    detectors = build_detectors(metric)
    names = ", ".join(f"{d.detector_name} {d.detector_params}" for d in detectors) or "none configured"

    # The context before the first partition is read from the store, not through a partition
    # mapping: a mapping would pull every backfill forward by the length of the context.
    @dg.asset(
        **mc.asset_args("detections", f"One row per detector and grid point. Detectors: {names}.",
                        {storage.kind, "polars", "numpy"}),
        deps=[mc.key("datapoints")],
        required_resource_keys={STORAGE},
        metadata={OWNED_KEYS: {"column": "detector_id", "keys": [d.detector_id for d in detectors]},
                  INVALIDATES: "alert_state", **table_metadata(storage, mc.ident, "detections"),
                  **code_reference(metric.path)},
    )
    def detections(context: dg.AssetExecutionContext) -> dg.Output[pl.DataFrame]:
        windows = mc.windows(context)
        whole = span(windows)
        store = getattr(context.resources, STORAGE).metric(mc.ident)
        datapoints = store.read_range(
            "datapoints", context_start(metric, detectors, whole.start), whole.end, schema=DATAPOINTS)
        frame = detect_range(metric, detectors, datapoints, windows)
        add_partition_metadata(context, _metadata(frame, detectors, windows, context.partition_keys))
        return dg.Output(frame)

    return detections


def _metadata(frame: pl.DataFrame, detectors, windows, keys: list[str]) -> dict[str, dict]:
    """Rows, evaluated points and anomalies of each partition, per detector."""
    counts = frame.select("detector_id", "is_anomaly", "status").with_columns(window_index(frame, windows)).group_by(
        "window", "detector_id").agg(rows=pl.len(), anomalies=pl.col("is_anomaly").sum(),
                                     evaluated=(pl.col("status") == "ok").sum())
    found = {(w, d): (r, a, e) for w, d, r, a, e in counts.iter_rows()}
    metadata = {}
    for index, key in enumerate(keys):
        per = {d.detector_id: found.get((index, d.detector_id), (0, 0, 0)) for d in detectors}
        meta = {"dagster/partition_row_count": sum(r for r, _, _ in per.values()),
                "evaluated_points": sum(e for _, _, e in per.values()),
                "anomalies": sum(a for _, a, _ in per.values())}
        for det in detectors:
            meta[f"anomalies/{det.detector_name}/{det.detector_id}"] = per[det.detector_id][1]
        metadata[key] = meta
    return metadata
