"""A realistic synthetic report input, for screenshots, benchmarks and browser tests.

Ten-minute orders with a daily cycle, a few incidents and a data gap, watched by three
simple detectors (one on relative changes) and one alert rule. The detectors here are
stand-ins that only need to look plausible; the real ones live in ``detection/``.
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from .model import ReportInput

RULE = "min_detectors=1 · direction=any · consecutive=2"


def sample_report_input(
    points: int = 1500,
    *,
    interval_seconds: int = 600,
    start: datetime = datetime(2024, 3, 1),
    description: str | None = "Orders per 10 minutes, all shops.",
    seed: int = 7,
) -> ReportInput:
    step = timedelta(seconds=interval_seconds)
    stamps = [start + i * step for i in range(points)]
    values = _orders(points, interval_seconds, np.random.default_rng(seed))
    day = 86_400 // interval_seconds
    detectors = [  # name, id, stored params, what it compares, band, history needed
        ("MADDetector", "a3f09c12d4e5b6a7", {"seasonality_components": ["hour"], "window_size": 7 * day},
         _same_time_history(values, day), _median_band, 10),
        ("ZScoreDetector", "5be1c0ffee42d00d", {"input_type": "changes", "window_size": 144},
         _history(_changes(values), 144), _mean_band, 30),
        ("IQRDetector", "9c7d1e2f3a4b5c6d", {"window_size": 24}, _history(values, 24), _quartile_band, 20),
    ]
    detections = pl.concat([_detections(stamps, values, *detector) for detector in detectors])
    return ReportInput(
        project="shop-metrics",
        metric="orders_10min",
        description=description,
        interval_seconds=interval_seconds,
        window_start=stamps[0],
        window_end=stamps[-1],
        generated_at=stamps[-1] + timedelta(minutes=4),
        datapoints=pl.DataFrame({"timestamp": stamps, "value": values}).with_columns(
            pl.col("timestamp").cast(pl.Datetime("ms"))
        ),
        detections=detections,
        events=_events(detections, stamps, values, interval_seconds),
        rules=[RULE],
    )


def _orders(points: int, interval_seconds: int, rng: np.random.Generator) -> np.ndarray:
    hours = np.arange(points) * interval_seconds / 3600
    daily = 1 + 0.45 * np.sin(2 * np.pi * (hours - 9) / 24)
    values = 820 * daily + rng.normal(0, 22, points)
    incidents = [  # (position as a share of the series, multipliers over a few points)
        (0.34, [1.0, 1.7, 1.6, 1.0]),
        (0.58, [0.55, 0.4, 0.35, 0.45, 0.6, 0.8]),
        (0.81, [2.1]),
    ]
    for share, factors in incidents:
        at = int(points * share)
        span = values[at : at + len(factors)]
        span *= np.array(factors[: len(span)])
    gap = int(points * 0.7)
    values[gap : gap + 5] = np.nan  # a source outage
    return np.round(values, 1)


def _changes(values: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.concatenate([[np.nan], np.diff(values) / values[:-1]])


def _history(series: np.ndarray, window: int) -> np.ndarray:
    """Row i holds the `window` points before i (NaN-padded at the start)."""
    padded = np.concatenate([np.full(window, np.nan), series])
    return sliding_window_view(padded, window)[:-1]


def _same_time_history(series: np.ndarray, day: int, days: int = 7, spread: int = 2) -> np.ndarray:
    """Row i holds the points around the same time of day on each of the previous days."""
    lags = np.array([d * day + o for d in range(1, days + 1) for o in range(-spread, spread + 1)])
    rows = np.arange(len(series))[:, None] - lags[None, :]
    return np.where(rows >= 0, series[np.clip(rows, 0, None)], np.nan)


def _median_band(history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    median = np.nanmedian(history, axis=1)
    spread = 1.4826 * np.nanmedian(np.abs(history - median[:, None]), axis=1)
    return median - 3 * spread, median + 3 * spread


def _mean_band(history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = np.nanmean(history, axis=1), np.nanstd(history, axis=1)
    return mean - 3.5 * std, mean + 3.5 * std


def _quartile_band(history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q1, q3 = np.nanpercentile(history, [25, 75], axis=1)
    return q1 - 3 * (q3 - q1), q3 + 3 * (q3 - q1)


def _detections(stamps, values, name, detector_id, params, history, band, min_history) -> pl.DataFrame:
    processed = _changes(values) if params.get("input_type") == "changes" else values
    with warnings.catch_warnings():  # the first rows have no history at all
        warnings.simplefilter("ignore", RuntimeWarning)
        lower, upper = band(history)
    enough = np.sum(np.isfinite(history), axis=1) >= min_history
    missing = ~np.isfinite(processed)
    status = np.where(missing, "missing_data", np.where(enough, "ok", "insufficient_data"))
    evaluated = status == "ok"
    lower, upper = np.where(evaluated, lower, np.nan), np.where(evaluated, upper, np.nan)
    with np.errstate(invalid="ignore"):
        above, below = evaluated & (processed > upper), evaluated & (processed < lower)
        width = np.where(upper > lower, upper - lower, 1.0)
        severity = np.where(above, processed - upper, np.where(below, lower - processed, np.nan)) / width * 4
    flagged = above | below
    return pl.DataFrame(
        {
            "detector_id": detector_id,
            "detector_name": name,
            "detector_params": json.dumps(params, separators=(",", ":"), sort_keys=True),
            "timestamp": stamps,
            "value": values,
            "processed_value": processed,
            "confidence_lower": lower,
            "confidence_upper": upper,
            "is_anomaly": flagged,
            "severity": np.where(flagged, severity, np.nan),
            "direction": ["up" if a else "down" if b else None for a, b in zip(above, below)],
            "status": status,
            "detection_metadata": "{}",
        },
        schema_overrides={"timestamp": pl.Datetime("ms"), "direction": pl.String},
    ).with_columns(pl.col("confidence_lower", "confidence_upper", "severity", "processed_value").fill_nan(None))


def _events(detections: pl.DataFrame, stamps, values, interval_seconds: int) -> pl.DataFrame:
    """Alert at the second flagged point of a run, recovery at the first clean one, no-data per gap."""
    flagged = (
        detections.group_by("timestamp")
        .agg(
            pl.col("is_anomaly").any(),
            pl.col("severity").max(),
            pl.col("detector_name").filter(pl.col("is_anomaly")).alias("names"),
        )
        .sort("timestamp")
    )
    is_flagged = flagged.get_column("is_anomaly").to_numpy()
    severity = flagged.get_column("severity").to_numpy()
    names = flagged.get_column("names").to_list()
    rows, streak = [], 0
    step = timedelta(seconds=interval_seconds)
    for i, stamp in enumerate(stamps):
        if not np.isfinite(values[i]):
            if i == 0 or np.isfinite(values[i - 1]):
                rows.append(_event("no_data", stamp, None, 0, None, 0.0, None, "no_data"))
            streak = 0
            continue
        if is_flagged[i]:
            streak += 1
            if streak == 2:
                direction = "up" if values[i] > values[i - 2] else "down"
                rows.append(_event("anomaly", stamp, stamp - step, 2, direction, float(np.nan_to_num(severity[i])),
                                   float(values[i]), _who(names[i])))
        else:
            if streak >= 2:
                rows.append(_event("recovery", stamp, stamp - streak * step, streak, "none", 0.0, float(values[i]),
                                   _who(names[i - 1])))
            streak = 0
    events = pl.DataFrame(rows, orient="row", schema=_EVENT_SCHEMA)
    # The oldest alert came from a backfill: recorded, not paged.
    backfilled = (pl.col("kind") == "anomaly") & (pl.col("kind") == "anomaly").cum_sum().eq(1)
    return events.with_columns(
        sendable=~backfilled,
        hold_reason=pl.when(backfilled).then(pl.lit("historical (backfill)")),
    )


def _who(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{len(names)} detectors"


def _event(kind, stamp, onset, consecutive, direction, severity, value, detector) -> tuple:
    return (kind, stamp, "3c1f2a9b8d7e6f50", onset, consecutive, direction, severity, value, detector, RULE)


_EVENT_SCHEMA = {
    "kind": pl.String,
    "timestamp": pl.Datetime("ms"),
    "config_id": pl.String,
    "onset": pl.Datetime("ms"),
    "consecutive": pl.Int64,
    "direction": pl.String,
    "severity": pl.Float64,
    "value": pl.Float64,
    "detector": pl.String,
    "rule": pl.String,
}
