"""Detections of a run: every detector over its windows, with exactly its context before them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Sequence

import numpy as np
import polars as pl

from ..detection import builtin_features, create_detector
from ..schemas import DETECTIONS
from ..timegrid import grid
from .windows import Window, span

if TYPE_CHECKING:
    from ..config.metric import MetricConfig


def build_detectors(metric: "MetricConfig") -> list:
    return [create_detector(d.type, dict(d.params)) for d in metric.detectors]


def context_points(detectors: Sequence) -> int:
    return max((d.context_size for d in detectors), default=0)


PIECE_POINTS = 20_000  # grid points detected per pass (plus each detector's context)


def context_start(metric: "MetricConfig", detectors: Sequence, start: datetime) -> datetime:
    """Where the datapoints a detection of [start, ...) looks at begin."""
    return start - timedelta(seconds=metric.interval_seconds * context_points(detectors))


def depends_on_start(detector) -> bool:
    """EMA smoothing carries every earlier point, so its output depends on where the series
    starts; every other preprocessing looks back a fixed number of points."""
    return (getattr(detector, "params", None) or {}).get("smoothing") == "ema"


def detect_range(
    metric: "MetricConfig", detectors: Sequence, datapoints: pl.DataFrame, windows: Sequence[Window]
) -> pl.DataFrame:
    """One row per detector and loaded grid point of `windows`, in time order per detector.

    `datapoints` holds the windows and the context before the first. A detector that looks
    back a fixed number of points runs once over the whole range: each point sees the same
    window as in a run of its partition alone. An EMA-smoothed detector runs per window, from
    exactly its context, so a partition gives the same rows however runs are cut.
    """
    whole = span(list(windows)) if windows else None
    loaded = whole.rows(datapoints).select("timestamp") if whole else datapoints.clear()
    if not detectors or loaded.height == 0:
        return pl.DataFrame(schema=DETECTIONS)
    longest = timedelta(seconds=metric.interval_seconds * PIECE_POINTS)
    frames = []
    for detector in detectors:
        pieces = [w for w in windows if w.rows(loaded).height] if depends_on_start(detector) else (
            _pieces(windows, longest))
        frames.extend(_run(metric, detector, datapoints, piece, loaded) for piece in pieces)
    return pl.concat(frames, rechunk=False)  # no copy of what may be a year of rows


def _pieces(windows: Sequence[Window], longest: timedelta) -> list[Window]:
    """Consecutive windows joined into pieces of at most `longest` (or one window): a long
    range is detected piece by piece, each from its own context, with bounded memory."""
    pieces = [windows[0]]
    for window in windows[1:]:
        if window.end - pieces[-1].start <= longest:
            pieces[-1] = Window(pieces[-1].start, window.end)
        else:
            pieces.append(window)
    return pieces


def _run(metric: "MetricConfig", detector, datapoints: pl.DataFrame, window: Window, loaded: pl.DataFrame
         ) -> pl.DataFrame:
    series = _on_grid(datapoints, context_start(metric, [detector], window.start), window.end,
                      metric.interval_seconds)
    stamps = series["timestamp"].to_numpy().astype("datetime64[ms]")
    seasonality = _seasonality(series, stamps, metric)
    out = detector.detect(stamps, series["value"].to_numpy(), seasonality)
    return out.join(window.rows(loaded), on="timestamp", how="semi").with_columns(
        detector_id=pl.lit(detector.detector_id),
        detector_name=pl.lit(detector.detector_name),
        detector_params=pl.lit(detector.detector_params),
    ).select([pl.col(c).cast(t) for c, t in DETECTIONS.items()])


def _on_grid(datapoints: pl.DataFrame, start: datetime, end: datetime, interval: int) -> pl.DataFrame:
    """Rows for every grid point in [start, end): points never loaded count as missing."""
    points = pl.DataFrame({"timestamp": grid(start, end, interval)}).with_columns(
        pl.col("timestamp").cast(pl.Datetime("ms")))
    return points.join(datapoints, on="timestamp", how="left").with_columns(
        pl.col("value").fill_null(float("nan")))


def _seasonality(series: pl.DataFrame, stamps: np.ndarray, metric: "MetricConfig") -> dict[str, np.ndarray]:
    """The metric's features only, as detectkit: a component naming any other column is a no-op."""
    if not metric.query_provided_seasonality:
        return builtin_features(stamps, metric.seasonality_features)
    names = metric.seasonality_features
    parsed = [json.loads(text) if text else {} for text in series["seasonality_data"].fill_null("{}")]
    return {name: np.array([row.get(name) for row in parsed], dtype=object) for name in names}
