"""A deterministic demo source: an embedded DuckDB file with four realistic metrics.

Values depend only on the timestamp and the day the demo is generated (incidents are
placed relative to today so they fall in the recent partitions), so two runs on the
same day build identical data.

- orders: raw order events; orders per 10 minutes show a daily and weekly rhythm,
  a slow trend, and a sudden drop two days ago (a checkout outage).
- api_requests_10min: requests and errors per 10 minutes; error rate with incidents, one of
  them going on right now (so the demo has a fresh alert to deliver).
- checkout_latency: p95 latency every 10 minutes with a level shift five days ago.
- signups_daily: signups per day with weekly seasonality and a few days missing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from .storage import ArrowStream

SEED = 20261127
HISTORY_DAYS = 60


def _timeline(today: datetime, step: timedelta, now: datetime) -> np.ndarray:
    start = np.datetime64(today - timedelta(days=HISTORY_DAYS), "ms")
    return np.arange(start, np.datetime64(now, "ms"), np.timedelta64(int(step.total_seconds() * 1000), "ms"))


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([SEED, *key])


def _hours(ts: np.ndarray) -> np.ndarray:
    return (ts.astype("datetime64[m]").astype(np.int64) % 1440) / 60.0


def _weekday(ts: np.ndarray) -> np.ndarray:
    return (ts.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 0 = Monday


def _days_since(ts: np.ndarray, day: datetime) -> np.ndarray:
    return (ts - np.datetime64(day, "ms")) / np.timedelta64(1, "D")


def _per_point_noise(ts: np.ndarray, salt: int) -> np.ndarray:
    """Standard normal noise that depends only on each timestamp (and the salt)."""
    minutes = ts.astype("datetime64[m]").astype(np.int64)
    out = np.empty(len(ts))
    days = minutes // 1440
    for day in np.unique(days):
        mask = days == day
        out[mask] = _rng(salt, int(day)).standard_normal(mask.sum())
    return out


def orders(today: datetime, now: datetime) -> pl.DataFrame:
    ts = _timeline(today, timedelta(minutes=10), now)
    hour, weekday = _hours(ts), _weekday(ts)
    daily = 0.55 + 0.45 * np.sin(2 * np.pi * (hour - 9) / 24).clip(-0.8, 1)
    weekly = np.where(weekday >= 5, 1.25, 1.0)
    trend = 1 + 0.004 * _days_since(ts, today - timedelta(days=HISTORY_DAYS))
    rate = 40 * daily * weekly * trend
    outage = (ts >= np.datetime64(today - timedelta(days=2) + timedelta(hours=14), "ms")) & (
        ts < np.datetime64(today - timedelta(days=2) + timedelta(hours=15, minutes=10), "ms"))
    rate = np.where(outage, rate * 0.12, rate)
    counts = np.maximum(0, np.round(rate + np.sqrt(rate) * _per_point_noise(ts, 1))).astype(np.int64)
    bucket = np.repeat(ts, counts)
    jitter = _rng(2, int(ts[0].astype(np.int64) // 86_400_000)).integers(0, 600_000, len(bucket))
    created = bucket + jitter.astype("timedelta64[ms]")
    amount = np.round(20 + 60 * _rng(3).random(len(bucket)), 2)
    return pl.DataFrame({"order_id": np.arange(1, len(bucket) + 1), "created_at": created, "amount": amount})


def api_requests(today: datetime, now: datetime) -> pl.DataFrame:
    ts = _timeline(today, timedelta(minutes=10), now)
    hour = _hours(ts)
    requests = np.round(5000 * (0.6 + 0.4 * np.sin(2 * np.pi * (hour - 8) / 24)) + 200 * _per_point_noise(ts, 4))
    error_rate = np.clip(0.004 + 0.0008 * _per_point_noise(ts, 5), 0.0005, None)
    incidents = [(today - timedelta(days=days_ago) + timedelta(hours=hour), minutes, rate)
                 for days_ago, hour, minutes, rate in ((9, 3.0, 40, 0.05), (3, 16.5, 60, 0.09), (1, 10.0, 30, 0.035))]
    incidents.append((now - timedelta(minutes=50), 120, 0.06))
    for begin, minutes, rate in incidents:
        hit = (ts >= np.datetime64(begin, "ms")) & (ts < np.datetime64(begin + timedelta(minutes=minutes), "ms"))
        error_rate = np.where(hit, rate, error_rate)
    errors = np.round(requests * error_rate)
    return pl.DataFrame({"bucket": ts, "requests": requests.astype(np.int64), "errors": errors.astype(np.int64)})


def checkout_latency(today: datetime, now: datetime) -> pl.DataFrame:
    ts = _timeline(today, timedelta(minutes=10), now)
    hour = _hours(ts)
    base = 420 + 60 * np.sin(2 * np.pi * (hour - 13) / 24)
    shift = np.where(ts >= np.datetime64(today - timedelta(days=5) + timedelta(hours=11), "ms"), 1.35, 1.0)
    p95 = base * shift + 18 * _per_point_noise(ts, 6)
    return pl.DataFrame({"ts": ts, "p95_ms": np.round(p95, 1)})


def signups_daily(today: datetime, now: datetime) -> pl.DataFrame:
    days = _timeline(today, timedelta(days=1), now)
    weekday = _weekday(days)
    signups = 800 * np.where(weekday >= 5, 0.7, 1.0) * (1 + 0.002 * np.arange(len(days)))
    signups = np.round(signups + 35 * _per_point_noise(days, 7))
    spike = days == np.datetime64(today - timedelta(days=4), "ms")
    signups = np.where(spike, signups * 1.9, signups)
    missing = np.isin(days, [np.datetime64(today - timedelta(days=d), "ms") for d in (23, 11, 10)])
    keep = ~missing & (days < np.datetime64(today, "ms"))  # today's count is not final yet
    return pl.DataFrame({"day": days[keep].astype("datetime64[D]"), "signups": signups[keep].astype(np.int64)})


TABLES = {
    "orders": orders,
    "api_requests_10min": api_requests,
    "checkout_latency": checkout_latency,
    "signups_daily": signups_daily,
}


def build_demo_source(path: Path, now: datetime) -> dict[str, int]:
    """(Re)write the demo source database; returns row counts per table."""
    today = datetime(now.year, now.month, now.day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.duckdb")
    tmp.unlink(missing_ok=True)
    counts = {}
    with duckdb.connect(str(tmp)) as con:
        for name, build in TABLES.items():
            frame = build(today, now)
            con.register("incoming", ArrowStream(frame))
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming")
            counts[name] = frame.height
    tmp.replace(path)
    return counts
