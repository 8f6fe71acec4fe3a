"""The pure steps behind the assets: stored tables in, stored tables out (no dagster, no I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Sequence

import numpy as np
import polars as pl

from .alerting import mark_delivery, replay_blocks
from .detection import builtin_features
from .reporting import ReportInput
from .schemas import ALERTS, DATAPOINTS, DETECTIONS
from .timegrid import grid

if TYPE_CHECKING:
    from .config.metric import MetricConfig
    from .storage import MetricStore


@dataclass(frozen=True)
class Window:
    start: datetime  # inclusive
    end: datetime  # exclusive

    def contains(self) -> pl.Expr:
        return pl.col("timestamp").is_between(self.start, self.end, closed="left")

    def rows(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(self.contains())


def build_detectors(metric: "MetricConfig") -> list:
    return [d.build() for d in metric.detectors]


def context_points(detectors: Sequence) -> int:
    return max((d.context_size for d in detectors), default=0)


def detect_windows(
    metric: "MetricConfig", detectors: Sequence, datapoints: pl.DataFrame, windows: Sequence[Window]
) -> pl.DataFrame:
    """Detections of every detector for each window, each computed from exactly `context`
    points before its window, so a partition gives the same rows however it is run."""
    frames = [detect_window(metric, detectors, datapoints, w) for w in windows]
    return pl.concat(frames) if frames else pl.DataFrame(schema=DETECTIONS)


def detect_window(metric: "MetricConfig", detectors: Sequence, datapoints: pl.DataFrame, window: Window):
    interval = metric.interval_seconds
    history = timedelta(seconds=interval * context_points(detectors))
    series = _on_grid(datapoints, window.start - history, window.end, interval)
    loaded = window.rows(datapoints)
    if series.height == 0 or loaded.height == 0:
        return pl.DataFrame(schema=DETECTIONS)
    stamps = series["timestamp"].to_numpy().astype("datetime64[ms]")
    values = series["value"].fill_null(np.nan).to_numpy()
    seasonality = _seasonality(series, stamps, metric)
    last_loaded = loaded["timestamp"].max()
    frames = []
    for detector in detectors:
        out = detector.detect(stamps, values, seasonality)
        out = out.filter(pl.col("timestamp").is_between(window.start, last_loaded, closed="both"))
        frames.append(out.with_columns(
            detector_id=pl.lit(detector.detector_id),
            detector_name=pl.lit(detector.detector_name),
            detector_params=pl.lit(detector.detector_params),
        ).select([pl.col(c).cast(t) for c, t in DETECTIONS.items()]))
    return pl.concat(frames) if frames else pl.DataFrame(schema=DETECTIONS)


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


def anomaly_counts(detections: pl.DataFrame) -> dict[str, int]:
    """Anomalies per detector id (every configured detector appears, zero included)."""
    counts = detections.group_by("detector_id").agg(pl.col("is_anomaly").sum())
    return {row["detector_id"]: int(row["is_anomaly"]) for row in counts.iter_rows(named=True)}


def alert_events(
    metric: "MetricConfig", detections: pl.DataFrame, datapoints: pl.DataFrame,
    windows: Sequence[Window], now: datetime, max_age: timedelta,
) -> pl.DataFrame:
    """Events of every alert block inside `windows`, from one replay over all the history given.

    Replaying from the first stored point makes the events of a partition equal to those of
    one replay over the whole history, however partitions are run (the replay is linear).
    """
    if not metric.alerts or not windows or datapoints.height == 0:
        return pl.DataFrame(schema=ALERTS)
    interval = metric.interval_seconds
    first = datapoints["timestamp"].min()
    last = max(w.end for w in windows) - timedelta(seconds=interval)
    events = replay_blocks(detections, datapoints, metric.alerts, interval, first, last)
    events = events.filter(pl.any_horizontal([w.contains() for w in windows]))
    marked = [
        mark_delivery(events.filter(pl.col("alert_index") == index), alert, now, max_age=max_age)
        for index, alert in enumerate(metric.alerts)
    ]
    return pl.concat(marked).sort("timestamp", "alert_index").select(
        [pl.col(c).cast(t) for c, t in ALERTS.items()])


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    severity: str  # WARN | ERROR
    description: str
    metadata: dict


def alert_check(metric: "MetricConfig", events: pl.DataFrame) -> CheckOutcome:
    """Fails when an anomaly alert of an enabled block fired; ERROR if the metric or a firing
    block asks for it. A block without channels still counts: the check is an alert surface."""
    enabled = [i for i, alert in enumerate(metric.alerts) if alert.enabled]
    fired = events.filter((pl.col("kind") == "anomaly") & pl.col("alert_index").is_in(enabled))
    rules = [alert.rule_text() for alert in metric.alerts]
    if fired.height == 0:
        return CheckOutcome(True, "WARN", "no anomaly alert fired", {"rules": rules, "anomaly_alerts": 0})
    blocks = {int(i) for i in fired["alert_index"]}
    error = metric.dagster.check_severity == "ERROR" or any(
        metric.alerts[i].check_severity == "ERROR" for i in blocks)
    worst = fired.sort("severity", descending=True, nulls_last=True).row(0, named=True)
    description = (f"{fired.height} anomaly alert(s); worst at {worst['timestamp']} "
                   f"({worst['direction'] or 'n/a'}, severity {_num(worst['severity'])}, {worst['detector']})")
    return CheckOutcome(False, "ERROR" if error else "WARN", description, {
        "anomaly_alerts": fired.height,
        "worst_severity": _num(worst["severity"]),
        "rules": rules,
        "events": _event_lines(fired),
    })


def _num(value) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def _event_lines(events: pl.DataFrame) -> str:
    lines = ["| time | direction | severity | value | streak | detector | sent |", "|---|---|---|---|---|---|---|"]
    for e in events.head(50).iter_rows(named=True):
        sent = "yes" if e["sendable"] else f"held: {e['hold_reason']}"
        lines.append(f"| {e['timestamp']} | {e['direction'] or ''} | {_num(e['severity'])} | "
                     f"{_num(e['value'])} | {e['consecutive']} | {e['detector']} | {sent} |")
    return "\n".join(lines)


def completeness_check(datapoints: pl.DataFrame) -> CheckOutcome:
    """Fails when loaded grid points of the partition have no value (no data)."""
    total = datapoints.height
    missing = int(datapoints["value"].is_nan().sum()) if total else 0
    meta = {"points": total, "missing_points": missing,
            "completeness": round(1 - missing / total, 4) if total else 1.0}
    if missing:
        first = datapoints.filter(pl.col("value").is_nan())["timestamp"].min()
        return CheckOutcome(False, "WARN", f"{missing} of {total} points have no data (first at {first})", meta)
    text = f"all {total} loaded points have data" if total else "no complete interval loaded yet"
    return CheckOutcome(True, "WARN", text, meta)


def report_input(project: str, metric: "MetricConfig", store: "MetricStore", start: datetime, end: datetime,
                 now: datetime) -> ReportInput:
    """What the metric's report of [start, end) shows, read from its stored tables (only the
    configured detectors and alert blocks: rows of removed ones are not shown)."""
    detector_ids = [d.detector_id for d in build_detectors(metric)]
    config_ids = [a.config_id for a in metric.alerts]
    return ReportInput(
        project=project, metric=metric.name, description=metric.description,
        interval_seconds=metric.interval_seconds, window_start=start, window_end=end, generated_at=now,
        datapoints=store.read_range("datapoints", start, end, schema=DATAPOINTS),
        detections=store.read_range("detections", start, end, order_by=("timestamp", "detector_id"),
                                    schema=DETECTIONS).filter(pl.col("detector_id").is_in(detector_ids)),
        events=store.read_range("alerts", start, end, schema=ALERTS).filter(pl.col("config_id").is_in(config_ids)),
        rules=[a.rule_text(len(detector_ids)) for a in metric.alerts],
    )
