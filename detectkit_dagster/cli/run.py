"""`detectkit-dagster run`: materialize metrics' partitions through Dagster and say what came out.

Each selected metric runs as one single-run range (datapoints, detections, alerts and their
checks) on the project's Dagster instance, so the runs show in the UI. What is printed is read
back from the stored tables: points, missing points, anomalies, alert events.
"""

from __future__ import annotations

from pathlib import Path

from .common import (
    QUIET, add_project_dir, fail, load, parse_day, partition_keys, prepare_dagster_home, project_root, select_metrics,
)

RUN_TABLES = ("datapoints", "detections", "alerts")


def register(sub) -> None:
    parser = sub.add_parser("run", help="materialize metrics' partitions (default: the newest) and print the outcome")
    parser.add_argument("--select", action="append", default=[], metavar="NAME|GLOB|tag:T",
                        help="metrics to run (repeatable; default: all)")
    parser.add_argument("--from", dest="start", type=parse_day, help="first day or time (UTC) to run")
    parser.add_argument("--to", dest="end", type=parse_day, help="end (exclusive, UTC) of the range to run")
    parser.add_argument("--report", nargs="?", const="", default=None, metavar="PATH",
                        help="also write a report of the range (to PATH, a file or folder; default: reports_dir)")
    parser.add_argument("--send", action="store_true",
                        help="dispatch the new alert events now (when no Dagster daemon runs the dispatch sensor)")
    add_project_dir(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    import dagster as dg

    from ..defs.project import shared_resources
    from ..defs.pools import ensure_pool_limits
    from ..defs.runner import dispatch_once

    if args.start and args.end and args.start >= args.end:
        return fail(f"--from {args.start} is not before --to {args.end}")
    root = project_root(args.project_dir)
    project = load(root)
    metrics = select_metrics(project, args.select)
    if args.report and Path(args.report).suffix and len(metrics) > 1:
        return fail(f"--report {args.report}: several metrics run, so give a folder, not a file")
    home = prepare_dagster_home(root)
    instance = dg.DagsterInstance.get()
    ensure_pool_limits(instance, project)
    resources = shared_resources(project)
    failed = sum(not run_metric(project, metric, instance, resources, args) for metric in metrics)
    if args.send:
        report = dispatch_once(project, instance)
        print(f"alerts sent: {report.sent}, failed: {report.failed}, pending: {report.pending}")
        failed += bool(report.failed)
    print(f"Dagster instance: {home}")
    return 1 if failed else 0


def run_metric(project, metric, instance, resources, args) -> bool:
    """One single-run range of the metric's partitions in [--from, --to); prints one line."""
    import dagster as dg

    from ..defs.context import MetricContext
    from ..defs.project import metric_definitions
    from ..defs.runner import RANGE_END, RANGE_START
    from .report import write_range_report

    mc = MetricContext(project, metric)
    keys = partition_keys(mc, args.start, args.end)
    if not keys:
        print(f"{metric.name}: FAILED no partition in the range (partitions start at {mc.partitioning.start})")
        return False
    result = dg.materialize(
        list(metric_definitions(mc).assets or []), selection=[mc.key(table) for table in RUN_TABLES],
        instance=instance, resources=resources, tags={RANGE_START: keys[0], RANGE_END: keys[-1]},
        raise_on_error=False, run_config=QUIET,
    )
    span = f"{keys[0]} .. {keys[-1]}" if len(keys) > 1 else keys[0]
    if not result.success:
        print(f"{metric.name}: {span} FAILED {failure_message(result)} (run {result.run_id})")
        return False
    start, end = _window(mc, keys)
    line = f"{metric.name}: {span} {outcome(project, metric, start, end)}"
    if args.report is not None:
        line += f", report {write_range_report(project, metric, start, end, args.report)}"
    print(line)
    return True


def _window(mc, keys: list[str]):
    first = mc.partitions_def.time_window_for_partition_key(keys[0])
    last = mc.partitions_def.time_window_for_partition_key(keys[-1])
    return first.start.replace(tzinfo=None), last.end.replace(tzinfo=None)


def outcome(project, metric, start, end) -> str:
    """`288 points (3 missing), 5 anomalies, 1 alert`, from the stored tables of [start, end)."""
    import polars as pl

    from ..pipeline import build_detectors
    from ..schemas import ALERTS, DATAPOINTS, DETECTIONS
    from ..storage import open_storage

    store = open_storage(project).metric(metric.key)
    points = store.read_range("datapoints", start, end, schema=DATAPOINTS)
    detector_ids = [d.detector_id for d in build_detectors(metric)]
    detections = store.read_range("detections", start, end, schema=DETECTIONS)
    anomalies = int(detections.filter(pl.col("detector_id").is_in(detector_ids))["is_anomaly"].sum())
    events = store.read_range("alerts", start, end, schema=ALERTS).filter(
        pl.col("config_id").is_in([a.config_id for a in metric.alerts]))
    alerts = events.filter(pl.col("kind") != "recovery").height
    missing = int(points["value"].is_nan().sum())
    return (f"{_count(points.height, 'point')} ({missing} missing), {_count(anomalies, 'anomaly', 'anomalies')}, "
            f"{_count(alerts, 'alert')}")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def failure_message(result) -> str:
    """The first step failure's message: the readable line a source or config problem gives."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            text = event.step_failure_data.error.message.strip()
            return text.split(": ", 1)[1] if text.startswith("dagster.") and ": " in text else text
    return "the run failed (see the Dagster UI)"
