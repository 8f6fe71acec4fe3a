"""The alert rule at one timestamp: which anomalous detectors form a quorum, and in which direction.

Pure functions over the anomalous rows of one timestamp, given in detector_id order.
Directions are "up", "down" or None (a detector that did not say).
Policies: `same` (one side, the stronger one wins), `up`, `down`, `any` (direction ignored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One detector's row at a timestamp; the anomalous ones are what quorums are made of."""

    detector_id: str
    detector_name: str
    detector_params: str
    direction: str | None
    severity: float
    lower: float | None
    upper: float | None


@dataclass(frozen=True, slots=True)
class Quorum:
    """Members that met the rule and the side they stand for (None under `any`)."""

    members: tuple[Anomaly, ...]
    side: str | None


def _side(anomalies: list[Anomaly], direction: str) -> list[Anomaly]:
    return [a for a in anomalies if a.direction == direction]


def _peak(side: list[Anomaly]) -> tuple[float, str]:
    return max((a.severity, a.detector_name) for a in side)


def same_side(anomalies: list[Anomaly], min_detectors: int) -> str | None:
    """Side that wins under `same` with no lock: the side with a quorum; if both have one,
    the larger; on equal counts the greater (severity, name) peak; identical peaks -> up."""
    ups, downs = _side(anomalies, "up"), _side(anomalies, "down")
    up_ok, down_ok = len(ups) >= min_detectors, len(downs) >= min_detectors
    if up_ok and down_ok:
        if len(ups) != len(downs):
            return "up" if len(ups) > len(downs) else "down"
        return "down" if _peak(downs) > _peak(ups) else "up"
    return "up" if up_ok else "down" if down_ok else None


def quorum(
    anomalies: list[Anomaly], policy: str, min_detectors: int, lock: str | None = None
) -> Quorum | None:
    """The quorum at one timestamp, or None. `lock` is the side fixed by a newer point (`same`)."""
    if policy == "any":
        return Quorum(tuple(anomalies), None) if len(anomalies) >= min_detectors else None
    side = policy if policy in ("up", "down") else lock or same_side(anomalies, min_detectors)
    members = _side(anomalies, side) if side else []
    return Quorum(tuple(members), side) if len(members) >= min_detectors else None


def _rank(severity: float) -> float:
    # NaN ranks as 0 and infinities as +-1e308, so the order is total.
    if math.isnan(severity):
        return 0.0
    return max(-1e308, min(1e308, severity))


def primary(members: tuple[Anomaly, ...]) -> Anomaly:
    """The member a message speaks for: highest severity, then smallest name, then smallest id."""
    return min(members, key=lambda a: (-_rank(a.severity), a.detector_name, a.detector_id))


def observed_direction(q: Quorum) -> str | None:
    """Direction shown in the message: the side, or under `any` what the members agree on."""
    if q.side is not None:
        return q.side
    sides = {a.direction for a in q.members} - {None}
    return sides.pop() if len(sides) == 1 else "mixed" if sides else None
