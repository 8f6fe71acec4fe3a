"""Replay speed: 1,500 / 3,000 / 100,000 points x 3 detectors.

detectkit 0.29 re-sorts the whole causal history at every grid point (quadratic): 3.5 s for
1,500 points and 14 s for 3,000 points x 3 detectors (spec §6.7 P11). Ours is one linear pass.

    python benchmarks/bench_replay.py
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from detectkit_dagster.alerting import replay

STEP = 600
REFERENCE_SECONDS = {1_500: 3.5, 3_000: 14.0}
DETECTORS = (("d1_mad", "mad"), ("d2_zscore", "zscore"), ("d3_iqr", "iqr"))
ALERTS = {
    "quorum 2/3, same, 3 consecutive, cooldown, recovery, no-data": {
        "channels": ["ops"], "min_detectors": 2, "consecutive_anomalies": 3, "alert_cooldown": "30min",
        "notify_on_recovery": True, "no_data_alert": True,
    },
    "+ fraction rule (6h, 30%)": {
        "channels": ["ops"], "min_detectors": 2, "consecutive_anomalies": 3, "alert_cooldown": "30min",
        "notify_on_recovery": True, "no_data_alert": True, "anomaly_window": "6h", "min_anomaly_share": 0.3,
    },
}


def tables(n: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame, datetime, datetime]:
    """A metric with bursts of anomalies (about 5% of points) and a few missing values."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1)
    ts = np.arange(np.datetime64(start, "ms"), np.datetime64(start + timedelta(seconds=STEP * n), "ms"),
                   np.timedelta64(STEP, "s"))
    burst = np.convolve(rng.random(n) < 0.01, np.ones(5), "same") > 0
    value = 100 + rng.normal(0, 1, n)
    value[rng.random(n) < 0.002] = np.nan
    frames = []
    for det_id, name in DETECTORS:
        anomalous = burst & (rng.random(n) < 0.8) | (rng.random(n) < 0.005)
        up = rng.random(n) < 0.7
        frames.append(pl.DataFrame({
            "timestamp": ts, "detector_id": det_id, "detector_name": name, "is_anomaly": anomalous,
            "direction": np.where(up, "up", "down"),
            "severity": np.where(anomalous, rng.uniform(3, 9, n), np.nan), "value": value,
            "confidence_lower": value - 3, "confidence_upper": value + 3,
        }))
    detections = pl.concat(frames).with_columns(
        pl.col("severity").fill_nan(None), pl.when(pl.col("is_anomaly")).then(pl.col("direction")).alias("direction")
    )
    datapoints = pl.DataFrame({"timestamp": ts, "value": value})
    return detections, datapoints, start, start + timedelta(seconds=STEP * (n - 1))


def best_of(runs: int, fn) -> tuple[float, pl.DataFrame]:
    best, result = float("inf"), None
    for _ in range(runs):
        began = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - began)
    return best, result


def main() -> None:
    replay(*tables(100)[:2], next(iter(ALERTS.values())), STEP, datetime(2024, 1, 1), datetime(2024, 1, 2))  # warm up
    print(f"{'points':>8} {'alert rule':<62} {'events':>7} {'seconds':>9} {'points/s':>11}  vs detectkit 0.29")
    for n in (1_500, 3_000, 100_000):
        detections, datapoints, start, end = tables(n)
        for label, alert in ALERTS.items():
            seconds, events = best_of(5 if n < 10_000 else 3,
                                      lambda: replay(detections, datapoints, alert, STEP, start, end))
            if n in REFERENCE_SECONDS:
                versus = f"{REFERENCE_SECONDS[n] / seconds:,.0f}x faster ({REFERENCE_SECONDS[n]} s there)"
            else:  # quadratic there: scale the 3,000-point time
                extrapolated = REFERENCE_SECONDS[3_000] * (n / 3_000) ** 2
                versus = f"~{extrapolated / seconds:,.0f}x faster (~{extrapolated / 3600:.1f} h there, extrapolated)"
            print(f"{n:>8,} {label:<62} {len(events):>7,} {seconds:>9.4f} {n / seconds:>11,.0f}  {versus}")

    # Stress: every detector anomalous at every point and no cooldown, so every point alerts.
    detections, datapoints, start, end = tables(100_000)
    detections = detections.with_columns(is_anomaly=True, direction=pl.lit("up"), severity=4.0)
    alert = {"channels": ["ops"], "consecutive_anomalies": 1}
    seconds, events = best_of(3, lambda: replay(detections, datapoints, alert, STEP, start, end))
    print(f"{100_000:>8,} {'stress: an alert at every point':<62} {len(events):>7,} {seconds:>9.4f} "
          f"{100_000 / seconds:>11,.0f}")


if __name__ == "__main__":
    main()
