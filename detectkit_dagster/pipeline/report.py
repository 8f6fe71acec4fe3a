"""What a report shows: the stored tables of a window, read once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from ..reporting import ReportInput
from ..schemas import ALERTS, DATAPOINTS, DETECTIONS
from ..storage import MetricStore
from .detect import build_detectors

if TYPE_CHECKING:
    from ..config.metric import MetricConfig


def report_input(project_name: str, metric: "MetricConfig", store: MetricStore, end: datetime,
                 generated_at: datetime, start: datetime | None = None) -> ReportInput:
    """The window [start, end); without `start`, the last `report_window` points before `end`,
    starting no earlier than the first stored one. Only the configured detectors and alert
    blocks are shown (rows of removed ones stay until cleaned)."""
    detector_ids = [d.detector_id for d in build_detectors(metric)]
    first = start or end - timedelta(seconds=metric.interval_seconds * metric.dagster.report_window)
    with store.reading() as reader:
        datapoints = reader.read_range("datapoints", first, end, schema=DATAPOINTS)
        detections = reader.read_range("detections", first, end, order_by=("timestamp", "detector_id"),
                                       schema=DETECTIONS)
        events = reader.read_range("alerts", first, end, order_by=("timestamp", "alert_index", "kind"),
                                   schema=ALERTS)
    if start is None and datapoints.height:
        first = max(first, datapoints["timestamp"].min())
    return ReportInput(
        project=project_name, metric=metric.name, description=metric.description,
        interval_seconds=metric.interval_seconds, window_start=first, window_end=end, generated_at=generated_at,
        datapoints=datapoints,
        detections=detections.filter(pl.col("detector_id").is_in(detector_ids)),
        events=events.filter(pl.col("config_id").is_in([a.config_id for a in metric.alerts])),
        rules=[a.rule_text(len(detector_ids)) for a in metric.alerts],
    )
