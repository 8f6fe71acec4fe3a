"""Autotune speed against detectkit 0.29.0's measured runs, and the cost of ``search_options``.

    .venv/bin/python benchmarks/bench_autotune.py [--repeat N] [--no-options]

The data and settings of the reference's timings: ``100 + 20 sin(daily) - 15 on weekends
+ N(0, 3)`` on a 10-minute grid, seasonality columns hour and day_of_week, six incidents of
6-18 points (+-18..30) after point 2500, default settings (mcc, 5 folds, lambda 0.5).
Prints the wall time (best of --repeat), the candidates evaluated, the winner and the
speed-up over the reference's wall time for each mode, and the 50,000-point run.

The second table runs the same cases with ``search_options: true`` (every detector option,
autoreg and recovery hysteresis also searched) next to the default search: seconds,
candidates and what each run chose.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectkit_dagster.autotune import autotune  # noqa: E402
from detectkit_dagster.autotune.evaluate import OPTION_PARAMS  # noqa: E402
from detectkit_dagster.autotune.sample import seasonal_series  # noqa: E402

# (points, labeled, reference wall seconds for 20,000/50,000 points at 10 minutes)
RUNS = [
    (20_000, False, 75.1),
    (20_000, True, 52.5),
    (50_000, False, 128.7),
    (50_000, True, None),
]
TARGET = 20.0


def timed(sample, labeled: bool, repeat: int, settings: dict | None = None):
    """(best wall seconds, result) of autotune on the sample."""
    incidents = sample.incidents if labeled else None
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = autotune(sample.timestamps, sample.values, sample.interval_seconds, incidents=incidents,
                          settings=settings, seasonality=sample.seasonality)
        best = min(best, time.perf_counter() - start)
    return best, result


def winner(result) -> str:
    params = result.detector_params
    text = (f"{result.detector_type} threshold={params['threshold']} window={params['window_size']} "
            f"seasonality={result.seasonality} ({result.score:.3f})")
    options = {k: v for k, v in params.items() if k in OPTION_PARAMS}
    if options:
        text += f" {options}"
    if result.alerting:
        text += f" {result.alerting}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best is reported")
    parser.add_argument("--no-options", action="store_true", help="skip the search_options table")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    header = (f"{'points':>7} {'mode':13} {'wall s':>7} {'candidates':>10} {'reference s':>11} {'speed-up':>9}  "
              f"winner (score)")
    print(header)
    print("-" * (len(header) + 30))
    default = {}
    for points, labeled, reference in RUNS:
        sample = seasonal_series(points)
        autotune(sample.timestamps[:3000], sample.values[:3000], 600)  # imports and caches warm
        best, result = timed(sample, labeled, args.repeat)
        default[points, labeled] = best, result
        ratio = f"{reference / best:8.1f}x" if reference else f"{'n/a':>9}"
        print(f"{points:7,} {result.mode:13} {best:7.2f} {result.scores['candidates_evaluated']:10} "
              f"{reference or 'n/a':>11} {ratio}  {winner(result)}", flush=True)
    print(f"\ntarget: at least {TARGET:.0f}x the reference (<= {75.1 / TARGET:.2f} s unsupervised, "
          f"<= {52.5 / TARGET:.2f} s supervised at 20,000 points)")
    if args.no_options:
        return
    print("\nsearch_options: true (spread floors, minimum change, non_negative, clamp, autoreg, recovery) "
          "against the default search")
    header = f"{'points':>7} {'mode':13} {'default s':>9} {'cand.':>6} {'options s':>9} {'cand.':>6} {'cost':>6}  winner (score)"
    print(header)
    print("-" * (len(header) + 30))
    for points, labeled, _ in RUNS:
        plain, plain_result = default[points, labeled]
        best, result = timed(seasonal_series(points), labeled, args.repeat, {"search_options": True})
        print(f"{points:7,} {result.mode:13} {plain:9.2f} {plain_result.scores['candidates_evaluated']:6} "
              f"{best:9.2f} {result.scores['candidates_evaluated']:6} {best / plain:5.1f}x  {winner(result)}", flush=True)


if __name__ == "__main__":
    main()
