"""Alert events: the table schema and one builder per kind (anomaly, recovery, no_data)."""

from __future__ import annotations

import hashlib
from datetime import datetime

import polars as pl

from detectkit_dagster.alerting.evidence import Evidence, Firing, Recovery
from detectkit_dagster.alerting.quorum import Quorum, observed_direction, primary
from detectkit_dagster.alerting.timeline import datetime_of

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String,                 # anomaly / recovery / no_data
    "timestamp": pl.Datetime("ms"),    # grid point where the event fired
    "event_id": pl.String,             # stable: receivers de-duplicate with it
    "config_id": pl.String,            # detectkit's alert-config id
    "onset": pl.Datetime("ms"),        # first point of the streak / incident
    "consecutive": pl.Int64,           # true streak, incident length, or matched window slots
    "direction": pl.String,            # up / down / mixed (policy any) / null
    "severity": pl.Float64,
    "value": pl.Float64,
    "confidence_lower": pl.Float64,
    "confidence_upper": pl.Float64,
    "detector": pl.String,             # detector name, or "N detectors"
    "detectors": pl.String,            # comma-joined detector ids involved
    "detector_params": pl.String,      # "<name>: <params>; ..." for a quorum, else the detector's JSON
    "detector_count": pl.Int64,
    "rule": pl.String,
    "fired_by_share": pl.Boolean,
    "window_points": pl.Int64,         # fraction rule only
    "window_matched": pl.Int64,
    "window_share": pl.Float64,
    "incident_detectors": pl.String,   # names of the detectors that fired in the incident so far
}
_TIME_COLUMNS = ("timestamp", "onset")


def event_id(config_id: str, kind: str, timestamp: datetime | int) -> str:
    """sha-256[:16] of 'config_id|kind|YYYY-MM-DDTHH:MM:SS' (timestamp: naive UTC or epoch ms)."""
    moment = datetime_of(timestamp) if isinstance(timestamp, int) else timestamp
    text = f"{config_id}|{kind}|{moment.isoformat(timespec='seconds')}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def events_frame(rows: list[dict]) -> pl.DataFrame:
    """The events table; always the full schema, also when empty."""
    build_schema = {k: (pl.Int64 if k in _TIME_COLUMNS else v) for k, v in EVENT_SCHEMA.items()}
    frame = pl.from_dicts(rows, schema=build_schema) if rows else pl.DataFrame(schema=build_schema)
    return frame.with_columns(pl.col(c).cast(pl.Datetime("ms")) for c in _TIME_COLUMNS)


def _base(ev: Evidence, kind: str, t: int) -> dict:
    rule = ev.rule
    return {
        "kind": kind,
        "timestamp": t,
        "event_id": event_id(rule.config_id, kind, t),
        "config_id": rule.config_id,
        "rule": rule.text,
        "fired_by_share": False,
        "window_points": rule.window_points,
        "severity": 0.0,
        "detector_count": 1,
    }


def detector_names(detectors: dict[str, str]) -> str:
    """'MADDetector, ZScoreDetector' from {id: name}; a name shared by several ids gets a count."""
    names = sorted(detectors.values())
    return ", ".join(n if names.count(n) == 1 else f"{n} (×{names.count(n)})" for n in sorted(set(names)))


def anomaly_event(ev: Evidence, g: int, q: Quorum, firing: Firing, incident: dict[str, str]) -> dict:
    """The quorum at timestamp g speaks through its primary member (highest severity)."""
    t = int(ev.timeline.ts[g])
    lead = primary(q.members)
    n = len(q.members)
    return _base(ev, "anomaly", t) | {
        "onset": firing.onset_ms,
        "consecutive": firing.length,
        "direction": observed_direction(q),
        "severity": max(a.severity for a in q.members) if n > 1 else lead.severity,
        "value": ev.timeline.value[g],
        "confidence_lower": lead.lower,
        "confidence_upper": lead.upper,
        "detector": f"{n} detectors" if n > 1 else lead.detector_name,
        "detectors": ",".join(a.detector_id for a in q.members),
        "detector_params": "; ".join(f"{a.detector_name}: {a.detector_params}" for a in q.members)
        if n > 1 else lead.detector_params,
        "detector_count": n,
        "fired_by_share": firing.by_share,
        "window_matched": firing.matched,
        "window_share": firing.share,
        "incident_detectors": detector_names(incident),
    }


def recovery_event(ev: Evidence, g: int, recovery: Recovery, incident: dict[str, str]) -> dict:
    """detectkit 0.29 recovery: the last row at t (largest detector_id) shows value and band;
    if its band is incomplete, the newest anomalous row's band and name are shown instead."""
    tl = ev.timeline
    t = int(tl.ts[g])
    shown = tl.record(int(tl.offsets[g + 1]) - 1)
    if shown.lower is None or shown.upper is None:
        newest = int(tl.newest_anomalous[g])
        shown = tl.record(newest) if newest >= 0 else ev.state.last_anomaly or shown
    length, onset = ev.incident(g)
    return _base(ev, "recovery", t) | {
        "onset": onset,
        "consecutive": length,
        "value": tl.value[g],
        "confidence_lower": shown.lower,
        "confidence_upper": shown.upper,
        "detector": shown.detector_name,
        "detectors": shown.detector_id,
        "detector_params": shown.detector_params,
        "window_matched": recovery.matched,
        "window_share": recovery.share,
        "incident_detectors": detector_names(incident) or None,
    }


def no_data_event(ev: Evidence, t: int) -> dict:
    return _base(ev, "no_data", t) | {"consecutive": 0, "detector": "no_data"}
