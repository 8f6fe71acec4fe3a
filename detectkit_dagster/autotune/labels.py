"""Incident labels: the labels format, and their projection onto the metric grid.

The format (YAML or JSON)::

    metric: orders            # optional; must name the tuned metric
    timezone: Europe/Berlin   # optional; naive times are local to it (default UTC)
    incidents:
      - {start: "2025-03-01 10:00:00", end: "2025-03-01 12:30:00", label: "checkout outage"}
      - {at: "2025-03-04 08:10:00"}
    capture_windows: [...]    # labeler bookkeeping: checked, never used as ground truth

A bare list of incidents is accepted too. Times are ``YYYY-MM-DD HH:MM:SS``, ``YYYY-MM-DD``
(or ISO 8601) text, or datetimes; an aware datetime is converted to UTC.

On the grid an interval marks every point in ``[start, end]``; a point (or an interval
with ``start == end``) marks the nearest grid point, when one lies within one interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from ..errors import AutotuneError

TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d")


@dataclass(frozen=True)
class Incident:
    start: datetime  # naive UTC
    end: datetime
    label: str | None = None
    point: bool = False  # given as {at: ...}


@dataclass(frozen=True)
class Labels:
    incidents: tuple[Incident, ...]
    capture_windows: tuple[tuple[datetime, datetime], ...] = ()

    def __add__(self, other: "Labels") -> "Labels":
        """Both sets; an incident given twice counts once."""
        return Labels(tuple(dict.fromkeys(self.incidents + other.incidents)),
                      tuple(dict.fromkeys(self.capture_windows + other.capture_windows)))

    def to_document(self, metric: str | None = None) -> dict:
        """The labels format as a mapping (what the labeler saves)."""
        def text(moment: datetime) -> str:
            return moment.strftime(TIME_FORMATS[0])

        entries = []
        for incident in sorted(self.incidents, key=lambda i: (i.start, i.end)):
            entry = {"at": text(incident.start)} if incident.point else {
                "start": text(incident.start), "end": text(incident.end)}
            if incident.label:
                entry["label"] = incident.label
            entries.append(entry)
        document = {"metric": metric} if metric else {}
        document |= {"timezone": "UTC", "incidents": entries}
        if self.capture_windows:
            document["capture_windows"] = [{"start": text(a), "end": text(b)} for a, b in self.capture_windows]
        return document


def parse_labels(data, metric: str | None = None, timezone: str | None = None) -> Labels:
    """Validate a labels document (or a bare list of incidents); one clear error per problem."""
    if data is None or data == {} or data == "":
        raise AutotuneError("Empty labels file")
    if isinstance(data, list):
        entries, windows = data, []
    elif isinstance(data, dict):
        named = data.get("metric")
        if named is not None and metric is not None and str(named) != metric:
            raise AutotuneError(f"labels are for metric {named!r}, not {metric!r}")
        timezone = data.get("timezone", timezone)
        entries = data.get("incidents", [])
        windows = data.get("capture_windows") or []
        if not isinstance(entries, list):
            raise AutotuneError(f"'incidents' must be a list of {{start, end}} or {{at}} entries, got {entries!r}")
        if not isinstance(windows, list):
            raise AutotuneError(f"'capture_windows' must be a list of {{start, end}} entries, got {windows!r}")
    else:
        raise AutotuneError(f"labels must be a mapping with 'incidents' or a list of incidents, got {data!r}")
    zone = _zone(timezone)
    incidents = tuple(_incident(entry, f"incidents[{i}]", zone) for i, entry in enumerate(entries))
    captures = []
    for i, entry in enumerate(windows):
        where = f"capture_windows[{i}]"
        if not isinstance(entry, dict) or "start" not in entry or "end" not in entry:
            raise AutotuneError(f"{where}: expected a mapping with 'start' and 'end', got {entry!r}")
        captures.append(_ordered(_time(entry["start"], f"{where}.start", zone),
                                 _time(entry["end"], f"{where}.end", zone), where))
    return Labels(incidents, tuple(captures))


def _zone(name) -> ZoneInfo | None:
    if name in (None, "", "UTC", "utc"):
        return None
    try:
        return ZoneInfo(str(name))
    except (KeyError, ValueError):
        raise AutotuneError(f"timezone {name!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Berlin')") from None


def _incident(entry, where: str, zone) -> Incident:
    if not isinstance(entry, dict):
        raise AutotuneError(f"{where}: expected a mapping with 'start' and 'end', or 'at', got {entry!r}")
    label = entry.get("label")
    label = None if label is None or not str(label).strip() else str(label).strip()
    if "at" in entry:
        at = _time(entry["at"], f"{where}.at", zone)
        return Incident(at, at, label, point=True)
    if "start" not in entry or "end" not in entry:
        raise AutotuneError(f"{where}: needs 'at' (a point) or both 'start' and 'end' (an interval), got {entry!r}")
    start, end = _ordered(_time(entry["start"], f"{where}.start", zone),
                          _time(entry["end"], f"{where}.end", zone), where)
    return Incident(start, end, label)


def _ordered(start: datetime, end: datetime, where: str) -> tuple[datetime, datetime]:
    if start > end:
        raise AutotuneError(f"{where}: Incident start {start} is after end {end}")
    return start, end


def _time(value, where: str, zone) -> datetime:
    """Naive UTC from text, a date, a datetime or a numpy datetime64."""
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[ms]").item()
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = _parse_text(value.strip(), where)
    else:
        raise AutotuneError(f"{where}: {value!r} is not a time (use 'YYYY-MM-DD HH:MM:SS' or 'YYYY-MM-DD')")
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    if zone is not None:
        return moment.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    return moment


def _parse_text(text: str, where: str) -> datetime:
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AutotuneError(f"{where}: {text!r} is not a time (use 'YYYY-MM-DD HH:MM:SS' or 'YYYY-MM-DD')") from None


@dataclass(frozen=True)
class GroundTruth:
    """Labels on the grid: a flag per point, and the incidents as index spans (both ends in)."""

    y_true: np.ndarray
    spans: tuple[tuple[int, int], ...]  # overlapping incidents merged
    n_intervals: int
    n_points: int

    @property
    def n_positive(self) -> int:
        return int(self.y_true.sum())

    @property
    def supervised(self) -> bool:
        return self.n_positive > 0

    @property
    def mode(self) -> str:
        return "supervised" if self.supervised else "unsupervised"

    def summary(self) -> dict:
        return {"intervals": self.n_intervals, "points": self.n_points, "positive_grid_points": self.n_positive}


def project_labels(labels: Labels | None, timestamps: np.ndarray, interval_seconds: int) -> GroundTruth:
    """Ground truth aligned with ``timestamps`` (datetime64, ascending)."""
    ms = np.asarray(timestamps).astype("datetime64[ms]").astype(np.int64)
    y_true = np.zeros(len(ms), dtype=bool)
    incidents = labels.incidents if labels else ()
    spans = []
    tolerance = interval_seconds * 1000
    for incident in incidents:
        start, end = _ms(incident.start), _ms(incident.end)
        if start != end:
            lo, hi = np.searchsorted(ms, start, "left"), np.searchsorted(ms, end, "right") - 1
        else:
            lo = hi = _nearest(ms, start, tolerance)
        if lo is None or lo > hi:
            continue  # outside the data: silently unsupervised, as the reference
        y_true[lo:hi + 1] = True
        spans.append((int(lo), int(hi)))
    n_points = sum(1 for i in incidents if i.point)
    return GroundTruth(y_true, _merge(spans), len(incidents) - n_points, n_points)


def _ms(moment: datetime) -> int:
    return int(np.datetime64(moment, "ms").astype(np.int64))


def _nearest(ms: np.ndarray, at: int, tolerance: int) -> int | None:
    i = int(np.searchsorted(ms, at))
    best = min((j for j in (i - 1, i) if 0 <= j < len(ms)), key=lambda j: abs(ms[j] - at), default=None)
    return best if best is not None and abs(int(ms[best]) - at) <= tolerance else None


def _merge(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return tuple((lo, hi) for lo, hi in merged)
