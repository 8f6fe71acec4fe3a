"""How a metric's timeline is cut into partitions and how often it refreshes (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from typing import TYPE_CHECKING

from .timegrid import format_interval

if TYPE_CHECKING:
    from .config.metric import MetricConfig

HOUR, DAY, WEEK = 3600, 86400, 7 * 86400
# Sunday 00:00 UTC, where Dagster's weekly partitions start, lies 3 days after the epoch.
_WEEK_START_OFFSET = 3 * DAY


@dataclass(frozen=True)
class Partitioning:
    granularity: str  # hourly | daily | weekly | monthly
    start: datetime  # first partition start (aligned)
    cron: str  # refresh cadence of the newest partition
    close_cron: str  # when the previous partition's last interval is complete: load it once more


def longest_partition_seconds(granularity: str) -> int:
    return {"hourly": HOUR, "daily": DAY, "weekly": WEEK, "monthly": 31 * DAY}[granularity]


def shortest_partition_seconds(granularity: str) -> int:
    return {"hourly": HOUR, "daily": DAY, "weekly": WEEK, "monthly": 28 * DAY}[granularity]


def default_granularity(interval_seconds: int) -> str:
    """About 60 to 1,500 points per partition for common intervals."""
    if interval_seconds < 60:
        return "hourly"
    if interval_seconds < DAY:
        return "daily"
    return "monthly"


def check_granularity(granularity: str, interval_seconds: int) -> None:
    """Partition boundaries must be grid points, so every partition holds whole intervals."""
    length = {"hourly": HOUR, "daily": DAY, "weekly": WEEK, "monthly": DAY}[granularity]
    aligned = length % interval_seconds == 0
    if granularity == "weekly":
        aligned = aligned and _WEEK_START_OFFSET % interval_seconds == 0
    if not aligned:
        unit = {"hourly": "an hour", "daily": "a day", "weekly": "a week from Sunday 00:00 UTC",
                "monthly": "a day"}[granularity]
        raise ValueError(
            f"interval {format_interval(interval_seconds)} does not divide {unit}, so {granularity} "
            "partitions would split grid intervals; choose another dagster.partitions "
            "(hourly, daily, weekly, monthly) or an interval that divides it"
        )


def partition_floor(ts: datetime, granularity: str) -> datetime:
    day = datetime(ts.year, ts.month, ts.day)
    if granularity == "hourly":
        return ts.replace(minute=0, second=0, microsecond=0)
    if granularity == "daily":
        return day
    if granularity == "weekly":
        return day - timedelta(days=(day.weekday() + 1) % 7)
    return day.replace(day=1)


def default_cron(interval_seconds: int) -> str:
    """Refresh once per interval where cron can say it, else hourly."""
    minutes, hours = interval_seconds // 60, interval_seconds // HOUR
    if interval_seconds % 60 == 0 and interval_seconds < HOUR and HOUR % interval_seconds == 0:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if interval_seconds % HOUR == 0 and interval_seconds < DAY and DAY % interval_seconds == 0:
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    if interval_seconds >= DAY:
        return "0 0 * * *"
    return "0 * * * *"


def close_delay_minutes(delay_seconds: int) -> int:
    """The loading delay rounded up to a minute, as cron can say it."""
    return -(-delay_seconds // 60)


def close_cron(granularity: str, delay_seconds: int) -> str:
    """The first minute at which a partition's last interval is complete: its end plus the
    loading delay (rounded up to a minute), on the partition's boundary schedule."""
    minutes = close_delay_minutes(delay_seconds)
    minute, hour, days = minutes % 60, minutes // 60 % 24, minutes // 1440
    if granularity == "hourly":
        return f"{minute} * * * *"
    if granularity == "daily":
        return f"{minute} {hour} * * *"
    if granularity == "weekly":
        return f"{minute} {hour} * * {days % 7}"
    return f"{minute} {hour} {min(1 + days, 28)} * *"


def partitioning_for(metric: "MetricConfig") -> Partitioning:
    interval = metric.interval_seconds
    granularity = metric.dagster.partitions or default_granularity(interval)
    check_granularity(granularity, interval)
    assert metric.loading_start_time is not None
    start = partition_floor(metric.loading_start_time, granularity)
    return Partitioning(granularity, start, metric.dagster.cron or default_cron(interval),
                        close_cron(granularity, metric.loading_delay_seconds))
