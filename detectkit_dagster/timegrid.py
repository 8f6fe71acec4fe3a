"""Intervals and the epoch-aligned time grid shared by every layer.

Interval grammar (detectkit compatible): a positive integer number of seconds, or
``<digits><unit>`` with unit s/sec/second(s), m/min/minute(s), h/hour(s), d/day(s).
All timestamps are naive UTC.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import numpy as np

_UNIT_SECONDS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}
_INTERVAL_RE = re.compile(r"^(\d+)([a-z]+)$")
EPOCH = datetime(1970, 1, 1)


def parse_interval(value: int | str) -> int:
    """Return the interval in whole seconds, or raise ValueError/TypeError."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"Interval must be int or str, got {type(value).__name__}: {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"Interval must be positive, got {value}")
        return value
    text = value.strip().lower()
    match = _INTERVAL_RE.match(text)
    if match is None:
        raise ValueError(
            f"Invalid interval format: {value!r}. Expected format: <number><unit> (e.g., '10min', '1h')"
        )
    number, unit = int(match.group(1)), match.group(2)
    if number <= 0:
        raise ValueError(f"Interval value must be positive, got {number}")
    if unit not in _UNIT_SECONDS:
        raise ValueError(
            f"Unknown time unit: {unit!r}. Supported units: {', '.join(sorted(_UNIT_SECONDS))}"
        )
    return number * _UNIT_SECONDS[unit]


def format_interval(seconds: int) -> str:
    """Human form used in messages: 600 -> '10min', 5400 -> '90min', 90 -> '90s'."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def floor_to_grid(ts: datetime, interval_seconds: int) -> datetime:
    """Largest grid point <= ts; the grid is multiples of the interval since the epoch."""
    offset = (ts - EPOCH) // timedelta(milliseconds=1)
    step = interval_seconds * 1000
    return EPOCH + timedelta(milliseconds=offset - offset % step)


def ceil_to_grid(ts: datetime, interval_seconds: int) -> datetime:
    """Smallest grid point >= ts."""
    floor = floor_to_grid(ts, interval_seconds)
    return floor if floor == ts else floor + timedelta(seconds=interval_seconds)


def grid(start: datetime, end: datetime, interval_seconds: int) -> np.ndarray:
    """Grid points in [start, end) as datetime64[ms]; start is snapped up onto the grid."""
    first = np.datetime64(ceil_to_grid(start, interval_seconds), "ms")
    stop = np.datetime64(end, "ms")
    return np.arange(first, stop, np.timedelta64(interval_seconds * 1000, "ms"))


def utc_now() -> datetime:
    """Current wall clock as naive UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
