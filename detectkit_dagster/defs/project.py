"""Definitions for a whole project folder: one group of assets per metric, shared resources."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from ..config import Project, load_project
from .alerts import alerts_asset
from .automation import automation_sensor
from .autotune import autotune_assets
from .common import MetricContext
from .datapoints import datapoints_asset
from .detections import detections_asset
from .io_manager import MetricStoreIOManager
from .jobs import clean_job, test_alert_job
from .report import report_asset
from .sensors import dispatch_sensor, error_alert_sensor


def metric_definitions(mc: MetricContext) -> dg.Definitions:
    assets = [datapoints_asset(mc), detections_asset(mc), alerts_asset(mc), report_asset(mc), *autotune_assets(mc)]
    return dg.Definitions(assets=assets)


def shared_resources(project: Project) -> dict:
    return {"detectkit_io": MetricStoreIOManager(storage_dir=str(project.storage_dir))}


def project_definitions(project: Project) -> dg.Definitions:
    per_metric = [metric_definitions(MetricContext(project, m)) for m in project.metrics]
    shared = dg.Definitions(
        resources=shared_resources(project),
        sensors=[automation_sensor(), dispatch_sensor(project), error_alert_sensor(project)],
        jobs=[test_alert_job(project), clean_job(project)],
    )
    return dg.Definitions.merge(shared, *per_metric)


def build_definitions(root: Path | str) -> dg.Definitions:
    return project_definitions(load_project(root))
