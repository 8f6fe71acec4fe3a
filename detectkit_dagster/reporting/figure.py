"""The plotly figure (data, layout, config) as plain JSON-ready dicts.

Built in Python so the page's script only hands it to ``Plotly.newPlot``. Every piece of
user text that plotly draws goes through ``plot_text``: plotly reads a small subset of
HTML in names and hover text, and entity-escaped text shows literally instead.
Each detector is one legend group, so its band, anomaly markers and warm-up shading
toggle together from its legend entry.
"""

from __future__ import annotations

import html
import math

import numpy as np

from .bands import is_change_type
from .detectors import DetectorView
from .events import Event
from .timeline import Timeline, format_duration, format_time

INK = "#24211d"
ANOMALY_RED = "#d62728"
EVENT_COLORS = {"anomaly": "#d62728", "recovery": "#2ca02c", "no_data": "#f0a020"}
EVENT_NAMES = {"anomaly": "alerts", "recovery": "recoveries", "no_data": "no-data events"}
# Chosen away from the red/green/amber of events so a band never reads as an alert.
DETECTOR_COLORS = ("#3366cc", "#8e5ea2", "#17a3b8", "#8c564b", "#e377c2", "#7f7f7f")
ANOMALY_SYMBOLS = ("circle", "diamond", "square", "triangle-up", "pentagon", "star")
SYSTEM_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
PRESETS = (("24h", 1, 86_400), ("7d", 7, 7 * 86_400), ("30d", 30, 30 * 86_400))
SIGNIFICANT_DIGITS = 7


def build_figure(
    *,
    metric: str,
    timeline: Timeline,
    values: np.ndarray,
    detectors: list[DetectorView],
    events: list[Event],
    window: tuple[int, int],
) -> dict:
    traces = [value_trace(timeline, values)]
    for index, detector in enumerate(detectors):
        traces += detector_traces(index, detector, timeline)
    for kind in EVENT_COLORS:
        traces += event_traces(kind, [e for e in events if e.kind == kind])
    return {
        "data": traces,
        "layout": layout(window, timeline.step_ms, detectors),
        "config": {
            "displaylogo": False,
            "responsive": True,
            "scrollZoom": True,
            "modeBarButtonsToRemove": ["select2d", "lasso2d"],
            "toImageButtonOptions": {"filename": metric},
        },
    }


def value_trace(timeline: Timeline, values: np.ndarray) -> dict:
    return {
        "type": "scatter",
        "mode": "lines",
        "name": "value",
        "legendgroup": "value",
        **timeline.x_fields(),
        "y": compact_series(values),
        "connectgaps": False,  # a missing point must look missing
        "line": {"color": INK, "width": 1.5},
        "hovertemplate": "%{y:.6~g}",
    }


def detector_color(index: int) -> str:
    return DETECTOR_COLORS[index % len(DETECTOR_COLORS)]


def detector_group(index: int) -> str:
    """Legend group of everything drawn for one detector."""
    return f"detector-{index}"


def detector_traces(index: int, detector: DetectorView, timeline: Timeline) -> list[dict]:
    color, group = detector_color(index), detector_group(index)
    traces = band_traces(
        f"band-{index}", timeline, detector.value_lower, detector.value_upper,
        name=plot_text(detector.label), group=group, color=color,
    )
    if detector.anomalies:
        traces.append(anomaly_trace(index, detector, group, color))
    if is_change_type(detector.input_type):  # also show the bounds as stored, on demand
        traces += processed_traces(index, detector, timeline, color)
    return traces


def band_traces(
    uid: str, timeline: Timeline, lower: np.ndarray, upper: np.ndarray, *, name: str, group: str, color: str,
    extra: dict | None = None,
) -> list[dict]:
    """A shaded band (legend entry) and an invisible upper edge that carries the hover.

    Plotly's 'tonexty' fill goes wrong across gaps, so the band is a closed shape per run
    of bounds instead. The page script builds that shape from the edge trace named in
    ``meta.band_of`` (upper = y, lower = customdata), which keeps the payload to one copy
    of each bound.
    """
    extra = extra or {}
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "x": [],
            "y": [],
            "fill": "toself",
            "fillcolor": rgba(color, 0.16),
            "line": {"color": rgba(color, 0.5), "width": 1},
            "name": name,
            "legendgroup": group,
            "hoverinfo": "skip",
            "meta": {"band_of": uid},
            **extra,
        },
        {
            "type": "scatter",
            "mode": "lines",
            "uid": uid,
            **timeline.x_fields(),
            "y": compact_series(upper),
            "customdata": compact_series(lower),
            "connectgaps": False,
            "line": {"color": color, "width": 0},
            "name": name,
            "legendgroup": group,
            "showlegend": False,
            "hovertemplate": "%{customdata:.5~g} – %{y:.5~g}",
            **extra,
        },
    ]


def anomaly_trace(index: int, detector: DetectorView, group: str, color: str) -> dict:
    return {
        "type": "scatter",
        "mode": "markers",
        "name": plot_text(f"{detector.label} anomalies"),
        "legendgroup": group,
        "showlegend": False,
        "x": [format_time(ms) for ms in detector.anomaly_ms],
        "y": compact_series(detector.anomaly_y),
        "marker": {
            "color": ANOMALY_RED,
            "size": 8,
            "symbol": ANOMALY_SYMBOLS[index % len(ANOMALY_SYMBOLS)],
            "line": {"color": color, "width": 1.5},
        },
        "text": [
            plot_text(anomaly_hover(detector.label, sev, direction))
            for sev, direction in zip(detector.anomaly_severity, detector.anomaly_direction)
        ],
        "hovertemplate": "%{text}<extra></extra>",
    }


def anomaly_hover(label: str, severity: float, direction: str | None) -> str:
    parts = [f"{label}: anomaly"]
    if direction in ("up", "down"):
        parts.append(direction)
    if severity is not None and math.isfinite(severity):
        parts.append(f"sev {severity:.2f}")
    return " · ".join(parts)


def processed_traces(index: int, detector: DetectorView, timeline: Timeline, color: str) -> list[dict]:
    """The detector's own view: processed values and stored bounds, on a right axis.

    Hidden until picked from the legend: the value-unit band already answers "was this
    point expected?", and a second scale on by default would crowd the chart.
    """
    group = f"processed-{index}"
    common = {"yaxis": "y2", "legendgroup": group, "visible": "legendonly"}
    return [
        *band_traces(
            f"band-{index}-processed", timeline, detector.lower, detector.upper,
            name=plot_text(f"{detector.label} · {detector.input_type} (right axis)"),
            group=group, color=color, extra=common,
        ),
        {
            "type": "scatter",
            "mode": "lines",
            **timeline.x_fields(),
            "y": compact_series(detector.processed),
            "name": plot_text(f"{detector.label} · {detector.input_type}"),
            "showlegend": False,
            "connectgaps": False,
            "line": {"color": color, "width": 1},
            "hovertemplate": "%{y:.5~g}",
            **common,
        },
    ]


def event_traces(kind: str, events: list[Event]) -> list[dict]:
    """A marker on top of the plot for each event, with a thin line down through the data.

    They live on a fixed 0..1 axis so no-data events (no value) sit with the others.
    """
    if not events:
        return []
    color, group = EVENT_COLORS[kind], f"events-{kind}"
    times = [format_time(e.t_ms) for e in events]
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "x": [x for t in times for x in (t, t, None)],
            "y": [y for _ in times for y in (0, 1, None)],
            "yaxis": "y3",
            "legendgroup": group,
            "showlegend": False,
            "line": {"color": rgba(color, 0.45), "width": 1, "dash": "dot"},
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "mode": "markers",
            "x": times,
            "y": [1] * len(times),
            "yaxis": "y3",
            "name": EVENT_NAMES[kind],
            "legendgroup": group,
            "cliponaxis": False,
            "marker": {"color": color, "size": 11, "symbol": "triangle-down"},
            "text": [plot_text(event_hover(e)) for e in events],
            "hovertemplate": "%{text}<extra></extra>",
        },
    ]


def event_hover(event: Event) -> str:
    """Multi-line hover text; plain text here, escaped by the caller, lines joined by <br>."""
    head = [event.kind_label, event.detector]
    if event.direction and event.direction != "none":
        head.append(event.direction)
    if event.severity:
        head.append(f"sev {event.severity:.2f}")
    if event.value is not None:
        head.append(f"value {event.value:.6g}")
    lines = [" · ".join(p for p in head if p)]
    if event.onset_ms is not None and event.kind != "no_data":
        lines.append(f"since {format_time(event.onset_ms)} ({format_duration(event.t_ms - event.onset_ms)}, "
                     f"{event.consecutive} pts)")
    if event.rule:
        lines.append(f"rule: {event.rule}")
    if event.delivery:
        lines.append(event.delivery)
    return "\n".join(lines)


def layout(window: tuple[int, int], step_ms: int, detectors: list[DetectorView]) -> dict:
    span_seconds = (window[1] - window[0]) / 1000
    shapes = [shape for i, d in enumerate(detectors) for shape in warmup_shapes(i, d, step_ms)]
    return {
        "height": 600,
        "margin": {"l": 64, "r": 24, "t": 48, "b": 24},
        "font": {"family": SYSTEM_FONT, "size": 12, "color": INK},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#fbfaf6",
        "hovermode": "x unified",
        "hoverlabel": {"namelength": -1},
        "legend": {"orientation": "h", "x": 0, "y": -0.22, "yanchor": "top", "groupclick": "togglegroup"},
        "xaxis": {
            "type": "date",
            "range": [format_time(window[0]), format_time(window[1])],
            "rangeselector": {"buttons": period_presets(span_seconds), "x": 0, "y": 1.02, "yanchor": "bottom"},
            "rangeslider": {"visible": True, "thickness": 0.08},
            "showspikes": True,
            "spikemode": "across",
            "spikethickness": 1,
            "spikecolor": "#9a9384",
        },
        "yaxis": {"title": {"text": "value"}, "gridcolor": "#ece7dc", "zeroline": False},
        "yaxis2": {
            "title": {"text": "processed units"},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "zeroline": True,
            "zerolinecolor": "#d9d2c3",
            "automargin": True,
            "visible": False,  # shown by the page script while a right-axis trace is on
        },
        "yaxis3": {"overlaying": "y", "range": [0, 1], "fixedrange": True, "visible": False},
        "shapes": shapes,
    }


def period_presets(span_seconds: float) -> list[dict]:
    """Range buttons shorter than the window, then 'all' (a longer one would only add blank)."""
    buttons = [
        {"label": label, "count": days, "step": "day", "stepmode": "backward"}
        for label, days, seconds in PRESETS
        if seconds < span_seconds
    ]
    return buttons + [{"label": "all", "step": "all"}]


def warmup_shapes(index: int, detector: DetectorView, step_ms: int) -> list[dict]:
    """Shade where the detector had too little history to judge (insufficient_data).

    Each run covers its points' whole grid cells, so a single point is still visible.
    """
    color, half = detector_color(index), step_ms // 2
    return [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": format_time(first - half),
            "x1": format_time(last + half),
            "y0": 0,
            "y1": 1,
            "fillcolor": rgba(color, 0.10),
            "line": {"width": 0},
            "layer": "below",
            "legendgroup": detector_group(index),
            "name": plot_text(f"{detector.label} warm-up"),
            "showlegend": False,
        }
        for first, last in detector.warmup
    ]


def plot_text(text: str) -> str:
    """User text for plotly labels: entities instead of markup, newlines as line breaks."""
    return html.escape(text, quote=False).replace("\n", "<br>")


def rgba(hex_color: str, alpha: float) -> str:
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def compact_number(value: float) -> float | int | None:
    """Seven significant digits, integers without '.0', None for NaN/inf (JSON null)."""
    if not math.isfinite(value):
        return None
    rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded


def compact_series(values: np.ndarray) -> list:
    return [compact_number(v) for v in np.asarray(values, dtype=np.float64).tolist()]
