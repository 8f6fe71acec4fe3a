"""Column types of the stored tables (naive UTC millisecond timestamps everywhere)."""

import polars as pl

from .alerting.events import EVENT_SCHEMA

TS = pl.Datetime("ms")

DATAPOINTS = {
    "timestamp": TS,
    "value": pl.Float64,
    "seasonality_data": pl.Utf8,
}


DETECTIONS = {
    "timestamp": TS,
    "detector_id": pl.Utf8,
    "detector_name": pl.Utf8,
    "detector_params": pl.Utf8,
    "value": pl.Float64,
    "processed_value": pl.Float64,
    "confidence_lower": pl.Float64,
    "confidence_upper": pl.Float64,
    "is_anomaly": pl.Boolean,
    "severity": pl.Float64,
    "direction": pl.Utf8,
    "status": pl.Utf8,
    "detection_metadata": pl.Utf8,
}

ALERTS = {
    "alert_index": pl.Int64,  # position of the block in the metric's `alerting` list
    **EVENT_SCHEMA,
    "sendable": pl.Boolean,  # false: dispatch never sends it (see hold_reason)
    "hold_reason": pl.Utf8,
}

# The replay state of each alert block at a moment (see pipeline.alerts); `timestamp` is the moment.
ALERT_STATE = {
    "timestamp": TS,
    "state_key": pl.Utf8,
    "state": pl.Utf8,
}

TABLE_SCHEMAS = {
    "datapoints": DATAPOINTS,
    "detections": DETECTIONS,
    "alerts": ALERTS,
    "alert_state": ALERT_STATE,
}

TABLE_ORDER = {
    "datapoints": ("timestamp",),
    "detections": ("timestamp", "detector_id"),
    "alerts": ("timestamp", "alert_index", "kind"),
    "alert_state": ("timestamp", "state_key"),
}
