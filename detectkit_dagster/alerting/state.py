"""What one alert block remembers between replays, so a long history can be replayed piece by piece.

The state after replaying [a, b] holds everything the rule can still look at from before b:
the last alert and recovery (cooldown, recovery), the calm points counted toward a recovery, the
streaks ending at the newest detection (true streak length and onset, however long), the newest
incident, its detectors and anomalous row (recovery messages) and the recent quorum flags
(fraction window). Raw detections never need re-reading.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

STATE_VERSION = 1

# Quorum flags of one timestamp, packed into the fraction-window slots.
FLAG_UP, FLAG_DOWN, FLAG_ANY = 1, 2, 4


@dataclass(frozen=True)
class DetectionTail:
    """The newest detection timestamp seen and the quorum streaks ending there."""

    timestamp: datetime
    up: int = 0
    down: int = 0
    any: int = 0
    trigger: str | None = None  # direction a no-data alert right after it would stand for


@dataclass(frozen=True)
class Incident:
    """The newest run of quorum points: what a recovery message reports."""

    onset: datetime
    length: int


@dataclass(frozen=True)
class AnomalyRef:
    """The newest anomalous row: a recovery shows its band when the latest row has none."""

    detector_id: str
    detector_name: str
    detector_params: str
    lower: float | None
    upper: float | None


@dataclass(frozen=True)
class ReplayState:
    """Carry-over of one alert block (one config_id on one interval) up to and including `as_of`."""

    config_id: str
    interval_seconds: int
    as_of: datetime | None = None           # last grid point covered; None = nothing yet
    last_alert: datetime | None = None      # last anomaly or no-data alert
    last_recovery: datetime | None = None   # when the metric last counted as recovered (sent or not)
    alert_direction: str | None = None      # direction of the last alert, for its recovery
    tail: DetectionTail | None = None
    incident: Incident | None = None
    last_anomaly: AnomalyRef | None = None
    window: tuple[tuple[datetime, int], ...] = ()  # (timestamp, FLAG_*) of recent slots
    calm: int = 0                           # consecutive calm points since the last alert
    incident_detectors: tuple[tuple[str, str], ...] = ()  # (id, name) of detectors that fired

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO timestamps); `from_dict` reads it back."""
        return {
            "version": STATE_VERSION,
            "config_id": self.config_id,
            "interval_seconds": self.interval_seconds,
            "as_of": _iso(self.as_of),
            "last_alert": _iso(self.last_alert),
            "last_recovery": _iso(self.last_recovery),
            "alert_direction": self.alert_direction,
            "tail": self.tail and asdict(self.tail) | {"timestamp": _iso(self.tail.timestamp)},
            "incident": self.incident and asdict(self.incident) | {"onset": _iso(self.incident.onset)},
            "last_anomaly": self.last_anomaly and asdict(self.last_anomaly),
            "window": [[_iso(ts), flags] for ts, flags in self.window],
            "calm": self.calm,
            "incident_detectors": [list(pair) for pair in self.incident_detectors],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplayState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"replay state version {data.get('version')!r} is not {STATE_VERSION}")
        tail, incident, anomaly = data.get("tail"), data.get("incident"), data.get("last_anomaly")
        return cls(
            config_id=data["config_id"],
            interval_seconds=int(data["interval_seconds"]),
            as_of=_parse(data.get("as_of")),
            last_alert=_parse(data.get("last_alert")),
            last_recovery=_parse(data.get("last_recovery")),
            alert_direction=data.get("alert_direction"),
            tail=None if tail is None else DetectionTail(**{**tail, "timestamp": _parse(tail["timestamp"])}),
            incident=None if incident is None else Incident(_parse(incident["onset"]), incident["length"]),
            last_anomaly=None if anomaly is None else AnomalyRef(**anomaly),
            window=tuple((_parse(ts), int(flags)) for ts, flags in data.get("window", ())),
            calm=int(data.get("calm", 0)),
            incident_detectors=tuple((i, n) for i, n in data.get("incident_detectors", ())),
        )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
