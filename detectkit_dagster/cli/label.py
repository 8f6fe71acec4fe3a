"""`detectkit-dagster label <metric>`: mark incidents on a metric's stored series in the browser.

Drag across the chart to mark an interval, click to mark a point, edit or remove them in
the list, then save: the labels go to `incidents/<metric>/labels.yml`, where autotune
finds them. `--no-serve` writes a static page whose save downloads the file instead.
"""

from __future__ import annotations

import sys
import threading
import webbrowser
from pathlib import Path

from .common import add_project_dir, load, parse_day, project_root


def register(sub) -> None:
    parser = sub.add_parser("label", help="mark incidents on a metric's stored series (a local web page)")
    parser.add_argument("metric", help="metric name or key")
    add_project_dir(parser)
    parser.add_argument("--from", dest="start", type=parse_day, metavar="DATE", help="show from (UTC)")
    parser.add_argument("--to", dest="end", type=parse_day, metavar="DATE", help="show up to (UTC, exclusive)")
    parser.add_argument("--no-serve", action="store_true", help="write a static page whose save downloads the file")
    parser.add_argument("--output", metavar="PATH", help="the static page (default reports/<metric>__labeler.html)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--no-open", action="store_true", help="do not open a browser")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..errors import DetectkitError
    from ..reporting.files import write_atomic
    from .labeler import build_labeler, serve

    try:
        project = load(project_root(args.project_dir))
        metric = project.metric(args.metric)
        labeler = build_labeler(project, metric, args.start, args.end)
    except KeyError:
        print(f"✗ no metric named {args.metric!r}; metrics: {', '.join(m.name for m in project.metrics)}",
              file=sys.stderr)
        return 1
    except DetectkitError as exc:
        print(f"✗ {exc}", file=sys.stderr)
        return 1
    target = labeler.page_data["target"]
    if args.no_serve:
        path = Path(args.output).resolve() if args.output else project.reports_dir / f"{metric.key}__labeler.html"
        write_atomic(path, labeler.page(None, None).encode("utf-8"))
        print(f"Labeler page: {path}")
        print(f"  Open it, mark incidents, click Download labels, and save the file as {target}.")
        return 0
    server, url = serve(labeler, args.port)
    print(f"  Labeler: {url}")
    print(f"  Mark incidents in the browser and click Save labels; they go to {target}. Ctrl-C to stop.", flush=True)
    if not args.no_open:
        webbrowser.open(url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("  labeler stopped")
    finally:
        server.shutdown()
        server.server_close()
    return 0
