"""Materialize a project's recent partitions in-process (the demo, commands and benchmarks).

Metrics that share a partitions definition (one per granularity) refresh in one single-run
range, as the automation sensor batches them: the fixed cost of a run is paid once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg

from ..config import Project
from ..dispatch import Ledger, PassReport
from ..project import load_project
from ..timegrid import utc_now
from .automation import CHAIN
from .context import MetricContext, metric_contexts
from .pools import ensure_pool_limits
from .project import metric_assets, shared_resources
from .resources import STORAGE
from .sensors import dispatch_pass

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def recent_keys(partitions_def: dg.TimeWindowPartitionsDefinition, since: datetime) -> list[str]:
    """Partition keys whose window ends after `since`, oldest first."""
    keys = partitions_def.get_partition_keys()
    return [k for k in keys if partitions_def.time_window_for_partition_key(k).end.replace(tzinfo=None) > since]


def materialize_recent(project: Project, instance: dg.DagsterInstance, since: datetime,
                       metrics: list | None = None, run_config: dict | None = None) -> list["RangeRun"]:
    """One single-run range per partitions definition over the partitions ending after `since`."""
    ensure_pool_limits(instance, project)
    groups: dict = {}
    chosen = {m.key for m in metrics} if metrics is not None else None
    resources = shared_resources(project)
    for mc in metric_contexts(project):
        if chosen is None or mc.ident in chosen:
            groups.setdefault(mc.partitions_def, []).append(mc)
    runs = []
    for partitions_def, contexts in groups.items():
        keys = recent_keys(partitions_def, since)
        assets = [a for mc in contexts for a in metric_assets(mc, resources[STORAGE])]
        result = dg.materialize(
            assets, instance=instance, resources=resources, tags={RANGE_START: keys[0], RANGE_END: keys[-1]},
            raise_on_error=False, run_config={**QUIET, **(run_config or {})})
        runs.append(RangeRun(result, contexts, keys))
    return runs


@dataclass(frozen=True)
class RangeRun:
    result: dg.ExecuteInProcessResult
    metrics: list[MetricContext]
    keys: list[str]

    def lines(self) -> list[str]:
        """One line per metric: its partitions, and whether all its assets materialized."""
        done = {e.asset_key for e in self.result.get_asset_materialization_events()}
        span = f"partitions {self.keys[0]} .. {self.keys[-1]} ({len(self.keys)})"
        return [f"{mc.name}: {span} {'ok' if all(mc.key(t) in done for t in CHAIN) else 'FAILED'}"
                for mc in self.metrics]


def materialize_partitions(root: Path, instance: dg.DagsterInstance, days: int) -> list[str]:
    """Every asset of every metric over the partitions of the last `days` days; the run ids."""
    runs = materialize_recent(load_project(root), instance, utc_now() - timedelta(days=days))
    failed = [r.result.run_id for r in runs if not r.result.success]
    if failed:
        raise RuntimeError(f"runs failed: {', '.join(failed)}")
    return [r.result.run_id for r in runs]


def run_recent(root: Path, days: int, instance: dg.DagsterInstance | None = None) -> list[str]:
    """The demo: recent partitions of every metric, then one dispatch pass; summary lines."""
    project = load_project(root)
    instance = instance or dg.DagsterInstance.get()
    lines = [line for run in materialize_recent(project, instance, utc_now() - timedelta(days=days))
             for line in run.lines()]
    report = dispatch_once(project, instance)
    lines.append(f"alerts: {report.sent} sent, {report.failed} failed (outbox: {project.outbox_dir})")
    return lines


def dispatch_once(project: Project, instance: dg.DagsterInstance) -> PassReport:
    """One pass of the dispatch sensor's work. Its sends are recorded on the instance, so the
    sensor, when it starts, does not send them again."""
    return dispatch_pass(instance, project, Ledger(), dg.get_dagster_logger())
