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
* moments (z-score) with equal weights: mean and sum of squares of the window and of the
  seasonal group holding the row follow from the replaced value in closed form;
* autoreg: the fit's sums follow in closed form too, but every fit must be solved again; that
  is deferred until the walk reaches the row, so inside an incident only the next row is.

Anything else (weights, detrend, order statistics with seasonality) recomputes the affected
rows. Because every row depends only on rows before it, the walk gives exactly the
sequential result (tests compare it with a per-point implementation).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from detectkit_dagster.detection.evaluation import reweigh

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
          update: Callable[[np.ndarray, np.ndarray, int, float, float], None],
          reband: Callable[[np.ndarray], None] | None = None,
          write_back: Callable[[int, float], float] | None = None) -> np.ndarray:
    """Walk the flags of the evaluated rows ``q`` in order, clamping each; returns which were.

    A clamp at row r changes rows r + 1 .. r + ``reach``. ``update(work, at, row, before,
    after)`` must bring what positions ``at`` depend on up to date after ``work[row]`` changed
    from ``before`` to ``after``; ``reband(at)`` (when given) then recomputes their bands,
    which is deferred until the walk reaches them: inside an incident only the next row is
    needed. ``write_back(row, bound)`` may adjust the value written.
    """
    work = processed.copy()
    x = processed[q]
    flag = (x < bands.lower) | (x > bands.upper)
    expected = np.flatnonzero(flag)  # where the walk will probably stop next
    clamped = np.zeros(len(q), dtype=bool)
    stale_end = 0  # bands of positions before it, after the current one, await reband
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
            update(work, np.arange(k + 1, stop), row, before, after)
        stale_end = max(stale_end, stop)
        k = _next_flag(x, bands, flag, expected, k + 1, stale_end, reband)
    return clamped


def _next_flag(x, bands, flag, expected, start: int, stale_end: int, reband) -> int:
    """The next flagged position from ``start``; stale bands are recomputed up to the next
    position that was flagged before the walk (a good guess of where to stop)."""
    position = start
    while position < stale_end:
        later = np.searchsorted(expected, position)
        guess = expected[later] if reband is not None and later < len(expected) else stale_end
        end = int(min(stale_end, max(guess + 1, position + 1)))
        at = np.arange(position, end)
        if reband is not None:
            reband(at)
        flag[at] = (x[at] < bands.lower[at]) | (x[at] > bands.upper[at])
        hit = np.flatnonzero(flag[at])
        if hit.size:
            return position + int(hit[0])
        position = end
    return next_true(flag, position)


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


def _replaced(n, mean, std, before: float, after: float):
    """Mean and standard deviation (ddof 1) of n values after one of them went from before to after."""
    delta = after - before
    new_mean = mean + delta / n
    squares = std * std * (n - 1) + delta * ((after - new_mean) + (before - mean))
    return new_mean, np.sqrt(np.maximum(squares, 0.0) / (n - 1))


def settle_moments(detector, ev, at: np.ndarray, row: int, before: float, after: float) -> np.ndarray:
    """Replace ``before`` by ``after`` in the mean and standard deviation (ddof 1) of each window,
    and of each seasonal group holding the row; then re-derive the adjusted statistics."""
    if not (_equal_weights(detector.params) and np.isfinite(before) and np.isfinite(after)):
        return at
    span = slice(int(at[0]), int(at[-1]) + 1)  # positions after a clamp are consecutive: views
    mean, std = ev.global_stats["mean"][span], ev.global_stats["std"][span]
    ok = np.isfinite(mean) & np.isfinite(std)
    groups = []
    for entry in ev.seasonal or ():
        if entry.codes is not None:
            # engaged groups holding the row: same group code (the row is inside every window at)
            held = (entry.codes[ev.q[span]] == entry.codes[row]) & ~entry.fallback[span]
            g_mean, g_std = entry.stats["mean"][span], entry.stats["std"][span]
            ok &= ~held | (np.isfinite(g_mean) & np.isfinite(g_std))
            groups.append((entry, held))
    n = ev.window.size[span].astype(float)
    new_mean, new_std = _replaced(n, mean, std, before, after)
    mean[ok], std[ok] = new_mean[ok], new_std[ok]
    for entry, held in groups:
        rows = np.flatnonzero(ok & held) + span.start
        entry.stats["mean"][rows], entry.stats["std"][rows] = _replaced(
            entry.size[rows].astype(float), entry.stats["mean"][rows], entry.stats["std"][rows], before, after)
    if ev.seasonal:
        reweigh(detector.stat_names, ev, span)
    else:
        ev.adjusted["mean"][span], ev.adjusted["std"][span] = mean, std
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

    def count(self, *masks: np.ndarray) -> np.ndarray:
        """Per mask (one per row of the result): how many window values it marks, per row."""
        stacked = np.stack(masks)
        total = np.concatenate((np.zeros((len(masks), 1), dtype=np.int64), np.cumsum(stacked, axis=1)), axis=1)
        return total[:, self.end] - total[:, self.start]

    def at_most(self, op, thresholds: np.ndarray, high: bool) -> np.ndarray:
        """An upper bound of ``count(op(values, thresholds[r]))`` per row: rows share, per block
        of BLOCK rows, the block's largest (``high``) or smallest threshold."""
        blocks = np.arange(len(thresholds)) // BLOCK
        padded = np.pad(thresholds, (0, -len(thresholds) % BLOCK), mode="edge").reshape(-1, BLOCK)
        shared = padded.max(axis=1) if high else padded.min(axis=1)
        mask = op(self.values[None, :], shared[:, None])
        total = np.concatenate((np.zeros((len(shared), 1), dtype=np.int64), np.cumsum(mask, axis=1)), axis=1)
        return total[blocks, self.end] - total[blocks, self.start]


def settle_order_stats(detector, work, ev, at: np.ndarray, row: int, before: float, after: float) -> np.ndarray:
    """Rows whose quantiles (and MAD) the replacement may change; the others keep their statistics."""
    params = detector.params
    if not _equal_weights(params) or ev.seasonal:
        return at
    rows, n = ev.q[at], ev.window.size[at]
    w = _Window(work, rows, params["window_size"], row, before)
    up = before > after
    quantiles = (0.5,) if detector.kind.type_name == "mad" else (0.25, 0.75)
    if up:  # every order statistic up to t keeps its value when both values lie above it
        t = np.minimum(_hazen_index(n, quantiles[-1]) + 1, n - 1)
        beyond_old, beyond_new = w.count(w.values < before, w.values <= after)
        ok = (beyond_old >= t + 1) & (beyond_new >= t + 1)
    else:   # ... and every one from t on when both lie below it
        t = _hazen_index(n, quantiles[0])
        beyond_old, beyond_new = w.count(w.values > before, w.values >= after)
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
