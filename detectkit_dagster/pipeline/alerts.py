"""Alert events of a run: the replay of every alert block, resumed from stored state.

A tick must not replay years of history. After each run the state of every block (what the
rule still remembers: cooldown, streaks, the open incident) is stored as a checkpoint at the
start of the run's last window and at its end. The next run starting at one of those times
resumes from it and reads only its own windows; otherwise (no checkpoint, a changed rule or
detector set) it replays from the first stored point. Rewriting datapoints or detections
deletes every checkpoint after the start of what was rewritten, so a checkpoint never covers
data that changed after it was taken. Both paths give the events of one replay over the whole
history.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Sequence

import polars as pl

from ..alerting import ReplayState, mark_delivery, replay_blocks_with_state
from ..schemas import ALERT_STATE, ALERTS, DATAPOINTS, DETECTIONS, TS
from ..storage import MetricStore, Write
from .windows import Window, span

if TYPE_CHECKING:
    from ..config.metric import MetricConfig

STATE_TABLE = "alert_state"
PIECE_POINTS = 10_000  # grid points replayed per read (memory follows it; time barely does)
# What the replay reads of a detection (not the bulky per-point metadata).
REPLAYED_COLUMNS = ("timestamp", "detector_id", "detector_name", "detector_params", "value", "processed_value",
                    "confidence_lower", "confidence_upper", "is_anomaly", "severity", "direction", "status")
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class AlertRun:
    events: pl.DataFrame  # ALERTS rows of the run's windows
    checkpoints: pl.DataFrame  # ALERT_STATE rows to store
    resumed: bool  # from stored state; else replayed from the first stored point


def state_key(config_id: str, detector_ids: Sequence[str]) -> str:
    """A block's state depends on its rule and on which detectors feed it."""
    detectors = hashlib.sha256(",".join(sorted(detector_ids)).encode()).hexdigest()[:12]
    return f"{config_id}:{detectors}"


def replay_alerts(
    metric: "MetricConfig", detector_ids: Sequence[str], store: MetricStore, windows: Sequence[Window],
    now: datetime, max_age: timedelta,
) -> AlertRun:
    whole, last = span(list(windows)), windows[-1]
    keys = [state_key(a.config_id, detector_ids) for a in metric.alerts]
    if not keys:
        return AlertRun(pl.DataFrame(schema=ALERTS), pl.DataFrame(schema=ALERT_STATE), True)
    step = timedelta(seconds=metric.interval_seconds)
    with store.reading() as reader:
        states = _states_at(reader, keys, whole.start)
        first = whole.start if states else _first_point(reader, whole)
        if first is None:
            return AlertRun(pl.DataFrame(schema=ALERTS), pl.DataFrame(schema=ALERT_STATE), False)
        found, state, at_last = [], states, None
        # Piece by piece, the state carried across: memory follows the piece, not the history.
        before = _pieces(first, last.start, step * PIECE_POINTS) or [(first, first)]  # at least the state
        for start, end in [*before, (last.start, whole.end)]:
            datapoints, detections = _read(reader, start, end, detector_ids)
            events, state = replay_blocks_with_state(
                detections, datapoints, metric.alerts, metric.interval_seconds, start, end - step, state)
            found.append(events.filter(whole.contains()))
            at_last = state if end == last.start else at_last
    checkpoints = _state_rows(keys, [(last.start, at_last), (whole.end, state)])
    return AlertRun(_metric_event_ids(metric.key, _marked(metric, pl.concat(found), now, max_age)), checkpoints,
                    states is not None)


def _first_point(reader, whole: Window) -> datetime | None:
    stamps = reader.read_range("datapoints", None, whole.end, columns=("timestamp",), schema={"timestamp": TS})
    return None if stamps.height == 0 else min(stamps["timestamp"][0], whole.start)


def _pieces(first: datetime, stop: datetime, length: timedelta) -> list[tuple[datetime, datetime]]:
    bounds = [first]
    while bounds[-1] < stop:
        bounds.append(min(bounds[-1] + length, stop))
    return list(zip(bounds, bounds[1:]))


def _read(reader, start: datetime, end: datetime, detector_ids: Sequence[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    datapoints = reader.read_range("datapoints", start, end, schema=DATAPOINTS)
    detections = reader.read_range("detections", start, end, order_by=("timestamp", "detector_id"),
                                   schema=DETECTIONS, columns=REPLAYED_COLUMNS)
    return datapoints, detections.filter(pl.col("detector_id").is_in(list(detector_ids)))


def save_alerts(store: MetricStore, metric: "MetricConfig", run: AlertRun, windows: Sequence[Window]) -> None:
    """The run's events and checkpoints of its blocks, in one transaction."""
    whole, last = span(list(windows)), windows[-1]
    owned = ("config_id", [a.config_id for a in metric.alerts])
    keys = run.checkpoints["state_key"].unique().to_list()
    store.replace_ranges([
        Write("alerts", run.events, whole.start, whole.end, scope=owned),
        Write(STATE_TABLE, run.checkpoints, last.start, whole.end + _MS, scope=("state_key", keys)),
    ])


def stale_after(start: datetime | None) -> datetime | None:
    """Where checkpoints stop being valid when rows from `start` on are rewritten: a
    checkpoint taken at `start` covers only earlier points and stays."""
    return None if start is None else start + _MS


def _states_at(reader, keys: list[str], at: datetime) -> list[ReplayState] | None:
    rows = reader.read_range(STATE_TABLE, at, at + _MS, schema=ALERT_STATE)
    found = {row["state_key"]: row["state"] for row in rows.iter_rows(named=True)}
    if any(key not in found for key in keys):
        return None
    return [ReplayState.from_dict(json.loads(found[key])) for key in keys]


def _state_rows(keys: list[str], states: list[tuple[datetime, list[ReplayState]]]) -> pl.DataFrame:
    rows = [{"timestamp": at, "state_key": key, "state": json.dumps(state.to_dict(), separators=(",", ":"))}
            for at, block_states in states for key, state in zip(keys, block_states)]
    return pl.DataFrame(rows, schema=ALERT_STATE)


def _metric_event_ids(metric_key: str, events: pl.DataFrame) -> pl.DataFrame:
    """The replay's event ids name the rule, the kind and the time; the metric joins them here, so
    two metrics with the same rule firing at the same point are two alerts, to dispatch and to
    receivers that de-duplicate by id."""
    return events.with_columns(pl.col("event_id").map_elements(
        lambda event: hashlib.sha256(f"{metric_key}|{event}".encode()).hexdigest()[:16], return_dtype=pl.String))


def _marked(metric: "MetricConfig", events: pl.DataFrame, now: datetime, max_age: timedelta) -> pl.DataFrame:
    marked = [
        mark_delivery(events.filter(pl.col("alert_index") == index), alert, now, max_age=max_age)
        for index, alert in enumerate(metric.alerts)
    ]
    return pl.concat(marked).sort("timestamp", "alert_index").select([pl.col(c).cast(t) for c, t in ALERTS.items()])
