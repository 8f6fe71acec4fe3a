"""A slow replay written straight from the spec (§3, §4.1, §5.6, §6, §14.3): re-walks the whole
causal history at every grid point, so it is quadratic but easy to check line by line.

mode="ours"      - with DESIGN.md §7's deviations: epoch grid, only points with a datapoint row,
                   NaN = no data, evidence must be at t (no stale chains, no recovery in gaps),
                   cooldown reset by any recovery (sent or not), true streaks, (ts, id) order.
mode="reference" - detectkit 0.29 replay as specified: every grid point from `start`, no data only
                   when `values` lacks t or holds None, the walk starts at the newest detection,
                   "no fresh detection" counts as recovered, reset needs a sent recovery.
Independent of the fast engine on purpose: it shares no code with detectkit_dagster.alerting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl


@dataclass(frozen=True)
class Rec:
    ts: datetime
    id: str
    name: str
    params: str
    anom: bool
    dir: str | None
    sev: float
    lo: float | None
    hi: float | None
    value: float | None


def _num(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def records(detections: pl.DataFrame) -> list[Rec]:
    out = []
    for r in detections.sort("timestamp", "detector_id").iter_rows(named=True):
        anom = bool(r["is_anomaly"])
        out.append(Rec(
            ts=r["timestamp"], id=r["detector_id"], name=r.get("detector_name") or r["detector_id"],
            params=r.get("detector_params") or "{}", anom=anom,
            dir=r.get("direction") if anom and r.get("direction") in ("up", "down") else None,
            sev=_num(r.get("severity")) or 0.0, lo=_num(r.get("confidence_lower")),
            hi=_num(r.get("confidence_upper")), value=_num(r.get("value")),
        ))
    return out


def values_of(datapoints: pl.DataFrame) -> dict[datetime, float | None]:
    return {r["timestamp"]: r["value"] for r in datapoints.iter_rows(named=True)}


def quorum_at(anoms: list[Rec], policy: str, m: int, lock: str | None):
    """(members, direction) or None - spec §3."""
    if policy in ("up", "down"):
        q = [a for a in anoms if a.dir == policy]
        return (q, policy) if len(q) >= m else None
    if policy == "any":
        return (anoms, None) if len(anoms) >= m else None
    if lock is not None:
        q = [a for a in anoms if a.dir == lock]
        return (q, lock) if len(q) >= m else None
    ups = [a for a in anoms if a.dir == "up"]
    downs = [a for a in anoms if a.dir == "down"]
    if len(ups) >= m and len(downs) >= m:
        if len(ups) > len(downs):
            return ups, "up"
        if len(downs) > len(ups):
            return downs, "down"
        pu = max((a.sev, a.name) for a in ups)
        pd = max((a.sev, a.name) for a in downs)
        return (downs, "down") if pd > pu else (ups, "up")
    if len(ups) >= m:
        return ups, "up"
    if len(downs) >= m:
        return downs, "down"
    return None


def slow_replay(detections: pl.DataFrame, values: dict, alert, step_s: int, start: datetime, end: datetime,
                mode: str = "ours") -> list[dict]:
    ours = mode == "ours"
    recs = records(detections)
    step = timedelta(seconds=step_s)
    by_ts: dict[datetime, list[Rec]] = {}
    for r in recs:
        by_ts.setdefault(r.ts, []).append(r)
    policy, m, c = alert.direction, alert.min_detectors, alert.consecutive_anomalies
    cooldown = alert.cooldown_seconds
    w = alert.window_points(step_s)
    share_min = alert.min_anomaly_share

    def anoms(ts):
        return [r for r in by_ts.get(ts, []) if r.anom]

    def walk(ts_desc):
        count, latest, direction, lock, prev = 0, None, None, None, None
        for ts in ts_desc:
            if prev is not None and prev - ts != step:
                break
            q = quorum_at(anoms(ts), policy, m, lock)
            if q is None:
                break
            if policy == "same":
                lock = q[1]
            if latest is None:
                latest, direction = q
            count += 1
            prev = ts
        return count, latest, direction

    def window(latest_ts, lock_policy, lock):
        matched, oldest = 0, None
        for k in range(w):
            s = latest_ts - k * step
            if s in by_ts and quorum_at(anoms(s), lock_policy, m, lock) is not None:
                matched += 1
                oldest = s
        return matched, oldest

    def in_cooldown(t, last_alert, last_rec):
        if not cooldown or last_alert is None:
            return False
        if alert.cooldown_reset_on_recovery and last_rec is not None and last_rec > last_alert:
            return False
        return (t - last_alert).total_seconds() < cooldown

    def trigger(last_alert):
        before = [ts for ts in by_ts if ts <= last_alert]
        if not before:
            return None
        a = anoms(max(before))
        if not a:
            return None
        q = quorum_at(a, "same", m, None)
        if q is not None:
            return q[1]
        ups = sum(x.dir == "up" for x in a)
        downs = sum(x.dir == "down" for x in a)
        return "up" if ups > downs else "down" if downs > ups else None

    def recovery_window(latest_ts, trig):
        if not w:
            return None, None
        if policy == "same":
            matched, _ = window(latest_ts, "same", trig)  # unknown trigger: either side
        else:
            matched, _ = window(latest_ts, policy, None)
        return matched, matched / w

    def recovered(causal, last_alert):
        if not causal:
            return (not ours), None
        if not any(ts > last_alert for ts in causal):
            return (not ours), None
        latest = causal[0]
        a = anoms(latest)
        trig = trigger(last_alert) if policy == "same" else None
        if policy in ("up", "down"):
            blocking = [x for x in a if x.dir == policy]
        elif policy == "same":
            blocking = a if trig is None else [x for x in a if x.dir == trig]
        else:
            blocking = a
        if blocking:
            return False, None
        win = recovery_window(latest, trig)
        if win[1] is not None and win[1] >= share_min / 2:
            return False, None
        return True, win

    def incident(until):
        ts_desc = sorted((ts for ts in by_ts if ts <= until), reverse=True)
        count, onset, lock, prev = 0, None, None, None
        for ts in ts_desc:
            if count == 0:
                q = quorum_at(anoms(ts), policy, m, None)
                if q is None:
                    continue
                count, onset, prev = 1, ts, ts
                lock = q[1] if policy == "same" else None
                continue
            if prev - ts != step or quorum_at(anoms(ts), policy, m, lock) is None:
                break
            count, onset, prev = count + 1, ts, ts
        return count, onset

    def base(kind, t):
        return {"kind": kind, "timestamp": t, "onset": None, "consecutive": 0, "direction": None, "severity": 0.0,
                "value": None, "confidence_lower": None, "confidence_upper": None, "detector": None,
                "detectors": None, "detector_params": None, "detector_count": 1, "fired_by_share": False, "window_points": w,
                "window_matched": None, "window_share": None, "data_timestamp": t}

    grid, t = [], start
    while t <= end:
        grid.append(t)
        t += step
    points = [t for t in grid if t in values] if ours else grid

    events = []
    last_alert = last_rec = None
    for t in points:
        v = values.get(t)
        no_data = (v is None or math.isnan(v)) if ours else v is None
        cool = in_cooldown(t, last_alert, last_rec)
        if alert.no_data_alert and no_data and not cool:
            events.append(base("no_data", t) | {"detector": "no_data", "data_timestamp": t})
            last_alert = t
            continue
        causal = sorted((ts for ts in by_ts if ts <= t), reverse=True)
        if ours and (not causal or causal[0] != t):
            continue  # nothing detected at t
        count, members, direction = walk(causal) if causal else (0, None, None)
        fire = None
        if members is not None:
            latest = causal[0]
            matched = share = None
            if w:
                matched, oldest = window(latest, policy, direction if policy == "same" else None)
                share = matched / w
            if count >= c:
                fire = (max(count, 1), latest - step * (max(count, 1) - 1), False, matched, share)
            elif w and share >= share_min:
                fire = (matched, oldest, True, matched, share)
        if fire and not cool:
            n = len(members)
            lead = min(members, key=lambda a: (-(0.0 if math.isnan(a.sev) else a.sev), a.name, a.id))
            if policy == "any":
                sides = {a.dir for a in members} - {None}
                shown = sides.pop() if len(sides) == 1 else "mixed" if sides else None
            else:
                shown = direction
            events.append(base("anomaly", t) | {
                "onset": fire[1], "consecutive": fire[0], "direction": shown,
                "severity": max(a.sev for a in members) if n > 1 else lead.sev,
                "value": by_ts[causal[0]][0].value, "confidence_lower": lead.lo, "confidence_upper": lead.hi,
                "detector": f"{n} detectors" if n > 1 else lead.name, "detectors": ",".join(a.id for a in members),
                "detector_params": "; ".join(f"{a.name}: {a.params}" for a in members) if n > 1 else lead.params,
                "detector_count": n, "fired_by_share": fire[2], "window_matched": fire[3], "window_share": fire[4],
                "data_timestamp": causal[0],
            })
            last_alert = t
            continue
        if not ours and not alert.notify_on_recovery:
            continue
        if last_alert is None or (last_rec is not None and last_rec >= last_alert):
            continue
        ok, win = recovered(causal, last_alert)
        if not ok:
            continue
        slice_ = [r for r in recs if r.ts <= t]
        if not slice_:
            continue  # no payload, no recovery
        last_rec = t
        if not alert.notify_on_recovery:
            continue
        latest = slice_[-1]
        shown = latest
        if latest.lo is None or latest.hi is None:
            shown = next((r for r in reversed(slice_) if r.anom), latest)
        count, onset = incident(latest.ts)
        events.append(base("recovery", t) | {
            "onset": onset, "consecutive": count, "value": by_ts[latest.ts][0].value,
            "confidence_lower": shown.lo, "confidence_upper": shown.hi, "detector": shown.name,
            "detectors": shown.id, "detector_params": shown.params,
            "window_matched": win[0] if win else None, "window_share": win[1] if win else None,
            "data_timestamp": latest.ts,
        })
    return events


COMPARED = (
    "kind", "timestamp", "onset", "consecutive", "direction", "severity", "value", "confidence_lower",
    "confidence_upper", "detector", "detectors", "detector_params", "detector_count", "fired_by_share", "window_points",
    "window_matched", "window_share",
)


def comparable(events: list[dict]) -> list[tuple]:
    """Event fields both replays produce, as comparable tuples."""
    return [tuple(e[k] for k in COMPARED) for e in events]
