"""`detectkit-dagster label <metric>`: mark incidents on a metric's stored series in the browser.

The page (plotly.js from the installed plotly package, nothing fetched from the network)
shows the series with the labels autotune would use; drag to mark an interval, click to mark
a point, edit or remove them in the list, then save: the server (127.0.0.1 only) validates
the labels and writes `incidents/<metric>/labels.yml`. `--no-serve` writes a static page
whose save downloads the file instead.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import sys
import threading
import webbrowser
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .common import add_project_dir, parse_day, project_root

MAX_BODY = 5_000_000
LABELS_FILE = "labels.yml"


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


@dataclass(frozen=True)
class Labeler:
    """One metric's labeling page and where its labels go."""

    project: object
    metric: object
    page_data: dict

    @property
    def target(self) -> Path:
        from ..tuning import incidents_dir

        return incidents_dir(self.project, self.metric) / LABELS_FILE

    def page(self, save_url: str | None, plotly_src: str | None) -> str:
        """The HTML page; ``plotly_src`` is a URL, or None to inline plotly.js."""
        from ..reporting.page import plotly_js, script_json

        data = dict(self.page_data, save_url=save_url)
        app = _asset("labeler.js")
        scripts = [app] if plotly_src else [app, plotly_js()]
        plotly = f'<script src="{plotly_src}"></script>' if plotly_src else f"<script>{plotly_js()}</script>"
        connect = "'self'" if save_url else "'none'"
        csp = (f"default-src 'none'; script-src 'self' {' '.join(_hash(s) for s in scripts)}; "
               f"style-src 'unsafe-inline'; img-src data: blob:; connect-src {connect}; base-uri 'none'; "
               "form-action 'none'")
        values = {"CSP": csp, "TITLE": html.escape(self.metric.name), "DATA": script_json(data),
                  "PLOTLY": plotly, "APP": app}
        return re.sub(r"__(CSP|TITLE|DATA|PLOTLY|APP)__", lambda m: values[m.group(1)], _asset("labeler.html"))

    def save(self, body: bytes) -> tuple[int, dict]:
        """Validate a posted labels document and write it; (HTTP status, answer)."""
        import yaml

        from ..errors import AutotuneError
        from ..reporting.files import write_atomic
        from ..tuning import relative

        try:
            text = json.loads(body)["yaml"]
            document = yaml.safe_load(text)
            labels = _parse(document, self.metric)
        except (ValueError, KeyError, TypeError, yaml.YAMLError, AutotuneError) as exc:
            return 400, {"error": f"invalid labels: {exc}"}
        write_atomic(self.target, text.encode("utf-8"))
        return 200, {"saved": relative(self.project, self.target), "incidents": len(labels.incidents)}


def _parse(document, metric):
    from ..autotune import parse_labels

    if isinstance(document, dict) and document.get("metric") == metric.key:
        document = {**document, "metric": metric.name}
    return parse_labels(document, metric=metric.name)


def build_labeler(project, metric, start=None, end=None) -> Labeler:
    """The page data: the stored series (no history cap) and the labels autotune would use."""
    from ..errors import DetectkitError
    from ..timegrid import format_interval
    from ..tuning import find_labels, incidents_dir, read_history, relative

    history = read_history(project, metric, start, end)
    if history.height == 0:
        raise DetectkitError(f"no stored datapoints for {metric.name!r}: materialize {metric.key}/datapoints first")
    try:
        labels = find_labels(project, metric).labels
    except DetectkitError as exc:  # a broken file must not keep anyone from relabeling
        print(f"warning: existing labels not shown: {exc}", file=sys.stderr)
        labels = None
    values = history["value"].to_list()
    return Labeler(project, metric, {
        "metric": metric.name,
        "interval": metric.interval_seconds,
        "interval_text": format_interval(metric.interval_seconds),
        "t": history["timestamp"].dt.epoch("ms").to_list(),
        "v": [None if v != v else v for v in values],  # NaN -> null
        "incidents": [{"start": _ms(i.start), "end": _ms(i.end), "label": i.label, "point": i.point}
                      for i in (labels.incidents if labels else ())],
        "target": relative(project, incidents_dir(project, metric)) + f"/{LABELS_FILE}",
        "file_name": LABELS_FILE,
        "next": f"detectkit-dagster autotune --select {metric.name}",
    })


def serve(labeler: Labeler, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start the labeler on 127.0.0.1 in a background thread; returns the server and its URL."""
    from ..reporting.page import plotly_js

    token = secrets.token_urlsafe(16)
    page = labeler.page(f"/save?token={token}", "/plotly.min.js").encode("utf-8")
    plotly = plotly_js().encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = urlsplit(self.path).path
            if path == "/plotly.min.js":
                return self._send(200, plotly, "text/javascript; charset=utf-8")
            if path in ("/", "/index.html"):
                return self._send(200, page, "text/html; charset=utf-8")
            return self._json(404, {"error": "not found"})

        def do_POST(self):
            url = urlsplit(self.path)
            if url.path != "/save" or parse_qs(url.query).get("token") != [token]:
                return self._json(403, {"error": "forbidden"})
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                return self._json(413, {"error": f"the body must hold 1 to {MAX_BODY:,} bytes"})
            status, answer = labeler.save(self.rfile.read(length))
            if status == 200:
                print(f"  saved {answer['incidents']} incident(s) to {answer['saved']}", flush=True)
            self._json(status, answer)

        def _json(self, status, answer):
            self._send(status, json.dumps(answer).encode("utf-8"), "application/json")

        def _send(self, status, body, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet: the command prints what matters
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def run(args) -> int:
    from ..config import load_project
    from ..errors import DetectkitError
    from ..reporting.files import write_atomic

    root = project_root(args.project_dir)
    try:
        project = load_project(root)
        metric = project.metric(args.metric)
        labeler = build_labeler(project, metric, args.start, args.end)
    except KeyError:
        print(f"✗ no metric named {args.metric!r}; metrics: {', '.join(m.name for m in project.metrics)}",
              file=sys.stderr)
        return 1
    except DetectkitError as exc:
        print(f"✗ {exc}", file=sys.stderr)
        return 1
    if args.no_serve:
        path = Path(args.output).resolve() if args.output else project.reports_dir / f"{metric.key}__labeler.html"
        write_atomic(path, labeler.page(None, None).encode("utf-8"))
        print(f"Labeler page: {path}")
        print(f"  Open it, mark incidents, click Download labels, and save the file as {labeler.page_data['target']}.")
        return 0
    server, url = serve(labeler, args.port)
    print(f"  Labeler: {url}")
    print(f"  Mark incidents in the browser and click Save labels; they go to {labeler.page_data['target']}. "
          "Ctrl-C to stop.", flush=True)
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


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def _ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)
