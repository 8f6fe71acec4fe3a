"""What every asset of one metric shares: keys, partitions, group, owners, tags, pool."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import dagster as dg

from ..config import MetricConfig, Project
from ..partitioning import Partitioning, partitioning_for
from ..pipeline import Window
from ..errors import DetectkitError
from .io_manager import naive_window

_PARTITIONS = {
    "hourly": dg.HourlyPartitionsDefinition,
    "daily": dg.DailyPartitionsDefinition,
    "weekly": dg.WeeklyPartitionsDefinition,
    "monthly": dg.MonthlyPartitionsDefinition,
}


@dataclass(frozen=True)
class MetricContext:
    project: Project
    metric: MetricConfig

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

    @cached_property
    def partitions_def(self) -> dg.TimeWindowPartitionsDefinition:
        # end_offset=1 includes the partition in progress, so the newest data is monitored.
        return _PARTITIONS[self.partitioning.granularity](
            start_date=self.partitioning.start, end_offset=1, timezone="UTC"
        )

    @property
    def pool(self) -> str:
        """One DuckDB file per metric, one writer per file: a pool per metric."""
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


def partition_windows(context: dg.AssetExecutionContext, mc: MetricContext) -> list[Window]:
    """One window per partition of the run (a single-run range covers several)."""
    windows = []
    for key in context.partition_keys:
        start, end = naive_window(mc.partitions_def.time_window_for_partition_key(key))
        windows.append(Window(start, end))
    return windows
