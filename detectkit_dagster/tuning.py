"""What the autotune asset and the commands share (no dagster): a metric's stored history and
incident labels in; the tuned metric file and its report out.

Labels, first found wins: an explicit file or folder; the metric's ``autotune.labels_file``
(relative to the project); every ``*.yml``/``*.yaml``/``*.json`` file in
``incidents/<metric>/``; the inline ``autotune.incidents``. None means unsupervised tuning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from .alerting import replay
from .autotune import DEFAULT_HISTORY, AutotuneResult, Labels, TuneSettings, autotune, parse_labels
from .config import MetricConfig, Project
from .config.alert import AlertConfig
from .detection import create_detector
from .errors import AutotuneError
from .reporting import ReportInput, render_report, write_report
from .reporting.files import write_atomic
from .schemas import DATAPOINTS, DETECTIONS
from .storage import MetricStore
from .timegrid import grid, utc_now

LABEL_SUFFIXES = (".yml", ".yaml", ".json")
REPORT_KEY = "training"  # the report's "partition": the training window


@dataclass(frozen=True)
class FoundLabels:
    labels: Labels | None
    source: str  # where they came from, for people

    @property
    def count(self) -> int:
        return len(self.labels.incidents) if self.labels else 0


@dataclass(frozen=True)
class TuneRun:
    metric: MetricConfig
    result: AutotuneResult
    history: pl.DataFrame  # the training window on the grid (NaN = missing), stored columns
    labels: FoundLabels


def incidents_dir(project: Project, metric: MetricConfig) -> Path:
    return project.root / "incidents" / metric.name


def relative(project: Project, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(project.root))
    except ValueError:
        return str(path)


def parse_metric_labels(data, metric: MetricConfig) -> Labels:
    """A labels document for this metric; it may name the metric by its name or its key."""
    named = data.get("metric") if isinstance(data, dict) else None
    if named is not None and named not in (metric.name, metric.key):
        raise AutotuneError(f"labels are for metric {named!r}, not {metric.name!r}")
    return parse_labels({**data, "metric": None} if named is not None else data)


def read_labels_file(path: Path, metric: MetricConfig) -> Labels:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AutotuneError(f"labels file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise AutotuneError(f"{path}: invalid YAML or JSON ({exc})") from None
    try:
        return parse_metric_labels(data, metric)
    except AutotuneError as exc:
        raise AutotuneError(f"{path}: {exc}") from None


def read_labels_path(path: Path, metric: MetricConfig) -> Labels:
    """A labels file, or every labels file of a folder combined."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in LABEL_SUFFIXES and p.is_file())
        labels = Labels(())
        for file in files:
            labels = labels + read_labels_file(file, metric)
        return labels
    return read_labels_file(path, metric)


def find_labels(project: Project, metric: MetricConfig, explicit: Path | None = None) -> FoundLabels:
    config = metric.autotune
    if explicit is not None:
        return FoundLabels(read_labels_path(explicit, metric), relative(project, explicit))
    if config and config.labels_file:
        path = project.path(config.labels_file)
        return FoundLabels(read_labels_path(path, metric), config.labels_file)
    folder = incidents_dir(project, metric)
    if folder.is_dir() and any(p.suffix in LABEL_SUFFIXES for p in folder.iterdir()):
        return FoundLabels(read_labels_path(folder, metric), relative(project, folder) + "/")
    if config and config.incidents:
        return FoundLabels(parse_labels(config.incidents, timezone=config.incidents_timezone),
                           "autotune.incidents")
    return FoundLabels(None, "none (unsupervised)")


def read_history(store: MetricStore, metric: MetricConfig, start: datetime | None = None,
                 end: datetime | None = None, max_points: int | None = None) -> pl.DataFrame:
    """Stored datapoints in [start, end) on the metric grid from the first to the last point
    with a value (never-loaded points are NaN), the most recent ``max_points`` of them."""
    stored = store.read_range("datapoints", start, end, schema=DATAPOINTS)
    present = stored.filter(pl.col("value").is_not_nan() & pl.col("value").is_not_null())["timestamp"]
    if present.len() == 0:
        return stored.clear()
    interval = metric.interval_seconds
    first, last = present.min(), present.max()
    if max_points:
        first = max(first, last - timedelta(seconds=interval * (max_points - 1)))
    points = pl.DataFrame({"timestamp": grid(first, last + timedelta(seconds=interval), interval)})
    return points.with_columns(pl.col("timestamp").cast(pl.Datetime("ms"))).join(
        stored, on="timestamp", how="left").with_columns(pl.col("value").fill_null(float("nan")))


def seasonality_columns(history: pl.DataFrame, metric: MetricConfig) -> dict | None:
    """Columns the query provides; None lets autotune derive the calendar features."""
    if not metric.query_provided_seasonality:
        return None
    rows = [json.loads(text) if text else {} for text in history["seasonality_data"].fill_null("{}")]
    return {name: np.array([row.get(name) for row in rows], dtype=object) for name in metric.seasonality_features}


def original_document(metric: MetricConfig) -> dict:
    """The metric's YAML as written (templates and env references untouched)."""
    data = yaml.safe_load(metric.path.read_text(encoding="utf-8"))
    return data["metric"] if isinstance(data.get("metric"), dict) else data


def tune_metric(project: Project, metric: MetricConfig, store: MetricStore, *, incidents: Path | None = None,
                start: datetime | None = None, end: datetime | None = None,
                scoring: str | None = None) -> TuneRun:
    """Read the stored history and the labels, and tune (pure from there on)."""
    settings = TuneSettings.from_block(metric.autotune, scoring)
    history = read_history(store, metric, start, end, settings.max_history or DEFAULT_HISTORY)
    if history.height == 0:
        raise AutotuneError(f"no stored datapoints for {metric.name!r}"
                            + (" in the chosen range" if start or end else "")
                            + f": materialize {metric.key}/datapoints first")
    found = find_labels(project, metric, incidents)
    result = autotune(
        history["timestamp"].to_numpy(), history["value"].to_numpy(), metric.interval_seconds,
        incidents=found.labels, settings=settings, seasonality=seasonality_columns(history, metric),
        metric=original_document(metric), source=relative(project, metric.path),
    )
    return TuneRun(metric, result, history, found)


def tuned_path(run: TuneRun) -> Path:
    """``<stem>__tuned_<run_id>.yml`` next to the original file."""
    original = run.metric.path
    return original.with_name(f"{original.stem}__tuned_{run.result.run_id}.yml")


def write_tuned(project: Project, run: TuneRun) -> Path:
    """Write the tuned metric file (never the original); its name must be new to the project."""
    path = tuned_path(run)
    name = run.result.tuned_name
    for other in project.metrics:
        if other.name == name and other.path != path:
            raise AutotuneError(f"metric name {name!r} is already used by {other.path}")
    write_atomic(path, run.result.yaml.encode("utf-8"))
    return path


def report_input(project: Project, run: TuneRun) -> ReportInput:
    """The winner over the training window: its bands, anomalies and the tuned rule's alerts."""
    result = run.result
    block = result.detector_block()
    detector = create_detector(block["type"], block["params"])
    frame = detector.detect(run.history["timestamp"].to_numpy(), run.history["value"].to_numpy(),
                            seasonality_columns(run.history, run.metric))
    frame = frame.with_columns(
        detector_id=pl.lit(detector.detector_id), detector_name=pl.lit(detector.detector_name),
        detector_params=pl.lit(detector.detector_params)).select([pl.col(c).cast(t) for c, t in DETECTIONS.items()])
    rule = AlertConfig.model_validate(result.alert_block())
    interval = result.interval_seconds
    return ReportInput(
        project=project.config.name, metric=result.tuned_name,
        description=f"Autotune winner for {run.metric.name} over its training window (run {result.run_id}).",
        interval_seconds=interval, window_start=result.training_start,
        window_end=result.training_end + timedelta(seconds=interval), generated_at=utc_now(),
        datapoints=run.history, detections=frame,
        events=replay(frame, run.history, rule, interval, result.training_start, result.training_end),
        rules=[rule.rule_text(1)],
    )


def write_tuning_report(project: Project, run: TuneRun, path: Path | None = None) -> Path:
    """The report page: ``reports/<tuned name>.html`` (with the shared plotly.js), or a
    self-contained page at ``path``."""
    page = report_input(project, run)
    if path is None:
        return write_report(page, project.reports_dir, REPORT_KEY, project.config.report_self_contained).latest_path
    write_atomic(path, render_report(page).encode("utf-8"))
    return path
