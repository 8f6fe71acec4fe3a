"""``stabilization: clamp``: a flagged point enters later windows at the bound it broke.

The rule is sequential -- the band of a point depends on the clamps before it -- but clamps
are rare, so the engine computes every band at once from the raw values and then walks the
flags in time order. A clamp at row ``r`` can only change the rows whose window holds ``r``
(the next ``window`` rows); those are brought up to date before the next flag is looked for.
Updating them is cheap for the common cases:

* order statistics (MAD, IQR) with equal weights: replacing one value leaves a quantile
  unchanged when the old and the new value both lie beyond the order statistics it
  interpolates between; counting ranks in the window proves that for most rows, and only
  the others are recomputed;
* moments (z-score) with equal weights: mean and sum of squares follow from the replaced
  value in closed form.

Anything else (weights, detrend, seasonality) recomputes the affected rows. Because every
row depends only on rows before it, the walk gives exactly the sequential result.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

BLOCK = 32  # rows sharing one threshold in the rank bounds of the MAD test


def next_true(mask: np.ndarray, start: int) -> int:
    """Index of the first True at or after ``start``, or -1 (looks ahead in growing steps)."""
    step = 256
    while start < len(mask):
        hit = np.flatnonzero(mask[start:start + step])
        if hit.size:
            return start + int(hit[0])
        start += step
        step *= 2
    return -1


def clamp(processed: np.ndarray, q: np.ndarray, bands, reach: int,
          refresh: Callable[[np.ndarray, np.ndarray, int, float, float], None],
          write_back: Callable[[int, float], float] | None = None) -> np.ndarray:
    """Walk the flags of the evaluated rows ``q`` in order, clamping each; returns which were.

    A clamp at row r changes rows r + 1 .. r + ``reach``. ``refresh(work, at, row, before,
    after)`` must bring the bands of positions ``at`` up to date after ``work[row]`` changed
    from ``before`` to ``after``; ``write_back(row, bound)`` may adjust the value written.
    """
    work = processed.copy()
    x = processed[q]
    flag = (x < bands.lower) | (x > bands.upper)
    clamped = np.zeros(len(q), dtype=bool)
    k = next_true(flag, 0)
    while k >= 0:
        row = int(q[k])
        after = float(bands.lower[k] if x[k] < bands.lower[k] else bands.upper[k])
        if write_back is not None:
            after = write_back(row, after)
        before = float(work[row])
        work[row] = after
        clamped[k] = True
        stop = int(np.searchsorted(q, row + reach, "right"))
        if stop > k + 1:
            at = np.arange(k + 1, stop)
            refresh(work, at, row, before, after)
            flag[at] = (x[at] < bands.lower[at]) | (x[at] > bands.upper[at])
        k = next_true(flag, k + 1)
    return clamped


def in_window(clamped: np.ndarray, q: np.ndarray, length: int, window: int) -> np.ndarray:
    """Per row: how many clamped points its window holds (0 for rows not evaluated)."""
    marks = np.zeros(length + 1, dtype=np.int64)
    marks[q[clamped] + 1] = 1
    before = np.cumsum(marks)
    out = np.zeros(length, dtype=np.int64)
    out[q] = before[q] - before[np.maximum(q - window, 0)]
    return out


def _equal_weights(params: dict) -> bool:
    return params["window_weights"] is None and params["detrend"] is None


def settle_moments(detector, ev, at: np.ndarray, before: float, after: float) -> np.ndarray:
    """Replace ``before`` by ``after`` in the mean and standard deviation (ddof 1) of each window."""
    if not (_equal_weights(detector.params) and np.isfinite(before) and np.isfinite(after)):
        return at
    n = ev.window.size[at].astype(float)
    mean, std = ev.global_stats["mean"][at], ev.global_stats["std"][at]
    ok = np.isfinite(mean) & np.isfinite(std)
    delta = after - before
    new_mean = mean + delta / n
    squares = std * std * (n - 1) + delta * ((after - new_mean) + (before - mean))
    new_std = np.sqrt(np.maximum(squares, 0.0) / (n - 1))
    done = at[ok]
    for stats in (ev.global_stats, ev.adjusted):
        stats["mean"][done], stats["std"][done] = new_mean[ok], new_std[ok]
    return at[~ok]


def _hazen_index(n: np.ndarray, t: float) -> np.ndarray:
    """The lower order statistic a Hazen quantile interpolates from."""
    return np.clip(np.floor(t * n - 0.5).astype(np.int64), 0, n - 1)


class _Window:
    """Counts over each row's window (the values before the clamp) by one cumulative sum."""

    def __init__(self, work: np.ndarray, rows: np.ndarray, window: int, row: int, before: float):
        self.first = max(0, row + 1 - window)
        self.values = work[self.first:int(rows[-1])].copy()
        self.values[row - self.first] = before
        self.start = np.maximum(rows - window, 0) - self.first
        self.end = rows - self.first

    def count(self, mask: np.ndarray) -> np.ndarray:
        total = np.concatenate(([0], np.cumsum(mask)))
        return total[self.end] - total[self.start]

    def at_most(self, op, thresholds: np.ndarray, high: bool) -> np.ndarray:
        """An upper bound of ``count(op(values, thresholds[r]))`` per row: rows share, per block
        of BLOCK rows, the block's largest (``high``) or smallest threshold."""
        out = np.empty(len(thresholds), dtype=np.int64)
        for s in range(0, len(thresholds), BLOCK):
            part = thresholds[s:s + BLOCK]
            shared = part.max() if high else part.min()
            out[s:s + BLOCK] = self.count(op(self.values, shared))[s:s + BLOCK]
        return out


def settle_order_stats(detector, work, ev, at: np.ndarray, row: int, before: float, after: float) -> np.ndarray:
    """Rows whose quantiles (and MAD) the replacement may change; the others keep their statistics."""
    params = detector.params
    if not _equal_weights(params):
        return at
    rows, n = ev.q[at], ev.window.size[at]
    w = _Window(work, rows, params["window_size"], row, before)
    up = before > after
    quantiles = (0.5,) if detector.kind.type_name == "mad" else (0.25, 0.75)
    if up:  # every order statistic up to t keeps its value when both values lie above it
        t = np.minimum(_hazen_index(n, quantiles[-1]) + 1, n - 1)
        beyond_old, beyond_new = w.count(w.values < before), w.count(w.values <= after)
        ok = (beyond_old >= t + 1) & (beyond_new >= t + 1)
    else:   # ... and every one from t on when both lie below it
        t = _hazen_index(n, quantiles[0])
        beyond_old, beyond_new = w.count(w.values > before), w.count(w.values >= after)
        ok = (beyond_old >= n - t) & (beyond_new >= n - t)
    if detector.kind.type_name == "mad" and ok.any():
        ok &= _mad_unchanged(w, ev.global_stats["median"][at], n, up, before, after, beyond_old, beyond_new)
    return at[~ok]


def _mad_unchanged(w: _Window, median: np.ndarray, n: np.ndarray, up: bool, before: float, after: float,
                   beyond_old: np.ndarray, beyond_new: np.ndarray) -> np.ndarray:
    """With the median unchanged: both distances |value - median| lie beyond the MAD's order
    statistics. Distances below |before - m| are the values strictly between m -/+ that distance."""
    finite = np.isfinite(median) & ((after >= median) if up else (after <= median))
    m = np.where(finite, median, 0.0)
    t = np.minimum(_hazen_index(n, 0.5) + 1, n - 1)
    mirror_old, mirror_new = 2 * m - before, 2 * m - after
    if up:
        near_old = beyond_old - w.at_most(np.less_equal, mirror_old, high=True)
        near_new = beyond_new - w.at_most(np.less, mirror_new, high=True)
    else:
        near_old = beyond_old - w.at_most(np.greater_equal, mirror_old, high=False)
        near_new = beyond_new - w.at_most(np.greater, mirror_new, high=False)
    return finite & (near_old >= t + 1) & (near_new >= t + 1)
