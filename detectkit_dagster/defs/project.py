"""Definitions for a whole project folder: one group of assets per metric, shared resources."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import dagster as dg
from dagster._utils.schedules import cron_string_iterator

from ..config import Project
from ..project import load_project
from ..storage import open_storage
from .alerts import alerts_asset
from .automation import automation_sensor, evaluation_interval_seconds, refresh_jobs, refreshes
from .autotune import autotune_assets
from .context import MetricContext, metric_contexts
from .datapoints import datapoints_asset
from .detections import detections_asset
from .instance import batch_range_events
from .io_manager import metric_tables_io_manager
from .jobs import clean_job, test_alert_job
from .metadata import git_links
from .report import report_asset
from .resources import STORAGE
from .sensors import dispatch_sensor, error_alert_sensor

EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


@contextmanager
def dagster_previews():
    """Partitioned checks, single-run backfills, freshness policies and code references are
    preview/beta in Dagster 1.13; we rely on them. Silenced here only, not in the host process."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        yield


def metric_assets(mc: MetricContext, storage) -> list[dg.AssetsDefinition]:
    batch_range_events()  # in every process that runs them: the code location's run workers
    with dagster_previews():
        return [
            datapoints_asset(mc, storage),
            detections_asset(mc, storage),
            alerts_asset(mc, storage, freshness_policy(mc)),
            report_asset(mc),
        ]


def freshness_policy(mc: MetricContext) -> dg.FreshnessPolicy:
    """Alerts older than about three refresh periods mean the monitor stopped running."""
    ticks = cron_string_iterator(1_700_000_000, mc.partitioning.cron, "UTC")
    times = [next(ticks).timestamp() for _ in range(4)]
    period = max(b - a for a, b in zip(times, times[1:]))
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(seconds=3 * period),
                                          warn_window=timedelta(seconds=2 * period))


def shared_resources(project: Project) -> dict:
    return {STORAGE: open_storage(project), "detectkit_io": metric_tables_io_manager(STORAGE)}


def project_definitions(project: Project) -> dg.Definitions:
    resources = shared_resources(project)
    with dagster_previews():
        contexts = metric_contexts(project)
        assets = [a for mc in contexts for a in (*metric_assets(mc, resources[STORAGE]), *autotune_assets(mc))]
        assets = git_links(assets, project.root)
        plans = refreshes(contexts, assets)
        refresh = refresh_jobs(plans)
        return dg.Definitions(
            assets=assets,
            resources=resources,
            sensors=[automation_sensor(plans, refresh,
                                       evaluation_interval_seconds(m.interval_seconds for m in project.metrics)),
                     dispatch_sensor(project),
                     error_alert_sensor(project)],
            jobs=[*refresh, test_alert_job(project), clean_job(project)],
            executor=EXECUTORS[project.config.executor],
        )


def metric_definitions(mc: MetricContext) -> dg.Definitions:
    """One metric's assets alone (tests and scripted runs)."""
    resources = shared_resources(mc.project)
    with dagster_previews():
        return dg.Definitions(assets=[*metric_assets(mc, resources[STORAGE]), *autotune_assets(mc)],
                              resources=resources)


def build_definitions(root: Path | str) -> dg.Definitions:
    return project_definitions(load_project(root))
