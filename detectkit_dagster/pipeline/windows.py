"""The time windows a run covers: one per partition, in time order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Window:
    start: datetime  # inclusive
    end: datetime  # exclusive

    def contains(self) -> pl.Expr:
        return pl.col("timestamp").is_between(self.start, self.end, closed="left")

    def rows(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(self.contains())


def span(windows: list[Window]) -> Window:
    """The one window from the first start to the last end (windows are contiguous)."""
    return Window(windows[0].start, windows[-1].end)


def split(frame: pl.DataFrame, windows: list[Window]) -> list[pl.DataFrame]:
    """The rows of each window, for a frame sorted by timestamp (one pass, zero-copy slices)."""
    if frame.height == 0:
        return [frame] * len(windows)
    stamps = frame["timestamp"].to_numpy()
    bounds = np.searchsorted(stamps, np.array([w.start for w in windows] + [windows[-1].end], dtype="datetime64[ms]"))
    return [frame.slice(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:])]


def window_index(frame: pl.DataFrame, windows: list[Window]) -> pl.Series:
    """For each row, the position of the window holding its timestamp (any row order)."""
    starts = np.array([w.start for w in windows], dtype="datetime64[ms]")
    stamps = frame["timestamp"].to_numpy().astype("datetime64[ms]")
    return pl.Series("window", np.searchsorted(starts, stamps, "right") - 1)
