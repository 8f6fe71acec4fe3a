"""`<metric>/report`: an offline HTML page of the window ending at the partition end."""

from datetime import timedelta

import dagster as dg

from ..pipeline import report_input
from ..reporting import write_report
from ..storage import open_storage
from ..timegrid import utc_now
from .automation import downstream_condition
from .common import MetricContext, partition_windows


def report_asset(mc: MetricContext) -> dg.AssetsDefinition:
    metric, project = mc.metric, mc.project
    span = timedelta(seconds=metric.interval_seconds * metric.dagster.report_window)
    args = mc.asset_args(
        "report", f"HTML report of the last {metric.dagster.report_window} points up to the partition end.",
        {"plotly", "html"})
    args.pop("io_manager_key")

    @dg.asset(
        **args,
        deps=[mc.key("datapoints"), mc.key("detections"), mc.key("alerts")],
        automation_condition=downstream_condition(),
    )
    def report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        store = open_storage(project).metric(mc.ident)
        written = None
        for key, window in zip(context.partition_keys, partition_windows(context, mc)):
            shown = report_input(project.config.name, metric, store, window.end - span, window.end, utc_now())
            written = write_report(shown, project.reports_dir, key, project.config.report_self_contained)
            context.log.info("report for %s written to %s", key, written.path)
        return dg.MaterializeResult(metadata=_metadata(written))

    return report


def _metadata(written) -> dict:
    meta = {
        "path": dg.MetadataValue.path(str(written.path)),
        "url": dg.MetadataValue.url(written.path.resolve().as_uri()),
        "current_report": dg.MetadataValue.url(written.latest_path.resolve().as_uri()),
        "size_kb": round(written.size_bytes / 1024, 1),
    }
    for name, value in written.summary.items():
        if isinstance(value, (int, float)):
            meta[name] = value
    return meta
