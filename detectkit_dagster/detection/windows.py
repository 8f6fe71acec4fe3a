"""Trailing windows as slices of a 'source' sequence.

The window of row ``i`` holds the valid (non-NaN) processed values of rows
``max(0, i - W) .. i - 1`` (the current row excluded, rows not time). Seasonality
groups keep only the rows of the current row's group. Both become contiguous slices
``source[lo:hi]`` once the valid values are laid out in time order (global window) or
in group-then-time order (seasonality groups); the statistics code only ever sees
such slices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class WindowSet:
    """Windows ``values[lo[q]:hi[q]]`` of query rows ``row[q]``; ``pos`` = row of each value."""

    values: np.ndarray
    pos: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    row: np.ndarray

    @cached_property
    def size(self) -> np.ndarray:
        return self.hi - self.lo

    def take(self, queries: np.ndarray) -> "WindowSet":
        """The same source with a subset of the query rows."""
        return WindowSet(self.values, self.pos, self.lo[queries], self.hi[queries], self.row[queries])

    def finite(self) -> np.ndarray:
        """Per query: True when every value in the window is finite (no +-inf)."""
        bad = np.concatenate(([0], np.cumsum(~np.isfinite(self.values))))
        return bad[self.hi] == bad[self.lo]

    def gather(self, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values and positions at ``lo + offsets`` (per-query offsets, any shape); pads with NaN/-1."""
        index = self.lo.reshape((-1,) + (1,) * (offsets.ndim - 1)) + offsets
        inside = (offsets >= 0) & (index < self.hi.reshape((-1,) + (1,) * (offsets.ndim - 1)))
        safe = np.where(inside, index, 0)
        if len(self.values) == 0:
            return np.full(index.shape, np.nan), np.full(index.shape, -1)
        return np.where(inside, self.values[safe], np.nan), np.where(inside, self.pos[safe], -1)


def trailing_windows(processed: np.ndarray, rows: np.ndarray, window: int) -> WindowSet:
    valid = ~np.isnan(processed)
    source = np.flatnonzero(valid)
    before = np.concatenate(([0], np.cumsum(valid)))
    return WindowSet(processed[source], source, before[np.maximum(rows - window, 0)], before[rows], rows)


def group_windows(processed: np.ndarray, codes: np.ndarray, rows: np.ndarray, window: int) -> WindowSet:
    """Windows restricted to rows sharing the query row's group code."""
    source = np.flatnonzero(~np.isnan(processed))
    order = np.argsort(codes[source], kind="stable")
    source = source[order]
    stride = len(processed) + 1
    key = codes[source] * stride + source  # ascending: group, then time
    base = codes[rows] * stride
    lo = np.searchsorted(key, base + np.maximum(rows - window, 0))
    hi = np.searchsorted(key, base + rows)
    return WindowSet(processed[source], source, lo, hi, rows)
