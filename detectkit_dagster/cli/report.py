"""`detectkit-dagster report`: an HTML report of a metric from its stored tables (no run)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from .common import add_project_dir, fail, find_metric, load, parse_day, project_root


def register(sub) -> None:
    parser = sub.add_parser("report", help="write a metric's HTML report from its stored tables")
    parser.add_argument("name", help="metric name")
    parser.add_argument("path", nargs="?", default="",
                        help="where to write: a .html file or a folder (default: the project's reports_dir)")
    parser.add_argument("--from", dest="start", type=parse_day,
                        help="start (UTC; default: the metric's report_window points before --to)")
    parser.add_argument("--to", dest="end", type=parse_day,
                        help="end, exclusive (UTC; default: after the newest stored point)")
    add_project_dir(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    project = load(project_root(args.project_dir))
    metric = find_metric(project, args.name)
    end = args.end or _after_newest_point(project, metric)
    if end is None:
        return fail(f"nothing stored for metric {metric.name!r} yet: run `detectkit-dagster run --select "
                    f"{metric.name}` first")
    start = args.start or end - timedelta(seconds=metric.interval_seconds * metric.dagster.report_window)
    if start >= end:
        return fail(f"--from {start} is not before --to {end}")
    written = write_range_report(project, metric, start, end, args.path)
    print(f"{metric.name}: report of {start} .. {end} written to {written}")
    return 0


def _after_newest_point(project, metric) -> datetime | None:
    from ..storage import open_storage

    points = open_storage(project).metric(metric.key).read_range("datapoints")
    if points.height == 0:
        return None
    return points["timestamp"].max() + timedelta(seconds=metric.interval_seconds)


def write_range_report(project, metric, start: datetime, end: datetime, path: str) -> Path:
    """The report of [start, end): under reports_dir (sharing plotly.js with the asset reports),
    or self-contained at `path` (a file, or `<metric>.html` in a folder)."""
    from ..pipeline import report_input
    from ..reporting import render_report, write_report
    from ..reporting.files import file_stem, write_atomic
    from ..storage import open_storage
    from ..timegrid import utc_now

    shown = report_input(project.config.name, metric, open_storage(project).metric(metric.key), end, utc_now(),
                         start=start)
    if not path:
        key = f"{start:%Y-%m-%dT%H%M}_{end:%Y-%m-%dT%H%M}"
        return write_report(shown, project.reports_dir, key, project.config.report_self_contained).path
    target = Path(path)
    if target.is_dir() or not target.suffix:
        target = target / f"{file_stem(metric.name)}.html"
    write_atomic(target, render_report(shown).encode("utf-8"))
    return target
