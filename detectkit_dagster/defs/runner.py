"""Materialize a project's recent partitions in-process (the demo and scripted runs)."""

from datetime import timedelta
from pathlib import Path

import dagster as dg

from ..config import Project, load_project
from ..dispatch import Ledger
from ..timegrid import utc_now
from .common import MetricContext
from .project import metric_definitions, shared_resources
from .sensors import collect_new_events, deliver_due

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def recent_partitions(mc: MetricContext, days: int, now) -> list[str]:
    """Partition keys whose window overlaps the last `days` days, oldest first."""
    pdef = mc.partitions_def
    since = now - timedelta(days=days)
    keys = pdef.get_partition_keys()
    return [k for k in keys if pdef.time_window_for_partition_key(k).end.replace(tzinfo=None) > since]


def run_recent(root: Path, days: int, instance: dg.DagsterInstance | None = None) -> list[str]:
    """One single-run range per metric over its recent partitions; returns summary lines."""
    project = load_project(root)
    instance = instance or dg.DagsterInstance.get()
    resources = shared_resources(project)
    now = utc_now()
    lines = []
    for metric in project.metrics:
        mc = MetricContext(project, metric)
        keys = recent_partitions(mc, days, now)
        defs = metric_definitions(mc)
        partitioned = [a for a in defs.assets or [] if a.partitions_def is not None]  # autotune runs on demand
        result = dg.materialize(
            partitioned + list(defs.asset_checks or []),
            instance=instance,
            resources=resources,
            tags={RANGE_START: keys[0], RANGE_END: keys[-1]},
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        status = "ok" if result.success else "FAILED"
        lines.append(f"{metric.name}: partitions {keys[0]} .. {keys[-1]} ({len(keys)}) {status}")
    sent, failed, pending = dispatch_once(project, instance)
    lines.append(f"alerts: {sent} sent, {failed} failed, {pending} pending (outbox: {project.outbox_dir})")
    return lines


def dispatch_once(project: Project, instance: dg.DagsterInstance) -> tuple[int, int, int]:
    """One pass of the dispatch sensor's work (its own ledger; outbox writes are idempotent)."""
    ledger = Ledger()
    collect_new_events(instance, project, ledger)
    sent, failed = deliver_due(project, ledger, utc_now(), dg.get_dagster_logger())
    return sent, failed, len(ledger.pending)
