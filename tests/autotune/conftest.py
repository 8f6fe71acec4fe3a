"""A project whose metric has stored history and labeled incidents (real DuckDB files)."""

from __future__ import annotations

import polars as pl
import pytest
import yaml

from detectkit_dagster.autotune.sample import seasonal_series
from detectkit_dagster.project import load_project
from detectkit_dagster.storage import open_storage

SAMPLE = seasonal_series(3000, incidents=5, magnitude=(15.0, 30.0), seed=2)

METRIC = """\
name: orders
description: Orders per 10 minutes.
interval: 10min
loading_start_time: "2025-01-06 00:00:00"
query: |
  SELECT timestamp, value FROM src
  WHERE timestamp >= TIMESTAMP '{{ dtk_start_time }}' AND timestamp < TIMESTAMP '{{ dtk_end_time }}'
detectors:
  - type: mad
    params: {window_size: 144, min_samples: 36}
alerting:
  - channels: [inbox]
    consecutive_anomalies: 3
    alert_cooldown: 1h
dagster:
  partitions: monthly
autotune:
  detector_types: [zscore, mad]
"""


def sample_frame(sample=SAMPLE) -> pl.DataFrame:
    return pl.DataFrame({"timestamp": sample.timestamps, "value": sample.values}).with_columns(
        pl.col("timestamp").cast(pl.Datetime("ms")))


def store_history(root, key: str, frame: pl.DataFrame) -> None:
    """Datapoints as the datapoints asset stores them."""
    project = load_project(root)
    stored = frame.with_columns(seasonality_data=pl.lit("{}"))
    open_storage(project).metric(key).replace_range("datapoints", stored, None, None)


@pytest.fixture
def tuning_project(project):
    """`orders` with a source table, its history stored, and incidents/orders/labels.yml."""
    project.source_table("src", sample_frame())
    project.metric("orders", METRIC)
    project.write("profiles.yml", "alert_channels:\n  inbox: {type: outbox}\n")
    project.write("incidents/orders/labels.yml", yaml.safe_dump({"metric": "orders", "incidents": SAMPLE.incidents}))
    store_history(project.root, "orders", sample_frame())
    return project
