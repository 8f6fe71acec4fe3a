"""The labeling page and its local server (see `detectkit-dagster label`).

The page embeds the metric's stored series and the labels autotune would use; plotly.js
comes from the installed plotly package (served, or inlined in a static page), so nothing
is fetched from the network. The server listens on 127.0.0.1 only, and a save must carry
the page's token; it validates the labels before writing `incidents/<metric>/labels.yml`.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml

from ..config import MetricConfig, Project
from ..errors import DetectkitError
from ..reporting.files import write_atomic
from ..reporting.page import plotly_js, script_json
from ..timegrid import format_interval
from ..storage import open_storage
from ..tuning import find_labels, incidents_dir, parse_metric_labels, read_history, relative

MAX_BODY = 5_000_000
LABELS_FILE = "labels.yml"


@dataclass(frozen=True)
class Labeler:
    """One metric's labeling page and where its labels go."""

    project: Project
    metric: MetricConfig
    page_data: dict

    @property
    def target(self) -> Path:
        return incidents_dir(self.project, self.metric) / LABELS_FILE

    def page(self, save_url: str | None, plotly_src: str | None) -> str:
        """The HTML page; ``plotly_src`` is a URL, or None to inline plotly.js."""
        app = _asset("labeler.js")
        scripts = [app] if plotly_src else [app, plotly_js()]
        plotly = f'<script src="{plotly_src}"></script>' if plotly_src else f"<script>{plotly_js()}</script>"
        connect = "'self'" if save_url else "'none'"  # the served page posts its labels back
        csp = (f"default-src 'none'; script-src 'self' {' '.join(_hash(s) for s in scripts)}; "
               f"style-src 'unsafe-inline'; img-src data: blob:; connect-src {connect}; base-uri 'none'; "
               "form-action 'none'")
        values = {"CSP": csp, "TITLE": html.escape(self.metric.name), "PLOTLY": plotly, "APP": app,
                  "DATA": script_json(dict(self.page_data, save_url=save_url))}
        return re.sub(r"__(CSP|TITLE|DATA|PLOTLY|APP)__", lambda m: values[m.group(1)], _asset("labeler.html"))

    def save(self, body: bytes) -> tuple[int, dict]:
        """Validate a posted labels document and write it; (HTTP status, answer)."""
        try:
            text = json.loads(body)["yaml"]
            labels = parse_metric_labels(yaml.safe_load(text), self.metric)
        except (ValueError, KeyError, TypeError, yaml.YAMLError) as exc:  # AutotuneError is a ValueError
            return 400, {"error": f"invalid labels: {exc}"}
        write_atomic(self.target, text.encode("utf-8"))
        return 200, {"saved": relative(self.project, self.target), "incidents": len(labels.incidents)}


def build_labeler(project: Project, metric: MetricConfig, start=None, end=None) -> Labeler:
    """The page data: the stored series (no history cap) and the labels autotune would use."""
    history = read_history(open_storage(project).metric(metric.key), metric, start, end)
    if history.height == 0:
        raise DetectkitError(f"no stored datapoints for {metric.name!r}: materialize {metric.key}/datapoints first")
    try:
        labels = find_labels(project, metric).labels
    except DetectkitError as exc:  # a broken file must not keep anyone from relabeling
        print(f"warning: existing labels not shown: {exc}", file=sys.stderr)
        labels = None
    return Labeler(project, metric, {
        "metric": metric.name,
        "interval": metric.interval_seconds,
        "interval_text": format_interval(metric.interval_seconds),
        "t": history["timestamp"].dt.epoch("ms").to_list(),
        "v": [None if v != v else v for v in history["value"].to_list()],  # NaN -> null (a gap)
        "incidents": [{"start": _ms(i.start), "end": _ms(i.end), "label": i.label, "point": i.point}
                      for i in (labels.incidents if labels else ())],
        "target": relative(project, incidents_dir(project, metric)) + f"/{LABELS_FILE}",
        "file_name": LABELS_FILE,
        "next": f"detectkit-dagster autotune --select {metric.name}",
    })


def serve(labeler: Labeler, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start the labeler on 127.0.0.1 in a background thread; returns the server and its URL."""
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


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def _ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)
