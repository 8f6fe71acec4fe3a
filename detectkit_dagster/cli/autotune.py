"""`detectkit-dagster autotune`: tune selected metrics through their autotune assets.

Each metric is one materialization of `<metric>/autotune` on the project's Dagster instance,
so the run, its decision log and the tuned config show in the UI like any other.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .common import add_project_dir, load, parse_day, prepare_dagster_home, project_root, select_metrics


def register(sub) -> None:
    from ..autotune import METRICS

    parser = sub.add_parser("autotune", help="tune metrics' detectors and alert rules on their stored history")
    add_project_dir(parser)
    parser.add_argument("--select", "-s", action="append", required=True, metavar="NAME|GLOB|tag:T",
                        help="metrics to tune (repeatable)")
    parser.add_argument("--incidents", metavar="PATH", help="a labels file, or a folder of them")
    parser.add_argument("--from", dest="start", type=parse_day, metavar="DATE", help="train from (UTC, inclusive)")
    parser.add_argument("--to", dest="end", type=parse_day, metavar="DATE", help="train up to (UTC, exclusive)")
    parser.add_argument("--scoring", choices=METRICS, help="scoring metric for labeled runs")
    parser.add_argument("--dry-run", action="store_true", help="print the result; write no file or report")
    parser.add_argument("--report", nargs="?", const="", default=None, metavar="PATH",
                        help="also write a report of the winner (default reports/<tuned name>.html)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..errors import DetectkitError

    root = project_root(args.project_dir)
    try:
        project = load(root)
        metrics = select_metrics(project, args.select)
    except DetectkitError as exc:
        print(f"✗ {exc}", file=sys.stderr)
        return 1
    prepare_dagster_home(root)
    os.environ["DETECTKIT_PROJECT_DIR"] = str(root)
    import dagster as dg

    from ..defs.autotune import AutotuneRunConfig, materialize_autotune
    from ..defs.context import MetricContext

    config = AutotuneRunConfig(
        dry_run=args.dry_run, incidents=_absolute(args.incidents),
        start=args.start and args.start.isoformat(sep=" "), end=args.end and args.end.isoformat(sep=" "),
        scoring=args.scoring, report=args.report is not None, report_path=_absolute(args.report or None),
    )
    instance = dg.DagsterInstance.get()
    tuned = succeeded = 0
    for metric in metrics:
        if metric.autotune is not None and not metric.autotune.enabled:
            print(f"• {metric.name}: autotune disabled in config")
            continue
        tuned += 1
        ok, lines = materialize_autotune(MetricContext(project, metric), instance, config)
        if ok:
            succeeded += 1
            print(f"✓ {metric.name}")
            for line in lines:
                print(f"  │ {line}")
        else:
            print(f"✗ {metric.name}: {lines[0]}", file=sys.stderr)
    print(f"Done. Tuned {tuned} metric(s), {succeeded} succeeded.")
    return 0 if succeeded == tuned else 1


def _absolute(text: str | None) -> str | None:
    return str(Path(text).expanduser().resolve()) if text else None
