"""The data set of spec §13.1 (detectkit's replay worked examples) as our tables."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import polars as pl

STEP = 600
T0 = datetime(2024, 1, 1)
DETECTORS = (("d1_mad", "mad", 4.0), ("d2_zscore", "zscore", 3.0), ("d3_iqr", "iqr", 5.0))

# i -> (mad, zscore, iqr); "-" normal. Missing i = no detection rows.
PLAN: dict[int, tuple[str, str, str]] = {}
for i in range(0, 4):
    PLAN[i] = ("-", "-", "-")
for i in range(4, 8):
    PLAN[i] = ("up", "up", "-")
PLAN[8] = ("-", "-", "-")
PLAN[9] = ("up", "down", "-")
for i in (10, 11):
    PLAN[i] = ("down", "down", "down")
for i in (13, 14, 15):
    PLAN[i] = ("up", "-", "-")
PLAN[16] = ("-", "-", "-")
for i in range(17, 21):
    PLAN[i] = ("down", "-", "down")
PLAN[21] = ("-", "-", "-")
for i in (22, 23):
    PLAN[i] = ("up", "up", "down")


def t(i: int) -> datetime:
    return T0 + timedelta(seconds=STEP * i)


def hhmm(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%H:%M")


def value(i: int) -> float:
    return math.nan if i == 16 else 100.0 + i


def detection_rows(points=None) -> list[dict]:
    rows = []
    for i, plan in sorted(PLAN.items()):
        if points is not None and i not in points:
            continue
        for (det_id, name, sev), state in zip(DETECTORS, plan):
            anomalous = state != "-"
            rows.append({
                "timestamp": t(i), "detector_id": det_id, "detector_name": name,
                "is_anomaly": anomalous, "direction": state if anomalous else None,
                "severity": sev if anomalous else None, "value": value(i),
                "confidence_lower": 90.0, "confidence_upper": 110.0,
            })
    return rows


DETECTION_SCHEMA = {
    "timestamp": pl.Datetime("ms"), "detector_id": pl.String, "detector_name": pl.String,
    "is_anomaly": pl.Boolean, "direction": pl.String, "severity": pl.Float64, "value": pl.Float64,
    "confidence_lower": pl.Float64, "confidence_upper": pl.Float64,
}


def detections(points=None) -> pl.DataFrame:
    return pl.DataFrame(detection_rows(points), schema=DETECTION_SCHEMA)


def datapoints(skip=(12,), nan_gap=False) -> pl.DataFrame:
    """Rows for i = 0..26; i = 12 has no row (or a NaN row with nan_gap, as our loader writes)."""
    rows = [(t(i), value(i)) for i in range(27) if i not in skip]
    if nan_gap:
        rows += [(t(i), math.nan) for i in skip]
    return pl.DataFrame(rows, schema={"timestamp": pl.Datetime("ms"), "value": pl.Float64}, orient="row").sort("timestamp")


START, END = t(0), t(26)
OPS = {"channels": ["ops"]}
CONFIGS = {
    "A": OPS | {"consecutive_anomalies": 1},
    "B": OPS | {"consecutive_anomalies": 3, "notify_on_recovery": True},
    "C": OPS | {"consecutive_anomalies": 3, "min_detectors": 2, "alert_cooldown": "30min", "notify_on_recovery": True},
    "D": OPS | {"consecutive_anomalies": 3, "min_detectors": 2, "direction": "any", "alert_cooldown": "30min",
                "cooldown_reset_on_recovery": False, "notify_on_recovery": True},
    "E": OPS | {"consecutive_anomalies": 1, "direction": "up", "notify_on_recovery": True, "no_data_alert": True},
    "F": OPS | {"consecutive_anomalies": 2, "direction": "down", "alert_cooldown": "1h", "notify_on_recovery": True,
                "no_data_alert": True},
    "G": OPS | {"consecutive_anomalies": 3, "alert_cooldown": "20min"},
    "H": OPS | {"consecutive_anomalies": 1, "min_detectors": 2, "alert_cooldown": "1h", "notify_on_recovery": True},
    "I": OPS | {"consecutive_anomalies": 1, "min_detectors": 2, "alert_cooldown": "1h"},
}
CONFIG_IDS = {
    "A": "1dd2830aebe92b95", "B": "b0167067af683018", "C": "af4633539ff7b39a", "D": "74c5240d44fbdebe",
    "E": "37f34eee3d6254e7", "F": "cc7d2ab19b4c5ee5", "G": "7256fe4445f10193", "H": "f06c21eae294eebd",
    "I": "f06c21eae294eebd",
}


def table(events: pl.DataFrame) -> list[tuple]:
    """(kind, t, count, dir, onset, detector) with times as HH:MM, as the spec prints them."""
    return [
        (r["kind"], hhmm(r["timestamp"]), r["consecutive"], r["direction"] or "none", hhmm(r["onset"]) or "-",
         r["detector"])
        for r in events.iter_rows(named=True)
    ]
