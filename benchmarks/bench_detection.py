"""Detection speed against detectkit 0.29.0's per-point loop, and the cost of the options.

    .venv/bin/python benchmarks/bench_detection.py [--quick] [--extra] [--options-only]

For each configuration: points/s of ``create_detector(...).detect()`` over one array of
20,000 and 200,000 ten-minute points, the speed-up over the reference timings measured
for 20,000 points (given below), and the speed-up over the slow per-point oracle in
tests/detection/reference_impl.py (run on fewer points; it is linear in N, so its
points/s is comparable). Results of the fast engine are checked against the oracle on
that smaller array before timing.

The second table times each opt-in option (spread floors, minimum change, non-negative bounds,
clamp stabilization) against the same detector without it, on 200,000 points of the same
series with incidents added (spikes, dips, a few hours long level shifts: what clamping is
for), and prints the ratio; the target is at most 1.5x. autoreg clamps by default, so its
options are the band options; its clamp against autoreg without one has a row of its own.
Each pair is timed in turns (best of --repeat), so a busy machine slows both sides alike.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from detectkit_dagster.detection import create_detector  # noqa: E402
from detection import golden, reference_impl  # noqa: E402
from detection.test_against_reference import _expected_rows  # noqa: E402

# seconds for 20,000 points, measured with detectkit 0.29.0 on the same machines
CONFIGS = [
    ("mad W=288", "mad", {"window_size": 288}, 0.68),
    ("zscore W=288", "zscore", {"window_size": 288}, 0.35),
    ("mad W=2016 hour", "mad", {"window_size": 2016, "seasonality_components": ["hour"]}, 3.44),
    ("mad W=2016 exp hl=144", "mad", {"window_size": 2016, "window_weights": "exponential", "half_life": 144}, 3.59),
]
# other paths, for information (no reference timing)
EXTRA = [
    ("iqr W=288", "iqr", {"window_size": 288}, None),
    ("zscore W=432 hour+wkend", "zscore", {"window_size": 432, "seasonality_components": ["hour", "is_weekend"]}, None),
    ("iqr W=1000 linear", "iqr", {"window_size": 1000, "window_weights": "linear"}, None),
    ("mad W=288 detrend", "mad", {"window_size": 288, "detrend": "linear"}, None),
]


def series(n: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 100 + 20 * np.sin(2 * np.pi * (t % 144) / 144) + 0.001 * t + rng.normal(0, 2, n)
    values[rng.choice(n, n // 500, replace=False)] = np.nan
    ts = np.datetime64("2024-01-01T00:00", "ms") + t * np.timedelta64(600, "s")
    return ts, values


OPTIONS = [
    ("min_spread", {"min_spread": 1.0}),
    ("min_relative_spread", {"min_relative_spread": 0.02}),
    ("min_change", {"min_change": 2.0}),
    ("min_relative_change", {"min_relative_change": 0.02}),
    ("non_negative", {"non_negative": True}),
    ("stabilization: clamp", {"stabilization": "clamp"}),
    ("all of them", {"min_spread": 1.0, "min_relative_change": 0.02, "non_negative": True, "stabilization": "clamp"}),
]
AUTOREG_OPTIONS = [option for option in OPTIONS if "stabilization" not in option[1]] + [
    ("all of them", {"min_spread": 1.0, "min_relative_change": 0.02, "non_negative": True}),
]
OPTION_BASES = [
    ("mad W=288", "mad", {"window_size": 288}),
    ("zscore W=288", "zscore", {"window_size": 288}),
    ("iqr W=288", "iqr", {"window_size": 288}),
    ("zscore W=1008 hour", "zscore", {"window_size": 1008, "seasonality_components": ["hour"]}),
]


def series_with_incidents(n: int, seed: int = 11):
    """A daily rhythm with noise, plus what monitoring data has: spikes, dips, hours-long shifts."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 100 + 5 * np.sin(2 * np.pi * (t % 144) / 144) + rng.normal(0, 2, n)
    for start in range(1500, n - 400, 3000):
        values[start] += rng.choice([-1, 1]) * rng.uniform(15, 40)
        values[start + 1000:start + 1000 + rng.integers(6, 60)] += rng.choice([-1, 1]) * 15
    values[rng.choice(n, n // 500, replace=False)] = np.nan
    return np.datetime64("2024-01-01T00:00", "ms") + t * np.timedelta64(600, "s"), values


def options_table(n: int, repeat: int) -> None:
    ts, values = series_with_incidents(n)
    print(f"\noptions on {n:,} points: seconds with and without (best of {repeat}, taken in turns), ratio "
          f"(target <= 1.5x), flagged points; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    header = f"{'detector':22} {'option':22} {'without':>8} {'with':>8} {'ratio':>6} {'flags':>13}"
    print(header)
    print("-" * len(header))
    rows = [(label, det_type, base, OPTIONS) for label, det_type, base in OPTION_BASES]
    # autoreg clamps by default: the options it adds to are the band options; what its clamp
    # costs against autoreg without one is a row of its own
    rows.append(("autoreg (defaults)", "autoreg", {}, AUTOREG_OPTIONS))
    rows.append(("autoreg, no clamp", "autoreg", {"stabilization": None}, [("its default clamp", {"stabilization": "clamp"})]))
    for label, det_type, base, options in rows:
        plain = create_detector(det_type, base)
        plain.detect(ts[:5000], values[:5000])  # warm-up
        flags0 = int(plain.detect(ts, values)["is_anomaly"].sum())
        for name, extra in options:
            det = create_detector(det_type, base | extra)
            t0, t1 = in_turns(lambda: plain.detect(ts, values), lambda: det.detect(ts, values), repeat)
            flags1 = int(det.detect(ts, values)["is_anomaly"].sum())
            print(f"{label:22} {name:22} {t0:8.3f} {t1:8.3f} {t1 / t0:5.2f}x {flags0:6d}->{flags1:<6d}", flush=True)


def in_turns(first, second, repeat):
    """Best times of two functions run alternately, so a busy spell slows both alike."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, fn in enumerate((first, second)):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def best_of(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the 200k runs")
    parser.add_argument("--oracle-points", type=int, default=None, help="default: window + 2000")
    parser.add_argument("--extra", action="store_true", help="also time the informational configs")
    parser.add_argument("--options-only", action="store_true", help="only the table of the options' cost")
    parser.add_argument("--option-points", type=int, default=200_000, help="points for the options table")
    parser.add_argument("--repeat", type=int, default=5, help="runs per option and detector in the options table")
    args = parser.parse_args()
    if args.options_only:
        options_table(args.option_points, args.repeat)
        return
    header = f"{'config':24} {'20k pts/s':>12} {'200k pts/s':>12} {'vs reference':>13} {'vs oracle':>10}"
    print(header)
    print("-" * len(header))
    for label, det_type, params, reference_seconds in CONFIGS + (EXTRA if args.extra else []):
        det = create_detector(det_type, params)
        oracle_points = args.oracle_points or params["window_size"] + 2000
        ts, values = series(oracle_points)
        start = time.perf_counter()
        oracle = reference_impl.detect(det_type, params, ts, values)
        oracle_rate = oracle_points / (time.perf_counter() - start)
        diffs = golden.compare_frame(det.detect(ts, values), _expected_rows(oracle))
        assert not diffs, f"{label}: engine differs from the oracle: {diffs[:3]}"

        ts, values = series(20_000)
        det.detect(ts, values)  # warm-up
        t20 = best_of(lambda: det.detect(ts, values), 3)
        rate20 = 20_000 / t20
        rate200 = float("nan")
        if not args.quick:
            ts, values = series(200_000)
            rate200 = 200_000 / best_of(lambda: det.detect(ts, values), 1)
        versus = f"{reference_seconds / t20:12.1f}x" if reference_seconds else f"{'n/a':>13}"
        print(f"{label:24} {rate20:12,.0f} {rate200:12,.0f} {versus} {rate20 / oracle_rate:9.0f}x")
    print("\n'vs oracle': the per-point oracle runs on window + 2000 points (its cost per point is flat")
    print("once the window is full); both engines are checked to agree on that array first.")
    options_table(args.option_points, args.repeat)


if __name__ == "__main__":
    main()
