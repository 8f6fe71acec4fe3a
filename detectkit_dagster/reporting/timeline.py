"""Time handling for the report: epoch milliseconds in, compact strings out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)

# A sparse series is not stretched onto a grid more than this many times its row count:
# filling would cost more bytes than explicit timestamps.
_MAX_FILL_RATIO = 2


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of a naive-UTC (or aware) datetime."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return (moment - EPOCH) // _MS


def column_ms(frame: pl.DataFrame, name: str = "timestamp") -> np.ndarray:
    """A datetime column as int64 epoch milliseconds, whatever its time unit."""
    return frame.get_column(name).dt.epoch("ms").to_numpy().astype(np.int64, copy=False)


def format_time(ms: int) -> str:
    """'2024-01-05 10:20'; seconds and milliseconds only when present.

    Plotly reads this form as a date, and it is what people read in the header and table.
    """
    moment = EPOCH + timedelta(milliseconds=int(ms))
    if moment.microsecond:
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if moment.second:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def format_duration(ms: int) -> str:
    """Coarse human span: '40min', '3h 20min', '2d 4h'."""
    minutes = int(ms) // 60_000
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins}min" if mins else f"{hours}h"
    return f"{mins}min" if mins else f"{int(ms) // 1000}s"


@dataclass(frozen=True)
class Timeline:
    """The x positions every dense series of the chart is aligned to.

    On a regular grid the chart gets only a start and a step (plotly ``x0``/``dx``), which
    keeps each trace to its y values; otherwise the timestamps are listed.
    """

    stamps: np.ndarray  # int64 ms, ascending, unique
    step_ms: int
    regular: bool

    def __len__(self) -> int:
        return len(self.stamps)

    def x_fields(self) -> dict:
        if self.regular:
            return {"x0": int(self.stamps[0]), "dx": self.step_ms}  # a date axis reads ms
        return {"x": [format_time(ms) for ms in self.stamps]}

    def align(self, ms: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Place values at their timestamps; slots without a row stay NaN."""
        out = np.full(len(self.stamps), np.nan)
        slots, found = self.slots_of(ms)
        out[slots[found]] = np.asarray(values, dtype=np.float64)[found]
        return out

    def slots_of(self, ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slot index of each timestamp, and whether the timeline has that exact stamp."""
        slots = np.searchsorted(self.stamps, ms)
        inside = slots < len(self.stamps)
        found = np.zeros(len(ms), dtype=bool)
        found[inside] = self.stamps[slots[inside]] == ms[inside]
        return np.minimum(slots, max(len(self.stamps) - 1, 0)), found


def build_timeline(ms: np.ndarray, interval_seconds: int) -> Timeline:
    """Timeline of the given timestamps: filled onto the interval grid when they sit on it."""
    stamps = np.unique(ms.astype(np.int64))
    step = int(interval_seconds) * 1000
    if len(stamps) == 0:
        return Timeline(stamps, step, regular=False)
    offsets = stamps - stamps[0]
    slots = offsets[-1] // step + 1
    if np.all(offsets % step == 0) and slots <= _MAX_FILL_RATIO * len(stamps):
        return Timeline(stamps[0] + step * np.arange(slots, dtype=np.int64), step, regular=True)
    return Timeline(stamps, step, regular=False)
