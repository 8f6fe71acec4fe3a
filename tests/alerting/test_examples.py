"""Spec §13.1 worked examples: the reference tables, and ours (identical, or a named deviation)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).parent))  # the §13 data set and the slow replay live next to the tests

import math
from datetime import datetime, timedelta

import polars as pl
import pytest

import alerting_examples as X
from slow_replay import comparable, slow_replay
from detectkit_dagster.alerting import replay
from detectkit_dagster.config.alert import AlertConfig

# Spec §13.1, verbatim: (kind, t, ad.ts or "", count, dir, onset, detector).
A2, A3 = "2 detectors", "3 detectors"
SPEC = {
    "A": [
        ("anomaly", "00:40", "", 1, "up", "00:40", A2), ("anomaly", "00:50", "", 2, "up", "00:40", A2),
        ("anomaly", "01:00", "", 3, "up", "00:40", A2), ("anomaly", "01:10", "", 4, "up", "00:40", A2),
        ("anomaly", "01:30", "", 1, "up", "01:30", "mad"), ("anomaly", "01:40", "", 2, "down", "01:30", A3),
        ("anomaly", "01:50", "", 3, "down", "01:30", A3), ("anomaly", "02:00", "01:50", 3, "down", "01:30", A3),
        ("anomaly", "02:10", "", 1, "up", "02:10", "mad"), ("anomaly", "02:20", "", 2, "up", "02:10", "mad"),
        ("anomaly", "02:30", "", 3, "up", "02:10", "mad"), ("anomaly", "02:50", "", 1, "down", "02:50", A2),
        ("anomaly", "03:00", "", 2, "down", "02:50", A2), ("anomaly", "03:10", "", 3, "down", "02:50", A2),
        ("anomaly", "03:20", "", 4, "down", "02:50", A2), ("anomaly", "03:40", "", 1, "up", "03:40", A2),
        ("anomaly", "03:50", "", 2, "up", "03:40", A2), ("anomaly", "04:00", "03:50", 2, "up", "03:40", A2),
        ("anomaly", "04:10", "03:50", 2, "up", "03:40", A2), ("anomaly", "04:20", "03:50", 2, "up", "03:40", A2),
    ],
    "B": [
        ("anomaly", "01:00", "", 3, "up", "00:40", A2), ("anomaly", "01:10", "", 4, "up", "00:40", A2),
        ("recovery", "01:20", "", 4, "none", "00:40", "iqr"), ("anomaly", "01:50", "", 3, "down", "01:30", A3),
        ("anomaly", "02:00", "01:50", 3, "down", "01:30", A3), ("recovery", "02:10", "", 1, "none", "02:10", "iqr"),
        ("anomaly", "02:30", "", 3, "up", "02:10", "mad"), ("recovery", "02:40", "", 3, "none", "02:10", "iqr"),
        ("anomaly", "03:10", "", 3, "down", "02:50", A2), ("anomaly", "03:20", "", 4, "down", "02:50", A2),
        ("recovery", "03:30", "", 4, "none", "02:50", "iqr"),
    ],
    "C": [
        ("anomaly", "01:00", "", 3, "up", "00:40", A2), ("recovery", "01:20", "", 4, "none", "00:40", "iqr"),
        ("anomaly", "03:10", "", 3, "down", "02:50", A2), ("recovery", "03:30", "", 4, "none", "02:50", "iqr"),
    ],
    "D": [
        ("anomaly", "01:00", "", 3, "up", "00:40", A2), ("recovery", "01:20", "", 4, "none", "00:40", "iqr"),
        ("anomaly", "01:50", "", 3, "down", "01:30", A3), ("recovery", "02:00", "01:50", 3, "none", "01:30", "iqr"),
        ("anomaly", "03:10", "", 3, "down", "02:50", A2), ("recovery", "03:30", "", 4, "none", "02:50", "iqr"),
    ],
    "E": [
        ("anomaly", "00:40", "", 1, "up", "00:40", A2), ("anomaly", "00:50", "", 2, "up", "00:40", A2),
        ("anomaly", "01:00", "", 3, "up", "00:40", A2), ("anomaly", "01:10", "", 4, "up", "00:40", A2),
        ("recovery", "01:20", "", 4, "none", "00:40", "iqr"), ("anomaly", "01:30", "", 1, "up", "01:30", "mad"),
        ("recovery", "01:40", "", 1, "none", "01:30", "iqr"), ("no_data", "02:00", "", 0, "none", "-", "no_data"),
        ("anomaly", "02:10", "", 1, "up", "02:10", "mad"), ("anomaly", "02:20", "", 2, "up", "02:10", "mad"),
        ("anomaly", "02:30", "", 3, "up", "02:10", "mad"), ("no_data", "02:40", "", 0, "none", "-", "no_data"),
        ("recovery", "02:50", "", 3, "none", "02:10", "iqr"), ("anomaly", "03:40", "", 1, "up", "03:40", A2),
        ("anomaly", "03:50", "", 2, "up", "03:40", A2), ("anomaly", "04:00", "03:50", 2, "up", "03:40", A2),
        ("anomaly", "04:10", "03:50", 2, "up", "03:40", A2), ("anomaly", "04:20", "03:50", 2, "up", "03:40", A2),
    ],
    "F": [
        ("anomaly", "01:40", "", 2, "down", "01:30", A3), ("recovery", "02:10", "", 3, "none", "01:30", "iqr"),
        ("no_data", "02:40", "", 0, "none", "-", "no_data"), ("recovery", "03:30", "", 4, "none", "02:50", "iqr"),
        ("anomaly", "03:50", "", 2, "down", "03:40", "iqr"), ("recovery", "04:00", "03:50", 2, "none", "03:40", "iqr"),
        ("anomaly", "04:10", "03:50", 2, "down", "03:40", "iqr"), ("recovery", "04:20", "03:50", 2, "none", "03:40", "iqr"),
    ],
    "G": [
        ("anomaly", "01:00", "", 3, "up", "00:40", A2), ("anomaly", "01:50", "", 3, "down", "01:30", A3),
        ("anomaly", "02:30", "", 3, "up", "02:10", "mad"), ("anomaly", "03:10", "", 3, "down", "02:50", A2),
    ],
    "H": [
        ("anomaly", "00:40", "", 1, "up", "00:40", A2), ("recovery", "01:20", "", 4, "none", "00:40", "iqr"),
        ("anomaly", "01:40", "", 1, "down", "01:40", A3), ("recovery", "02:10", "", 2, "none", "01:40", "iqr"),
        ("anomaly", "02:50", "", 1, "down", "02:50", A2), ("recovery", "03:30", "", 4, "none", "02:50", "iqr"),
        ("anomaly", "03:40", "", 1, "up", "03:40", A2),
    ],
    "I": [
        ("anomaly", "00:40", "", 1, "up", "00:40", A2), ("anomaly", "01:40", "", 1, "down", "01:40", A3),
        ("anomaly", "02:50", "", 1, "down", "02:50", A2), ("anomaly", "03:50", "", 2, "up", "03:40", A2),
    ],
}
STALE_TAIL = ("04:00", "04:10", "04:20")


def reference_value_at() -> dict:
    """What detectkit's report builder passes: rows only where stored, NaN mapped to None."""
    return {X.t(i): None if math.isnan(X.value(i)) else X.value(i) for i in range(27) if i != 12}


def without(config: str, *times: str) -> list[tuple]:
    return [row for row in SPEC[config] if row[1] not in times]


def ours(config: str, **datapoints_kw) -> pl.DataFrame:
    return replay(X.detections(), X.datapoints(**datapoints_kw), X.CONFIGS[config], X.STEP, X.START, X.END)


def spec_rows(events: pl.DataFrame) -> list[tuple]:
    """Our events in the spec's notation; ad.ts is always t for us (evidence is at t)."""
    return [(k, t, "", n, d, o, det) for k, t, n, d, o, det in X.table(events)]


@pytest.mark.parametrize("config", sorted(SPEC))
def test_slow_reference_mode_reproduces_spec_tables(config):
    """The oracle's reference mode is detectkit 0.29: it must print §13.1 exactly."""
    alert = AlertConfig(**X.CONFIGS[config])
    got = slow_replay(X.detections(), reference_value_at(), alert, X.STEP, X.START, X.END, mode="reference")
    rows = [
        (e["kind"], X.hhmm(e["timestamp"]),
         "" if e["data_timestamp"] == e["timestamp"] else X.hhmm(e["data_timestamp"]),
         e["consecutive"], e["direction"] or "none", X.hhmm(e["onset"]) or "-", e["detector"])
        for e in got
    ]
    assert rows == SPEC[config]


@pytest.mark.parametrize("config", sorted(X.CONFIGS))
def test_config_ids_of_the_examples(config):
    assert ours(config)["config_id"].unique().to_list() in ([X.CONFIG_IDS[config]], [])
    assert AlertConfig(**X.CONFIGS[config]).config_id == X.CONFIG_IDS[config]


@pytest.mark.parametrize("config", ["C", "G", "H"])
def test_identical_to_reference(config):
    assert spec_rows(ours(config)) == SPEC[config]


def test_config_A_deviation1_no_stale_refire():
    # 02:00 has no datapoint row (not loaded: not evaluated); 04:00-04:20 have no detections.
    assert spec_rows(ours("A")) == without("A", "02:00", *STALE_TAIL)


def test_config_B_deviation1_unloaded_point_not_evaluated():
    assert spec_rows(ours("B")) == without("B", "02:00")


def test_config_D_deviation3_no_spurious_recovery_in_gap():
    # The reference recovers at 02:00 (no fresh detection while in cooldown) although the chain
    # holds. We wait for a point whose detections no longer hold it: 02:40 (mad-up alone at
    # 02:10-02:30 still blocks under `any`). The incident is still the 01:30-01:50 run.
    expected = without("D", "02:00") + [("recovery", "02:40", "", 3, "none", "01:30", "iqr")]
    assert spec_rows(ours("D")) == sorted(expected, key=lambda r: r[1])


def test_config_E_deviation1_unloaded_point_raises_no_no_data():
    assert spec_rows(ours("E")) == without("E", "02:00", *STALE_TAIL)


def test_config_E_deviation2_nan_row_is_no_data():
    # Our loader writes a NaN row for the missing point: that is the reference's no-data at 02:00.
    assert spec_rows(ours("E", nan_gap=True)) == without("E", *STALE_TAIL)


def test_config_F_deviation1_deviation3_no_flap_on_stale_tail():
    assert spec_rows(ours("F")) == without("F", *STALE_TAIL)


def test_config_I_deviation4_cooldown_reset_without_notify():
    # The metric recovered at 03:30 (nothing sent, notify is off): the cooldown is lifted, so the
    # 03:40 up alert fires as it does with notify on (config H), instead of 03:50.
    expected = [row for row in SPEC["H"] if row[0] == "anomaly"]
    assert spec_rows(ours("I")) == expected


@pytest.mark.parametrize("config", sorted(X.CONFIGS))
@pytest.mark.parametrize("nan_gap", [False, True])
def test_fast_equals_slow_on_the_examples(config, nan_gap):
    datapoints = X.datapoints(nan_gap=nan_gap)
    alert = AlertConfig(**X.CONFIGS[config])
    slow = slow_replay(X.detections(), {r[0]: r[1] for r in datapoints.rows()}, alert, X.STEP, X.START, X.END)
    assert comparable(ours(config, nan_gap=nan_gap).to_dicts()) == comparable(slow)


def test_payload_of_an_anomaly_and_a_recovery():
    events = ours("B")
    first = events.row(0, named=True)
    assert first["detectors"] == "d1_mad,d2_zscore"
    assert first["severity"] == 4.0 and first["value"] == 106.0  # i = 6, quorum max severity
    assert (first["confidence_lower"], first["confidence_upper"]) == (90.0, 110.0)
    assert first["detector_count"] == 2 and first["fired_by_share"] is False and first["window_share"] is None
    recovery = events.filter(pl.col("timestamp") == X.t(16)).row(0, named=True)
    assert recovery["kind"] == "recovery" and recovery["value"] is None  # NaN value shows as no data
    assert recovery["detectors"] == "d3_iqr" and recovery["direction"] is None and recovery["severity"] == 0.0
    assert len(set(events["event_id"])) == len(events) and all(len(e) == 16 for e in events["event_id"])


def test_recovery_without_band_shows_the_newest_anomalous_row():
    det = X.detections().with_columns(
        confidence_lower=pl.when(pl.col("timestamp") == X.t(8)).then(None).otherwise(pl.col("confidence_lower")),
        confidence_upper=pl.when(pl.col("detector_id") == "d2_zscore").then(115.0).otherwise(pl.col("confidence_upper")),
    )
    events = replay(det, X.datapoints(), X.CONFIGS["B"], X.STEP, X.START, X.END)
    recovery = events.filter(pl.col("timestamp") == X.t(8)).row(0, named=True)
    # Newest anomalous row up to 01:20 is zscore at 01:10.
    assert (recovery["detector"], recovery["detectors"]) == ("zscore", "d2_zscore")
    assert (recovery["confidence_lower"], recovery["confidence_upper"]) == (90.0, 115.0)


# -- pitfall checks of §13.1 ------------------------------------------------------------------


def test_deviation2_nan_value_raises_no_data():
    alert = AlertConfig(**X.CONFIGS["E"])
    nan_kept = reference_value_at() | {X.t(16): math.nan}
    ref = slow_replay(X.detections(), nan_kept, alert, X.STEP, X.START, X.END, mode="reference")
    assert X.t(16) not in [e["timestamp"] for e in ref if e["kind"] == "no_data"]  # reference pitfall P3
    assert X.t(16) in ours("E").filter(pl.col("kind") == "no_data")["timestamp"].to_list()


def test_deviation1_epoch_grid_ignores_start_phase():
    alert = AlertConfig(**X.CONFIGS["E"])
    shifted = X.START + timedelta(seconds=60)
    ref = slow_replay(X.detections(), reference_value_at(), alert, X.STEP, shifted, X.END, mode="reference")
    assert [e["kind"] for e in ref] == ["no_data"] * 26  # reference pitfall P5
    ev = replay(X.detections(), X.datapoints(), alert, X.STEP, shifted, X.END)
    assert ev.equals(ours("E"))  # the first grid point (00:00) has no event either way


def _run(n: int, anomalous=lambda i: True, direction="up"):
    ts = [datetime(2024, 1, 1) + timedelta(seconds=X.STEP * i) for i in range(n)]
    det = pl.DataFrame({
        "timestamp": ts, "detector_id": ["d"] * n, "detector_name": ["mad"] * n,
        "is_anomaly": [anomalous(i) for i in range(n)], "direction": [direction] * n, "severity": [3.0] * n,
        "value": [1.0] * n, "confidence_lower": [0.0] * n, "confidence_upper": [0.5] * n,
    }).with_columns(pl.col("timestamp").cast(pl.Datetime("ms")))
    dp = pl.DataFrame({"timestamp": ts, "value": [1.0] * n}).with_columns(pl.col("timestamp").cast(pl.Datetime("ms")))
    return det, dp, ts


def test_deviation5_true_streak_beyond_1000_points():
    det, dp, ts = _run(1200)
    events = replay(det, dp, {"channels": ["ops"], "alert_cooldown": "1d"}, X.STEP, ts[0], ts[-1])
    assert events["consecutive"].to_list() == [3, 147, 291, 435, 579, 723, 867, 1011, 1155]
    assert events["timestamp"][0] == datetime(2024, 1, 1, 0, 20)
    assert (events["onset"] == ts[0]).all()


def test_deviation6_row_order_does_not_matter():
    det = X.detections()
    shuffled = det.sample(fraction=1.0, shuffle=True, seed=7)
    for config in X.CONFIGS.values():
        a = replay(det, X.datapoints(), config, X.STEP, X.START, X.END)
        b = replay(shuffled, X.datapoints().reverse(), config, X.STEP, X.START, X.END)
        assert a.equals(b)


# -- §13.2 live examples, where they apply to a replay (t = the run's last complete point) ------


def test_live_1_cooldown_then_recovery():
    det, dp, ts = _run(10, anomalous=lambda i: 1 <= i <= 7)
    det = pl.concat([det, det.with_columns(detector_id=pl.lit("z"), detector_name=pl.lit("zscore"))])
    alert = {"channels": ["ops"], "alert_cooldown": "30min", "notify_on_recovery": True}
    got = X.table(replay(det, dp, alert, X.STEP, ts[0], ts[-1]))
    assert [(k, t, n, o) for k, t, n, _, o, _ in got] == [
        ("anomaly", "00:30", 3, "00:10"), ("anomaly", "01:00", 6, "00:10"), ("recovery", "01:20", 7, "00:10"),
    ]


@pytest.mark.parametrize("reset", [True, False])
@pytest.mark.parametrize("notify", [True, False])
def test_live_2_3_4_deviation1_deviation3_stalled_detector_alerts_once(reset, notify):
    # Detections stop after point 1 while datapoints keep arriving. Live re-alerts every run
    # (reset on) or sends a spurious recovery (notify on); we alert once and wait for evidence.
    det, dp, ts = _run(10, anomalous=lambda i: i == 1, direction="down")
    alert = {"channels": ["ops"], "consecutive_anomalies": 1, "alert_cooldown": "1h",
             "cooldown_reset_on_recovery": reset, "notify_on_recovery": notify}
    events = replay(det.filter(pl.col("timestamp") <= ts[1]), dp, alert, X.STEP, ts[0], ts[-1])
    assert X.table(events) == [("anomaly", "00:10", 1, "down", "00:10", "mad")]


def test_live_5_no_data_then_recovery_of_the_earlier_anomaly():
    det, dp, ts = _run(4, anomalous=lambda i: i == 1, direction="down")
    dp = dp.with_columns(value=pl.when(pl.col("timestamp") == ts[2]).then(math.nan).otherwise(pl.col("value")))
    alert = {"channels": ["ops"], "consecutive_anomalies": 1, "no_data_alert": True, "notify_on_recovery": True}
    got = X.table(replay(det, dp, alert, X.STEP, ts[1], ts[3]))
    assert got == [
        ("anomaly", "00:10", 1, "down", "00:10", "mad"), ("no_data", "00:20", 0, "none", "-", "no_data"),
        ("recovery", "00:30", 1, "none", "00:10", "mad"),
    ]
