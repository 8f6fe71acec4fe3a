"""`<metric>/report`: an offline HTML page of the window ending at the partition end."""

from datetime import timedelta

import dagster as dg
import polars as pl

from ..pipeline import build_detectors
from ..reporting import ReportInput, write_report
from ..schemas import ALERTS, DATAPOINTS, DETECTIONS
from ..storage import open_storage
from ..timegrid import utc_now
from .automation import downstream_condition
from .common import MetricContext, partition_windows


def report_asset(mc: MetricContext) -> dg.AssetsDefinition:
    metric, project = mc.metric, mc.project
    detector_ids = [d.detector_id for d in build_detectors(metric)]
    config_ids = [a.config_id for a in metric.alerts]
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
            start = window.end - span
            report_input = ReportInput(
                project=project.config.name, metric=mc.name, description=metric.description,
                interval_seconds=metric.interval_seconds, window_start=start, window_end=window.end,
                generated_at=utc_now(),
                datapoints=store.read_range("datapoints", start, window.end, schema=DATAPOINTS),
                detections=store.read_range("detections", start, window.end, order_by=("timestamp", "detector_id"),
                                            schema=DETECTIONS).filter(pl.col("detector_id").is_in(detector_ids)),
                events=store.read_range("alerts", start, window.end, schema=ALERTS).filter(
                    pl.col("config_id").is_in(config_ids)),
                rules=[a.rule_text(len(detector_ids)) for a in metric.alerts],
            )
            written = write_report(report_input, project.reports_dir, key, project.config.report_self_contained)
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
