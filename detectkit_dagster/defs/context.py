"""What every asset of one metric shares: keys, partitions, group, owners, tags, pool, windows."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import dagster as dg

from ..config import MetricConfig, Project
from ..errors import DetectkitError
from ..partitioning import Partitioning, partitioning_for
from ..pipeline import Window

_PARTITIONS = {
    "hourly": dg.HourlyPartitionsDefinition,
    "daily": dg.DailyPartitionsDefinition,
    "weekly": dg.WeeklyPartitionsDefinition,
    "monthly": dg.MonthlyPartitionsDefinition,
}


def project_partitions(project: Project) -> dict[str, dg.TimeWindowPartitionsDefinition]:
    """One partitions definition per granularity for the whole project, starting at its earliest
    metric, so the newest partitions of all metrics can refresh in one run. A metric loads
    nothing before its own `loading_start_time`."""
    starts: dict[str, object] = {}
    for partitioning in map(partitioning_for, project.metrics):
        known = starts.get(partitioning.granularity)
        starts[partitioning.granularity] = min(known, partitioning.start) if known else partitioning.start
    # end_offset=1 includes the partition in progress, so the newest data is monitored.
    return {g: _PARTITIONS[g](start_date=start, end_offset=1, timezone="UTC") for g, start in starts.items()}


def metric_contexts(project: Project) -> list["MetricContext"]:
    partitions = project_partitions(project)
    return [MetricContext(project, m, partitions[partitioning_for(m).granularity]) for m in project.metrics]


@dataclass(frozen=True)
class MetricContext:
    project: Project
    metric: MetricConfig
    partitions_def: dg.TimeWindowPartitionsDefinition | None = None  # default: the project's

    def __post_init__(self):
        if self.partitions_def is None:
            shared = project_partitions(self.project)[self.partitioning.granularity]
            object.__setattr__(self, "partitions_def", shared)

    @property
    def name(self) -> str:
        """The metric's name as its file gives it (for people: messages, reports, alerts)."""
        return self.metric.name

    @property
    def ident(self) -> str:
        """The metric's identifier in asset keys, group, pool and stored table names."""
        return self.metric.key

    def key(self, table: str) -> dg.AssetKey:
        return dg.AssetKey([self.ident, table])

    @cached_property
    def partitioning(self) -> Partitioning:
        return partitioning_for(self.metric)

    @property
    def pool(self) -> str:
        """One writer per metric's tables at a time: a pool per metric."""
        return f"detectkit_{self.ident}"

    def asset_args(self, table: str, description: str, kinds: set[str]) -> dict:
        metric = self.metric
        tags = {tag: "" for tag in metric.tags or []}
        text = f"{metric.description}\n\n{description}" if metric.description else description
        return dict(
            key=self.key(table),
            group_name=self.ident,
            description=text,
            owners=list(metric.dagster.owners) or None,
            tags=tags or None,
            kinds=kinds,
            partitions_def=self.partitions_def,
            backfill_policy=dg.BackfillPolicy.single_run(),
            io_manager_key="detectkit_io",
            pool=self.pool,
        )

    def windows(self, context: dg.AssetExecutionContext) -> list[Window]:
        """One window per partition of the run (a single-run range covers several)."""
        return [Window(*naive_window(self.partitions_def.time_window_for_partition_key(key)))
                for key in context.partition_keys]


def naive_window(window: dg.TimeWindow):
    """Dagster time windows are tz-aware UTC; storage is naive UTC."""
    return window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)


@contextmanager
def readable_failures(mc: MetricContext, what: str):
    """Known data and source problems fail the step with one clear line, not a traceback."""
    try:
        yield
    except DetectkitError as exc:
        path = mc.metric.path
        raise dg.Failure(
            description=f"{what} of metric {mc.name!r} failed: {exc}",
            metadata={"metric_file": str(path) if path else "", "error": type(exc).__name__},
        ) from None
