"""ReportInput -> one HTML page. Pure: no files, no clock, no network.

Escaping has three layers, one per place text can land:
- HTML text and attributes: Jinja autoescape;
- the figure JSON: a non-executed ``application/json`` script whose ``<``, ``>``, ``&``
  and line separators are \\u-escaped, so no input can close the tag;
- labels drawn by plotly: entity-escaped in ``figure.plot_text``.
A Content-Security-Policy then allows only this page's own scripts and no connections,
so a mistake elsewhere still cannot load or send anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import jinja2
from jinja2.sandbox import SandboxedEnvironment
import numpy as np
import polars as pl
from markupsafe import Markup

from detectkit_dagster.timegrid import format_interval

from .detectors import DetectorView, detector_views
from .events import Event, incident_view, read_events
from .figure import build_figure, detector_color
from .model import ReportInput
from .summary import summarize
from .timeline import build_timeline, column_ms, format_time, to_ms

MAX_TABLE_ROWS = 1000
_SCRIPT_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def render_report(report: ReportInput, *, plotly_src: str | None = None) -> str:
    """The report page. ``plotly_src`` is plotly.js's URL relative to the page; None inlines it."""
    return prepare_page(report).render(plotly_src)


@dataclass(frozen=True)
class PreparedPage:
    """Everything but the plotly.js reference, so one report can be rendered for two folders."""

    context: dict
    summary: dict

    def render(self, plotly_src: str | None) -> str:
        inline = []
        if self.context["has_chart"]:
            inline = [bootstrap_js()] if plotly_src else [bootstrap_js(), plotly_js()]
        return _template().render(self.context, plotly_src=plotly_src, csp=content_security_policy(inline))


def prepare_page(report: ReportInput) -> PreparedPage:
    window = (to_ms(report.window_start), to_ms(report.window_end))
    datapoints = within(report.datapoints, window)
    detections = within(report.detections, window)
    events = read_events(within(report.events, window))

    timeline = build_timeline(
        np.concatenate([column_ms(datapoints), column_ms(detections) if detections is not None else []]),
        report.interval_seconds,
    )
    detectors = detector_views(detections, timeline, report.detector_labels)
    summary = summarize(datapoints, detectors, events)
    has_chart = datapoints.height > 0

    context = {
        "heading": " · ".join(p for p in (report.project, report.metric) if p),
        "period": f"{format_time(window[0])} – {format_time(window[1])} UTC",
        "interval": format_interval(report.interval_seconds),
        "generated": f"{report.generated_at:%Y-%m-%d %H:%M} UTC",
        "description": report.description,
        "summary": summary,
        "detectors": detector_rows(detectors),
        "rules": list(report.rules),
        "has_chart": has_chart,
        "events": event_rows(events, timeline.step_ms, window),
        "event_count": len(events),
        "window_end_ms": window[1],
        "plotly_version": None,
    }
    if has_chart:
        values = timeline.align(column_ms(datapoints), datapoints.get_column("value").cast(pl.Float64).to_numpy())
        figure = build_figure(
            metric=report.metric, timeline=timeline, values=values, detectors=detectors, events=events, window=window
        )
        context |= {
            "figure_json": Markup(script_json(figure)),
            "bootstrap": Markup(bootstrap_js()),
            "plotly_inline": Markup(plotly_js()),
            "plotly_version": plotly_version(),
        }
    return PreparedPage(context, summary)


def within(frame: pl.DataFrame | None, window: tuple[int, int]) -> pl.DataFrame | None:
    """Rows whose timestamp is inside the window, both ends included."""
    if frame is None:
        return None
    ms = pl.col("timestamp").dt.epoch("ms")
    return frame.filter(ms.is_between(window[0], window[1], closed="both"))


def detector_rows(detectors: list[DetectorView]) -> list[dict]:
    return [
        {
            "label": d.label,
            "color": detector_color(i),
            "input_type": d.input_type,
            "params": d.params_json,
            "anomalies": d.anomalies,
        }
        for i, d in enumerate(detectors)
    ]


def event_rows(events: list[Event], step_ms: int, window: tuple[int, int]) -> list[dict]:
    """Table rows, newest first, at most MAX_TABLE_ROWS of them."""
    rows = []
    for event in reversed(events[-MAX_TABLE_ROWS:]):
        zoom_from, zoom_to = incident_view(event, step_ms, window)
        rows.append(
            {
                "time": format_time(event.t_ms),
                "kind": event.kind_label,
                "kind_class": event.kind if event.kind in ("anomaly", "recovery", "no_data") else "other",
                "detector": "" if event.kind == "no_data" else event.detector,
                "direction": event.direction if event.direction not in (None, "none") else "",
                "severity": f"{event.severity:.2f}" if event.severity else "",
                "streak": "" if event.consecutive is None or event.kind == "no_data" else event.consecutive,
                "value": "" if event.value is None else f"{event.value:.6g}",
                "rule": event.rule,
                "delivery": event.delivery,
                "held": event.delivery.startswith(("held", "not")),
                "zoom_from": format_time(zoom_from),
                "zoom_to": format_time(zoom_to),
            }
        )
    return rows


def script_json(value: object) -> str:
    """JSON that is safe between <script> tags: nothing in it can end or change the tag."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.translate(_SCRIPT_ESCAPES)


def content_security_policy(inline_scripts: list[str]) -> str:
    """No fetches, frames, fonts or forms; scripts only from the page's own site or by hash.

    'self' covers a served reports folder; ``file:`` covers pages opened from disk in
    browsers that give every local file its own origin.
    """
    scripts = ["'self'", "file:", *(f"'sha256-{_sha256(s)}'" for s in inline_scripts)]
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(scripts)}",
            "style-src 'unsafe-inline'",  # plotly styles its elements inline
            "img-src data: blob:",  # the modebar's PNG download
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


@cache
def bootstrap_js() -> str:
    return resources.files(__package__).joinpath("report.js").read_text(encoding="utf-8")


@cache
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    source = get_plotlyjs()
    if "</script" in source.lower():  # would end an inline <script> early
        raise ValueError("plotly.js contains '</script' and cannot be inlined")
    return source


@cache
def plotly_version() -> str:
    from plotly.offline.offline import get_plotlyjs_version

    return get_plotlyjs_version()


@cache
def _template() -> jinja2.Template:
    env = SandboxedEnvironment(  # every template the project renders is sandboxed
        loader=jinja2.PackageLoader(__package__, ""),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html")
