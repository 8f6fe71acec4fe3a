"""Alert events as the report shows them: markers on the chart and rows of the table."""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

KIND_LABELS = {"anomaly": "alert", "recovery": "recovery", "no_data": "no data"}
# Padding around an incident when a table row zooms the chart, in grid intervals.
_ZOOM_PAD_INTERVALS = 36


@dataclass(frozen=True)
class Event:
    kind: str
    t_ms: int
    onset_ms: int | None
    consecutive: int | None
    direction: str | None
    severity: float | None
    value: float | None
    detector: str
    rule: str
    sendable: bool | None
    hold_reason: str | None

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def delivery(self) -> str:
        """'sent', 'held: <reason>' or 'not sent'; empty when the source did not say."""
        if self.sendable is None and not self.hold_reason:
            return ""
        if self.sendable and not self.hold_reason:
            return "sent"
        return f"held: {self.hold_reason}" if self.hold_reason else "not sent"


def read_events(events: pl.DataFrame | None) -> list[Event]:
    """Events in time order; columns beyond kind and timestamp are optional."""
    if events is None or events.height == 0:
        return []
    missing = [c for c in ("kind", "timestamp") if c not in events.columns]
    if missing:
        raise ValueError(f"events is missing column(s): {', '.join(missing)}")
    frame = events.with_columns(
        pl.col("timestamp").dt.epoch("ms").alias("t_ms"),
        (pl.col("onset").dt.epoch("ms") if _is_temporal(events, "onset") else pl.lit(None)).alias("onset_ms"),
    ).sort("t_ms", maintain_order=True)
    return [_event(row) for row in frame.to_dicts()]


def _is_temporal(frame: pl.DataFrame, name: str) -> bool:
    return name in frame.columns and frame.schema[name].is_temporal()


def _event(row: dict) -> Event:
    return Event(
        kind=str(row["kind"]),
        t_ms=int(row["t_ms"]),
        onset_ms=_int_or_none(row.get("onset_ms")),
        consecutive=_int_or_none(row.get("consecutive")),
        direction=_text_or_none(row.get("direction")),
        severity=_float_or_none(row.get("severity")),
        value=_float_or_none(row.get("value")),
        detector=str(row.get("detector") or ""),
        rule=str(row.get("rule") or ""),
        sendable=None if row.get("sendable") is None else bool(row["sendable"]),
        hold_reason=_text_or_none(row.get("hold_reason")),
    )


def count_kinds(events: list[Event]) -> dict[str, int]:
    return {
        "alerts": sum(e.kind == "anomaly" for e in events),
        "recoveries": sum(e.kind == "recovery" for e in events),
        "no_data": sum(e.kind == "no_data" for e in events),
    }


def incident_view(event: Event, step_ms: int, window: tuple[int, int]) -> tuple[int, int]:
    """The x range that shows an event's incident with context on both sides."""
    first = min(event.onset_ms, event.t_ms) if event.onset_ms is not None else event.t_ms
    pad = max(event.t_ms - first, _ZOOM_PAD_INTERVALS * step_ms)
    start, end = max(first - pad, window[0]), min(event.t_ms + pad, window[1])
    return (start, end) if start < end else (first - pad, event.t_ms + pad)


def _int_or_none(value) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text_or_none(value) -> str | None:
    return None if value is None or value == "" else str(value)
