"""`<metric>/report`: an offline HTML page of the window ending at the partition end.

A range run writes the pages a person opens (the newest partition's, which also refreshes the
metric's current page); `every_partition` in the run config writes one per partition.
"""

from pathlib import Path
from urllib.parse import quote

import dagster as dg
from pydantic import Field

from ..pipeline import Window, report_input
from ..reporting import write_report
from ..timegrid import utc_now
from .context import MetricContext
from .metadata import add_partition_metadata, code_reference, partition_chart
from .resources import STORAGE


class ReportConfig(dg.Config):
    every_partition: bool = Field(
        default=False, description="In a range run, write the page of every partition, not only the newest.")


def report_asset(mc: MetricContext) -> dg.AssetsDefinition:
    metric, project = mc.metric, mc.project
    args = mc.asset_args(
        "report", f"HTML report of the last {metric.dagster.report_window} points up to the partition end.",
        {"plotly", "html"})
    args.pop("io_manager_key")

    @dg.asset(
        **args,
        deps=[mc.key("alerts")],
        required_resource_keys={STORAGE},
        metadata=code_reference(metric.path),
    )
    def report(context: dg.AssetExecutionContext, config: ReportConfig) -> dg.MaterializeResult:
        store = getattr(context.resources, STORAGE).metric(mc.ident)
        pairs = list(zip(context.partition_keys, mc.windows(context)))
        written = pairs if config.every_partition else pairs[-1:]
        metadata = {key: {"report": "not written: a range run writes the newest partition's page "
                                    "(run config every_partition: true writes all)"} for key, _ in pairs}
        for key, window in written:
            page = report_input(project.config.name, metric, store, window.end, utc_now())
            file = write_report(page, project.reports_dir, key, project.config.report_self_contained)
            metadata[key] = _metadata(file, project, page, window)
        add_partition_metadata(context, metadata)
        return dg.MaterializeResult()

    return report


def _metadata(file, project, page, window: Window) -> dict:
    meta = {"path": dg.MetadataValue.path(str(file.path)), "size_kb": round(file.size_bytes / 1024, 1)}
    base = project.config.report_base_url
    if base:
        meta["dagster/uri"] = _url(base, file.path, project.reports_dir)
        meta["url"] = dg.MetadataValue.url(meta["dagster/uri"])
        meta["current_report"] = dg.MetadataValue.url(_url(base, file.latest_path, project.reports_dir))
    meta.update({k: v for k, v in file.summary.items() if isinstance(v, (int, float))})
    meta["chart"] = partition_chart(window.rows(page.datapoints), window.rows(page.detections),
                                    window.rows(page.events))
    return meta


def _url(base: str, path: Path, reports_dir: Path) -> str:
    relative = path.resolve().relative_to(reports_dir.resolve()).as_posix()
    return f"{base.rstrip('/')}/{quote(relative)}"
