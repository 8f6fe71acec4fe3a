"""A small hand-made report input whose every number is known."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import polars as pl
import pytest

from detectkit_dagster.reporting import ReportInput

START = datetime(2024, 1, 1)
STEP = timedelta(minutes=10)
TS = pl.Datetime("ms")
RULE = "min_detectors=1 · direction=any · consecutive=1"


def at(i: int) -> datetime:
    return START + i * STEP


def small_input() -> ReportInput:
    """12 points (one missing, one null), two detectors (values and changes), three events."""
    values = [100.0, 102.0, 101.0, float("nan"), 103.0, 150.0, 104.0, None, 102.0, 101.0, 100.0, 99.0]
    datapoints = pl.DataFrame(
        {"timestamp": [at(i) for i in range(12)], "value": values}, schema={"timestamp": TS, "value": pl.Float64}
    )
    rows = []
    for i, value in enumerate(values):
        # MAD on values: bounds 90..110 after 2 warm-up points, flags the spike at 5.
        warm = i < 2
        rows.append(_row("aaaa1111bbbb2222", "MADDetector", "{}", i, value,
                         None if warm else 90.0, None if warm else 110.0,
                         anomaly=i == 5, direction="up" if i == 5 else None,
                         status="insufficient_data" if warm else "ok"))
        # Z-score on relative changes: bounds ±10 % after 3 warm-up points, flags 5 and 6.
        warm = i < 3
        rows.append(_row("cccc3333dddd4444", "ZScoreDetector", '{"input_type":"changes","window_size":288}', i, value,
                         None if warm else -0.1, None if warm else 0.1,
                         anomaly=i in (5, 6), direction={5: "up", 6: "down"}.get(i),
                         status="insufficient_data" if warm else "ok"))
    detections = pl.DataFrame(rows, schema_overrides={"timestamp": TS})
    events = pl.DataFrame(
        {
            "kind": ["no_data", "anomaly", "recovery"],
            "timestamp": [at(3), at(5), at(6)],
            "config_id": ["c0ffee0000000000"] * 3,
            "onset": [None, at(5), at(5)],
            "consecutive": [0, 1, 1],
            "direction": [None, "up", "none"],
            "severity": [0.0, 4.5, 0.0],
            "value": [None, 150.0, 104.0],
            "detector": ["no_data", "2 detectors", "2 detectors"],
            "rule": ["no data", RULE, RULE],
            "sendable": [True, False, True],
            "hold_reason": [None, "suppressed until 2024-01-02", None],
        },
        schema_overrides={"timestamp": TS, "onset": TS},
    )
    return ReportInput(
        project="proj",
        metric="orders",
        description="Orders per 10 minutes.",
        interval_seconds=600,
        window_start=at(0),
        window_end=at(11),
        generated_at=datetime(2024, 1, 1, 2, 0),
        datapoints=datapoints,
        detections=detections,
        events=events,
        rules=[RULE],
    )


def _row(did, name, params, i, value, lower, upper, *, anomaly, direction, status) -> dict:
    return {
        "detector_id": did,
        "detector_name": name,
        "detector_params": params,
        "timestamp": at(i),
        "value": value,
        "processed_value": value,
        "confidence_lower": lower,
        "confidence_upper": upper,
        "is_anomaly": anomaly,
        "severity": 3.0 if anomaly else None,
        "direction": direction,
        "status": status,
        "detection_metadata": "{}",
    }


@pytest.fixture
def report_input() -> ReportInput:
    return small_input()


@pytest.fixture
def empty_input() -> ReportInput:
    base = small_input()
    return dataclasses.replace(base, datapoints=base.datapoints.clear(), detections=None, events=None)
