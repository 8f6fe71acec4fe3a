"""Alert quality beyond detectkit 0.29, end to end through the pipeline functions: the demo's
level shift pages once, a flat integer gauge stays quiet with a spread floor or a minimum
change but a real drop still alerts, and the recommended configuration loads as a metric YAML."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from detectkit_dagster.config.alert import AlertConfig
from detectkit_dagster.config.metric import MetricConfig
from detectkit_dagster.project import load_project
from detectkit_dagster.demo import build_demo_source
from detectkit_dagster.detection import recommended_config
from detectkit_dagster.alerting import replay_blocks
from detectkit_dagster.pipeline import Window, build_detectors, detect_range, span
from detectkit_dagster.sources import make_source
from detectkit_dagster.sources.loader import load_datapoints

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 27, 12, 0)
SHIFT = datetime(2026, 11, 22, 11, 0)  # the demo's checkout latency shift: five days ago, 11:00


def days(first: datetime, count: int) -> list[Window]:
    return [Window(first + timedelta(days=d), first + timedelta(days=d + 1)) for d in range(count)]


def events_of(metric: MetricConfig, datapoints: pl.DataFrame, windows: list[Window]) -> pl.DataFrame:
    """The alert events of one replay over the windows (as the alerts asset computes them)."""
    detections = detect_range(metric, build_detectors(metric), datapoints, windows)
    whole = span(windows)
    return replay_blocks(detections, datapoints, metric.alerts, metric.interval_seconds, whole.start,
                         whole.end - timedelta(seconds=metric.interval_seconds))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo project with its source built for NOW, and the checkout latency loaded."""
    root = tmp_path_factory.mktemp("demo")
    for name in ("detectkit_project.yml", "profiles.yml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "metrics", root / "metrics")
    build_demo_source(root / "data" / "demo_source.duckdb", NOW)
    project = load_project(root)
    metric = project.metric("checkout_latency_p95")
    source = make_source(project.profile_for(metric)[1], root)
    datapoints = load_datapoints(metric, source, metric.loading_start_time, datetime(2026, 11, 27)).frame
    return metric, datapoints


def kinds(events: pl.DataFrame, start: datetime, end: datetime) -> list[str]:
    return events.filter(pl.col("timestamp").is_between(start, end))["kind"].to_list()


def test_demo_level_shift_pages_once_with_the_recommended_alert_options(demo):
    metric, datapoints = demo
    windows = days(datetime(2026, 11, 13), 14)
    incident = (SHIFT - timedelta(hours=1), datetime(2026, 11, 27))
    shipped = kinds(events_of(metric, datapoints, windows), *incident)
    assert shipped.count("anomaly") == 1 and shipped.count("recovery") <= 1  # the demo as it ships
    # Without recovery hysteresis (as detectkit 0.29), every brief return inside the band re-arms it.
    as_detectkit = metric.model_copy(update={"alerting": [a.model_copy(update={"recovery_consecutive": 1})
                                                           for a in metric.alerts]})
    assert kinds(events_of(as_detectkit, datapoints, windows), *incident).count("anomaly") > 5

    options = recommended_config(metric.interval_seconds)["alerting"]
    recommended_alerts = metric.model_copy(update={"alerting": [AlertConfig(channels=["outbox"], **options)]})
    events = events_of(recommended_alerts, datapoints, windows)
    assert kinds(events, *incident) == ["anomaly", "recovery"]
    assert events.filter(pl.col("kind") == "anomaly")["timestamp"].to_list()[-1] == SHIFT


def test_demo_with_the_whole_recommended_configuration(demo):
    metric, datapoints = demo
    recommended = recommended_config(metric.interval_seconds)
    whole = MetricConfig.model_validate(
        metric.model_dump(exclude={"detectors", "alerting", "seasonality_columns"})
        | {"detectors": recommended["detectors"], "seasonality_columns": recommended["seasonality_columns"],
           "alerting": {"channels": ["outbox"], **recommended["alerting"]}})
    whole.bind(metric.path, ROOT)
    events = events_of(whole, datapoints, days(datetime(2026, 11, 13), 14))
    assert events.select("kind", "timestamp").rows() == [
        ("anomaly", SHIFT), ("recovery", events["timestamp"][1])]
    assert events["incident_detectors"].to_list() == ["ZScoreDetector", "ZScoreDetector"]


def gauge_metric(detector: dict) -> MetricConfig:
    return MetricConfig.model_validate({
        "name": "queue_workers", "query": "select 1", "interval": "1min", "loading_start_time": "2026-05-01 00:00:00",
        "detectors": [detector], "alerting": {"channels": ["ops"], "consecutive_anomalies": 1},
    })


def gauge(drop: bool) -> pl.DataFrame:
    """A gauge at 12 that reads 11 for single minutes now and then; optionally 8 for 30 minutes."""
    n = 2 * 24 * 60
    values = np.full(n, 12.0)
    values[np.arange(97, n, 173)] = 11.0
    values[np.arange(98, n, 331)] = 11.0  # now and then two 11s in a row
    if drop:
        values[1800:1830] = 8.0
    stamps = np.datetime64("2026-05-01", "ms") + np.arange(n) * np.timedelta64(60, "s")
    return pl.DataFrame({"timestamp": stamps, "value": values})


@pytest.mark.parametrize("params", [
    {"type": "mad", "params": {"window_size": 60, "min_spread": 0.5}},
    {"type": "mad", "params": {"window_size": 60, "min_change": 2}},
    {"type": "iqr", "params": {"window_size": 60, "min_spread": 1.0}},
    {"type": "zscore", "params": {"window_size": 60, "min_change": 2}},
])
def test_flat_integer_gauge(params):
    windows = days(datetime(2026, 5, 1), 2)
    reference = gauge_metric({"type": params["type"], "params": {"window_size": 60}})
    assert (events_of(reference, gauge(False), windows)["kind"] == "anomaly").sum() > 0  # +-1e-10 bands
    metric = gauge_metric(params)
    assert events_of(metric, gauge(False), windows).is_empty()
    alerts = events_of(metric, gauge(True), windows).filter(pl.col("kind") == "anomaly")
    assert alerts.height >= 1
    assert alerts["timestamp"][0] == datetime(2026, 5, 2, 6, 0)  # the first minute at 8


@pytest.mark.parametrize("interval", [60, 600, 3600, 86400])
def test_recommended_config_loads_through_the_project_loader(tmp_path, interval):
    recommended = recommended_config(interval)
    for name in ("detectkit_project.yml", "profiles.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "metrics").mkdir()
    document = {"name": "new_metric", "interval": interval, "loading_start_time": "2026-01-01 00:00:00",
                "query": "SELECT ts AS timestamp, v AS value FROM t WHERE ts >= '{{ dtk_start_time }}'",
                **recommended, "alerting": {"channels": ["outbox"], **recommended["alerting"]}}
    (tmp_path / "metrics" / "new_metric.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    metric = load_project(tmp_path).metric("new_metric")
    [detector] = build_detectors(metric)
    assert detector.detector_name == "ZScoreDetector"
    assert detector.params["window_size"] >= detector.params["min_samples"]
    components = detector.params.get("seasonality_components") or []
    features = {c for component in components for c in ([component] if isinstance(component, str) else component)}
    assert features <= set(metric.seasonality_features)  # every component is loaded, so it takes effect
    [alert] = metric.alerts
    assert alert.recovery_consecutive >= 2 and alert.cooldown_seconds >= 7 * 86400
    assert alert.model_dump(include=set(recommended["alerting"])) == AlertConfig(
        **recommended["alerting"]).model_dump(include=set(recommended["alerting"]))
