"""What a report shows: the stored tables of the window ending at a partition end, read once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Sequence

import polars as pl

from ..reporting import ReportInput
from ..schemas import ALERTS, DATAPOINTS, DETECTIONS
from ..storage import MetricStore

if TYPE_CHECKING:
    from ..config.metric import MetricConfig


def report_input(
    project_name: str, metric: "MetricConfig", detector_ids: Sequence[str], store: MetricStore,
    end: datetime, generated_at: datetime,
) -> ReportInput:
    """The last `report_window` points before `end`, starting no earlier than the first stored one."""
    start = end - timedelta(seconds=metric.interval_seconds * metric.dagster.report_window)
    with store.reading() as reader:
        datapoints = reader.read_range("datapoints", start, end, schema=DATAPOINTS)
        detections = reader.read_range("detections", start, end, order_by=("timestamp", "detector_id"),
                                       schema=DETECTIONS)
        events = reader.read_range("alerts", start, end, order_by=("timestamp", "alert_index", "kind"),
                                   schema=ALERTS)
    if datapoints.height:
        start = max(start, datapoints["timestamp"].min())
    return ReportInput(
        project=project_name, metric=metric.name, description=metric.description,
        interval_seconds=metric.interval_seconds, window_start=start, window_end=end, generated_at=generated_at,
        datapoints=datapoints,
        detections=detections.filter(pl.col("detector_id").is_in(list(detector_ids))),
        events=events.filter(pl.col("config_id").is_in([a.config_id for a in metric.alerts])),
        rules=[a.rule_text(len(detector_ids)) for a in metric.alerts],
    )
