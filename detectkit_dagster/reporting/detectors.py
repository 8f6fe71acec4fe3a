"""One view per stored detector: its bands, anomalies and warm-up, on the report timeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from .bands import input_type_of, parse_params, value_band
from .timeline import Timeline, column_ms

REQUIRED_COLUMNS = ("detector_id", "timestamp", "value", "confidence_lower", "confidence_upper", "is_anomaly")
WARMUP_STATUS = "insufficient_data"


@dataclass(frozen=True)
class DetectorView:
    detector_id: str
    name: str
    label: str
    params_json: str
    input_type: str
    anomalies: int
    # Dense series aligned to the timeline (NaN = nothing to draw).
    lower: np.ndarray  # processed units, as stored
    upper: np.ndarray
    processed: np.ndarray
    value_lower: np.ndarray  # value units, drawn on the value line
    value_upper: np.ndarray
    # Sparse: one entry per anomalous row.
    anomaly_ms: np.ndarray
    anomaly_y: np.ndarray
    anomaly_severity: np.ndarray
    anomaly_direction: list
    warmup: list  # [(first_ms, last_ms)] runs of insufficient_data rows


def detector_views(
    detections: pl.DataFrame | None, timeline: Timeline, labels: Mapping[str, str] | None = None
) -> list[DetectorView]:
    """Views of every detector present, ordered by name then id so colours stay put."""
    if detections is None or detections.height == 0:
        return []
    missing = [c for c in REQUIRED_COLUMNS if c not in detections.columns]
    if missing:
        raise ValueError(f"detections is missing column(s): {', '.join(missing)}")
    rows = _with_optional_columns(detections)
    keys = rows.select("detector_name", "detector_id").unique().sort("detector_name", "detector_id")
    labels = labels or {}
    return [
        _view(rows.filter(pl.col("detector_id") == did), timeline, name, labels.get(did) or default_label(name, did))
        for name, did in keys.iter_rows()
    ]


def default_label(name: str, detector_id: str) -> str:
    return f"{name} · {detector_id[:8]}"


def _with_optional_columns(detections: pl.DataFrame) -> pl.DataFrame:
    defaults = {
        "detector_name": pl.col("detector_id"),
        "detector_params": pl.lit("{}"),
        "processed_value": pl.lit(None, dtype=pl.Float64),
        "severity": pl.lit(None, dtype=pl.Float64),
        "direction": pl.lit(None, dtype=pl.String),
        "status": pl.lit(None, dtype=pl.String),
        "detection_metadata": pl.lit(None, dtype=pl.String),
    }
    return detections.with_columns(
        [expr.alias(name) for name, expr in defaults.items() if name not in detections.columns]
    ).with_columns(pl.col("detector_name").fill_null(pl.col("detector_id")))


def _view(rows: pl.DataFrame, timeline: Timeline, name: str, label: str) -> DetectorView:
    rows = rows.sort("timestamp")
    params_json = rows.get_column("detector_params").drop_nulls().first() or "{}"
    params = parse_params(params_json)
    input_type = input_type_of(params)
    ms = column_ms(rows)
    lower, upper = _floats(rows, "confidence_lower"), _floats(rows, "confidence_upper")
    level = _level(rows, smoothed=bool(params.get("smoothing")))
    previous = np.concatenate([[np.nan], level[:-1]])
    value_lower, value_upper = value_band(input_type, previous, lower, upper)

    flagged = rows.get_column("is_anomaly").fill_null(False).to_numpy().astype(bool)
    raw = _floats(rows, "value")
    marker_y = np.where(np.isfinite(raw), raw, level)  # a smoothed-over gap has no raw value
    return DetectorView(
        detector_id=str(rows.get_column("detector_id")[0]),
        name=name,
        label=label,
        params_json=params_json,
        input_type=input_type,
        anomalies=int(flagged.sum()),
        lower=timeline.align(ms, lower),
        upper=timeline.align(ms, upper),
        processed=timeline.align(ms, _floats(rows, "processed_value")),
        value_lower=timeline.align(ms, value_lower),
        value_upper=timeline.align(ms, value_upper),
        anomaly_ms=ms[flagged],
        anomaly_y=marker_y[flagged],
        anomaly_severity=_floats(rows, "severity")[flagged],
        anomaly_direction=[d for d, f in zip(rows.get_column("direction").to_list(), flagged) if f],
        warmup=_runs(ms, (rows.get_column("status") == WARMUP_STATUS).fill_null(False).to_numpy()),
    )


def _floats(rows: pl.DataFrame, name: str) -> np.ndarray:
    return rows.get_column(name).cast(pl.Float64, strict=False).fill_null(np.nan).to_numpy()


def _level(rows: pl.DataFrame, smoothed: bool) -> np.ndarray:
    """The level a change was taken from: the smoothed value when the detector smooths."""
    raw = _floats(rows, "value")
    if not smoothed:
        return raw
    return (
        rows.get_column("detection_metadata")
        .cast(pl.String)
        .str.json_path_match("$.preprocessing.smoothed_value")
        .cast(pl.Float64, strict=False)
        .fill_null(np.nan)
        .to_numpy()
    )


def _runs(ms: np.ndarray, mask: np.ndarray) -> list[tuple[int, int]]:
    """(first_ms, last_ms) of each run of consecutive rows where mask holds."""
    if not mask.any():
        return []
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(int(ms[s]), int(ms[e])) for s, e in zip(starts, ends)]
