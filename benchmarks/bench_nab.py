"""Detection quality on the Numenta Anomaly Benchmark (NAB): 58 series, 365,558 rows, 116 windows.

    .venv/bin/python benchmarks/bench_nab.py [--jobs 2] [--config recommended|<name>|file.json]
                                             [--study] [--check-scorer] [--nab /path/to/nab]

One configuration runs over the whole corpus, exactly as a metric YAML would run it (the
detectors and the alerting block of ``recommended_config(interval)``, the interval being each
file's median row spacing); nothing is tuned per file and no label is used to choose anything.
Two protocols turn the results into NAB anomaly scores:

* alert onsets: 1 at each anomaly alert of the configuration's alert rule, 0 elsewhere -- what
  pages a person (the corpus threshold sweep then has nothing to choose);
* graded: for rows some detector flags, ``s / (1 + s)`` of the largest severity ``s``, 0
  elsewhere -- the sweep picks the best severity cut for the whole corpus.

Rows are taken as they are (one grid slot per row, at the file's median spacing), so windows
count rows, as NAB's windows do. ``--study`` prints the table of configurations behind the
recommendation (each option added or removed); ``--check-scorer`` scores NAB's published
windowedGaussian results with our scorer (39.6 / 20.9 / 47.4 expected).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import nab_scoring as nab  # noqa: E402
from detectkit_dagster.alerting import replay  # noqa: E402
from detectkit_dagster.config.metric import MetricConfig  # noqa: E402
from detectkit_dagster.detection import builtin_features, recommended_config  # noqa: E402
from detectkit_dagster.pipeline.detect import build_detectors  # noqa: E402

GRID_START = np.datetime64("2000-01-01T00:00:00", "ms")  # a multiple of every NAB spacing
PROTOCOLS = ("onsets", "graded")


def interval_of(data: nab.DataFile) -> int:
    """The file's median row spacing in seconds (what a user would configure as the interval)."""
    return int(np.median(np.diff(data.timestamps).astype("timedelta64[s]").astype(np.int64)))


def metric_for(config: dict, interval: int) -> MetricConfig:
    """The configuration as a metric YAML would hold it (validated by the normal loader)."""
    return MetricConfig.model_validate({
        "name": "nab", "query": "select 1", "interval": interval,
        "loading_start_time": "2000-01-01 00:00:00", **config,
    })


def detections_of(metric: MetricConfig, stamps: np.ndarray, values: np.ndarray, real: np.ndarray) -> pl.DataFrame:
    """Every detector over the whole file, with the calendar features the metric loads, taken from
    the rows' real timestamps (as the pipeline does: a seasonality component naming a feature the
    metric does not load is a no-op)."""
    seasonality = builtin_features(real, metric.seasonality_features)
    frames = []
    for det in build_detectors(metric):
        frames.append(det.detect(stamps, values, seasonality).with_columns(
            detector_id=pl.lit(det.detector_id), detector_name=pl.lit(det.detector_name),
            detector_params=pl.lit(det.detector_params)))
    return pl.concat(frames)


def file_scores(args: tuple[dict, nab.DataFile]) -> tuple[str, dict[str, np.ndarray], dict]:
    """Anomaly scores of one file under both protocols, and its number of alerts."""
    config, data = args
    interval = interval_of(data)
    metric = metric_for(config, interval)
    n = len(data.values)
    stamps = GRID_START + np.arange(n) * np.timedelta64(interval * 1000, "ms")
    detections = detections_of(metric, stamps, data.values, data.timestamps)
    severity = (detections.filter(pl.col("is_anomaly"))
                .group_by("timestamp").agg(pl.col("severity").fill_null(np.inf).max()))
    graded = np.zeros(n)
    rows = ((severity["timestamp"].to_numpy() - GRID_START) // np.timedelta64(interval * 1000, "ms")).astype(int)
    s = severity["severity"].to_numpy()
    with np.errstate(invalid="ignore"):
        graded[rows] = np.where(np.isinf(s), 1.0, s / (1.0 + s))
    onsets = np.zeros(n)
    alerts = 0
    if metric.alerts:
        datapoints = pl.DataFrame({"timestamp": stamps, "value": data.values})
        first, last = (datetime.fromisoformat(str(stamps[i])) for i in (0, -1))
        events = replay(detections, datapoints, metric.alerts[0], interval, first, last)
        fired = events.filter(pl.col("kind") == "anomaly")["timestamp"].to_numpy()
        onsets[((fired - GRID_START) // np.timedelta64(interval * 1000, "ms")).astype(int)] = 1.0
        alerts = len(fired)
    return data.name, {"onsets": onsets, "graded": graded}, {"alerts": alerts}


def evaluate(make_config, files: list[nab.DataFile], profiles: dict, jobs: int = 1) -> dict:
    """Scores of one configuration (a function of the interval, like ``recommended_config``):
    {protocol: {profile: Outcome}}, plus alert count and timing."""
    start = time.perf_counter()
    work = [(make_config(interval_of(data)), data) for data in files]
    if jobs > 1:
        with Pool(jobs) as pool:
            results = pool.map(file_scores, work, chunksize=1)
    else:
        results = [file_scores(item) for item in work]
    elapsed = time.perf_counter() - start
    by_protocol = {p: {name: scores[p] for name, scores, _ in results} for p in PROTOCOLS}
    out = {p: nab.score_all(files, by_protocol[p], profiles) for p in PROTOCOLS}
    out["alerts"] = sum(counts["alerts"] for _, _, counts in results)
    out["seconds"] = elapsed
    return out


def published(root: Path) -> dict[str, dict[str, float]]:
    return json.loads((root / "published_final_results.json").read_text())


def print_row(label: str, result: dict, protocol: str) -> None:
    o = result[protocol]
    std = o["standard"]
    print(f"{label:60} {protocol:7} {std.normalized:6.1f} {o['reward_low_FP_rate'].normalized:6.1f} "
          f"{o['reward_low_FN_rate'].normalized:6.1f}  {std.detected:3d}/{std.detected + std.missed:<3d} "
          f"{std.false_alarms:5d}", flush=True)


def header() -> None:
    print(f"{'configuration':60} {'protocol':7} {'std':>6} {'lowFP':>6} {'lowFN':>6}  {'windows':>7} {'FP':>5}")
    print("-" * 102)


# -- the configurations behind the recommendation ---------------------------------------------
# Each is a function of the interval, like recommended_config; a step changes one thing.

def _points(interval: int, seconds: int) -> int:
    return max(30, min(10_080, seconds // interval))


def _zscore(interval: int, window: int | None = None, threshold: float = 3.0, hour: bool = False, **options) -> dict:
    params = {"threshold": threshold, **options}
    if window:
        params["window_size"] = window
    if hour:
        params["seasonality_components"] = ["hour"]
    return {"type": "zscore", "params": params}


def _config(*detectors, seasonality=(), **alerting) -> dict:
    return {"detectors": list(detectors), "alerting": alerting, "seasonality_columns": list(seasonality)}


WEEK = 7 * 86400
PER_INCIDENT = {  # the recommended alert rule, whatever the interval
    "consecutive_anomalies": 1, "alert_cooldown": "7d", "cooldown_reset_on_recovery": True,
    "notify_on_recovery": True,
}


def _per_incident(interval: int) -> dict:
    return PER_INCIDENT | {"recovery_consecutive": recommended_config(interval)["alerting"]["recovery_consecutive"]}


def _recommended_with(interval: int, detector: dict | None = None, **alerting) -> dict:
    config = recommended_config(interval)
    if detector is not None:
        config["detectors"] = [detector]
    config["alerting"] = {**config["alerting"], **alerting}
    return config


def _tuned(interval: int, **params) -> dict:
    """The recommended detector with some params changed."""
    detector = recommended_config(interval)["detectors"][0]
    return {"type": detector["type"], "params": {**detector["params"], **params}}


STUDY = {
    "detectkit 0.29 zscore defaults, alert every 3-point streak": lambda i: _config(
        _zscore(i), consecutive_anomalies=3),
    "zscore defaults, one alert per incident (the alert rule)": lambda i: _config(_zscore(i), **_per_incident(i)),
    "+ threshold 6.5": lambda i: _config(_zscore(i, threshold=6.5), **_per_incident(i)),
    "+ a week of history": lambda i: _config(_zscore(i, _points(i, WEEK), 6.5), **_per_incident(i)),
    "+ same hour of the day (seasonality)": lambda i: _config(
        _zscore(i, _points(i, WEEK), 6.5, hour=True), seasonality=["hour"], **_per_incident(i)),
    "+ spread floor 1% of the level (recommended)": recommended_config,
    "recommended, recovery at the first calm point": lambda i: _recommended_with(i, recovery_consecutive=1),
    "recommended, no reset: at most one alert a week": lambda i: _recommended_with(
        i, cooldown_reset_on_recovery=False),
    "recommended, no reset: at most one alert a day": lambda i: _recommended_with(
        i, cooldown_reset_on_recovery=False, alert_cooldown="1d"),
    "recommended, cooldown 1d": lambda i: _recommended_with(i, alert_cooldown="1d"),
    "recommended, 2 consecutive points": lambda i: _recommended_with(i, consecutive_anomalies=2),
    "recommended, threshold 6": lambda i: _recommended_with(i, _tuned(i, threshold=6.0)),
    "recommended, threshold 7": lambda i: _recommended_with(i, _tuned(i, threshold=7.0)),
    "recommended + stabilization: clamp": lambda i: _recommended_with(i, _tuned(i, stabilization="clamp")),
    "recommended + min_relative_change 0.1": lambda i: _recommended_with(i, _tuned(i, min_relative_change=0.1)),
    "recommended with mad instead of zscore": lambda i: _recommended_with(i, {"type": "mad", "params": {
        **_tuned(i)["params"]}}),
    "recommended with autoreg (threshold 6.5) instead": lambda i: _recommended_with(i, {"type": "autoreg", "params": {
        "threshold": 6.5, "min_relative_spread": 0.01}}),
}


def resolve(name: str):
    if name == "recommended":
        return recommended_config
    if name in STUDY:
        return STUDY[name]
    fixed = json.loads(Path(name).read_text())
    return lambda interval: fixed


def main() -> None:
    logging.getLogger("detectkit_dagster").setLevel(logging.ERROR)  # load-time hints, once per file
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nab", type=Path, default=nab.DEFAULT_ROOT, help="NAB root (data/, labels/, config/)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (the corpus is split by file)")
    parser.add_argument("--config", default="recommended",
                        help="'recommended', a configuration name from --study, or a JSON file of metric fields")
    parser.add_argument("--study", action="store_true", help="run the configurations behind the recommendation")
    parser.add_argument("--check-scorer", action="store_true", help="score NAB's windowedGaussian results first")
    args = parser.parse_args()

    files = nab.load_corpus(args.nab)
    profiles = nab.load_profiles(args.nab)
    if args.check_scorer:
        scores = nab.load_result_scores(files, args.nab / "results" / "windowedGaussian", "windowedGaussian")
        outcome = nab.score_all(files, scores, profiles)
        print("our scorer on NAB's windowedGaussian results: " + ", ".join(
            f"{name} {o.normalized:.2f}" for name, o in outcome.items()) + " (published: 39.65, 20.87, 47.41)\n")
    header()
    runs = STUDY if args.study else {args.config: resolve(args.config)}
    for label, make_config in runs.items():
        result = evaluate(make_config, files, profiles, args.jobs)
        for protocol in PROTOCOLS:
            print_row(label, result, protocol)
        print(f"{'':60} {result['alerts']} anomaly alerts, {result['seconds']:.1f} s", flush=True)
    print("\npublished scoreboard (standard / low FP / low FN; each detector's scores with NAB's threshold sweep):")
    for name, figures in sorted(published(args.nab).items(), key=lambda kv: -kv[1]["standard"]):
        print(f"  {name:20} {figures['standard']:6.1f} {figures['reward_low_FP_rate']:6.1f} "
              f"{figures['reward_low_FN_rate']:6.1f}")


if __name__ == "__main__":
    main()
