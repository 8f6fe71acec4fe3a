"""``stabilization: clamp``: a flagged point enters later windows at the bound it broke.

The rule is sequential -- the band of a point depends on the clamps before it -- but clamps
are rare, so the engine computes every band at once from the raw values and then walks the
flags in time order. A clamp at row ``r`` can only change the rows whose window holds ``r``
(the next ``window`` rows). A walk (one per kind of statistics) keeps those up to date:

* order statistics (MAD, IQR) with equal weights, no seasonality: at each clamp, replacing one
  value leaves a quantile unchanged when the old and the new value both lie beyond the order
  statistics it interpolates between; counting ranks in the window proves that for most rows,
  and only the others are recomputed (``RankSettle``);
* moments (z-score) with equal weights: the mean and standard deviation of the window and of
  the seasonal group follow from the replaced value in closed form; at each clamp for short
  windows (``MomentSettle``), or, for long ones, only when the walk reaches a row, from the
  unclamped statistics and the clamps its window and groups hold (``DeferredMoments``);
* autoreg (``autoreg.py``): likewise, the fit's sums follow in closed form when the walk
  reaches the row, and only then is the fit solved;
* anything else (weights, detrend, order statistics with seasonality): a row whose window
  holds a clamp is computed again from the clamped values when the walk reaches it
  (``Recompute``).

Deferring means each row is brought up to date once, when it is looked at (inside an incident
only the next row is), not once per clamp in its window. Because every row depends only on
rows before it, the walk gives exactly the sequential result (tests compare it with a
per-point implementation).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from detectkit_dagster.detection.evaluation import reweigh

BLOCK = 32  # rows sharing one threshold in the rank bounds of the MAD test
# From this window size on, z-score clamps are deferred: settling one at once costs the whole
# window, deferring costs the rows the walk looks at (but more numpy calls per clamp).
DEFER_FROM = 2048


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
          update: Callable[[np.ndarray, int, float, float, slice], None],
          reband: Callable[[np.ndarray, slice], None] | None = None,
          write_back: Callable[[int, float], float] | None = None) -> np.ndarray:
    """Walk the flags of the evaluated rows ``q`` in order, clamping each; returns which were.

    A clamp at row r changes rows r + 1 .. r + ``reach``. ``update(work, row, before, after,
    positions)`` is told that ``work[row]`` went from ``before`` to ``after`` (``positions``: the
    slice of positions it can change). Without ``reband`` it must bring their bands up to date
    at once; with it, ``reband(work, positions)`` brings the bands of a slice of positions up to
    date when the walk reaches them. ``write_back(row, bound)`` may adjust the value written.
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
        stop = int(q.searchsorted(row + reach, "right"))
        if stop > k + 1:
            update(work, row, before, after, slice(k + 1, stop))
        stale_end = max(stale_end, stop)
        k = _next_flag(work, x, bands, flag, expected, k + 1, stale_end, reband)
    return clamped


def _next_flag(work, x, bands, flag, expected, start: int, stale_end: int, reband) -> int:
    """The next flagged position from ``start``; stale bands are recomputed up to the next
    position that was flagged before the walk (a good guess of where to stop)."""
    position = start
    while position < stale_end:
        end = stale_end
        if reband is not None:
            later = int(expected.searchsorted(position))
            if later < len(expected):
                end = min(stale_end, max(int(expected[later]) + 1, position + 1))
            reband(work, slice(position, end))
        at = slice(position, end)
        flag[at] = (x[at] < bands.lower[at]) | (x[at] > bands.upper[at])
        hit = flag[at].argmax()
        if flag[position + hit]:
            return position + int(hit)
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


def equal_weights(params: dict) -> bool:
    return params["window_weights"] is None and params["detrend"] is None


class _Walk:
    """What every windowed walk shares: the detector, its statistics, the bands, and a way to
    compute positions again from the clamped values (``reassess(work, at)``)."""

    reband = None  # eager unless a walk defers

    def __init__(self, detector, ev, bands, reassess):
        self.detector, self.ev, self.bands, self.reassess = detector, ev, bands, reassess
        self.window = detector.params["window_size"]

    def assign_bands(self, at) -> None:
        self.bands.assign(at, self.detector._bands({name: values[at] for name, values in self.ev.adjusted.items()}))


class Recompute(_Walk):
    """Any statistics: a position whose window holds a clamp is computed again from the clamped
    values when the walk reaches it."""

    def __init__(self, detector, ev, bands, reassess):
        super().__init__(detector, ev, bands, reassess)
        self.last = -1  # row of the latest clamp

    def update(self, work, row: int, before: float, after: float, span: slice) -> None:
        self.last = row

    def reband(self, work, span: slice) -> None:
        held = np.flatnonzero(self.ev.q[span] - self.window <= self.last)  # every clamp is before them
        if held.size:
            self.reassess(work, held + span.start)
        self.assign_bands(span)


class RankSettle(_Walk):
    """Order statistics with equal weights and no seasonality: at each clamp, the rows whose
    quantiles it may change are found by counting ranks and recomputed (``settle_order_stats``)."""

    def update(self, work, row: int, before: float, after: float, span: slice) -> None:
        at = np.arange(span.start, span.stop)
        stale = settle_order_stats(self.detector, work, self.ev, at, row, before, after)
        if stale.size:
            self.reassess(work, stale)
        self.assign_bands(at)


class MomentSettle(_Walk):
    """Moments with equal weights: at each clamp, the mean and standard deviation (ddof 1) of
    every window holding the row, and of its seasonal group, follow in closed form."""

    def update(self, work, row: int, before: float, after: float, span: slice) -> None:
        at = np.arange(span.start, span.stop)
        stale = settle_moments(self.detector, self.ev, at, row, before, after)
        if stale.size:
            self.reassess(work, stale)
        self.assign_bands(at)


def _replaced(n, mean, std, before: float, after: float):
    """Mean and standard deviation (ddof 1) of n values after one of them went from before to after."""
    delta = after - before
    new_mean = mean + delta / n
    squares = std * std * (n - 1) + delta * ((after - new_mean) + (before - mean))
    return new_mean, np.sqrt(np.maximum(squares, 0.0) / (n - 1))


def settle_moments(detector, ev, at: np.ndarray, row: int, before: float, after: float) -> np.ndarray:
    """Replace ``before`` by ``after`` in the mean and standard deviation (ddof 1) of each window,
    and of each seasonal group holding the row; then re-derive the adjusted statistics."""
    if not (np.isfinite(before) and np.isfinite(after)):
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


class DeferredMoments(_Walk):
    """Mean and standard deviation (ddof 1) of equal-weight windows, and of the seasonal groups,
    under clamps. A clamp is only recorded; when the walk reaches a position, the statistics of
    its window and of its groups follow in closed form from the unclamped ones and the clamps
    they hold.

    A clamp is held by a component (the window, then each seasonal component) of a position
    when its key lies in the position's key range: keys are ``component * span + code * stride
    + row`` (code: the seasonal group), ranges ``[key - min(row, window), key)``; sorted, the
    keys a range holds are contiguous, so one prefix sum over the clamps serves every range."""

    def __init__(self, detector, ev, bands, reassess):
        super().__init__(detector, ev, bands, reassess)
        groups = [entry for entry in ev.seasonal or () if entry.codes is not None]
        # per component and evaluated position: the unclamped statistics
        parts = [(ev.window.size, ev.global_stats, np.ones(len(ev.q), dtype=bool))]
        parts += [(entry.size, entry.stats, ~entry.fallback) for entry in groups]
        n = np.stack([size.astype(float) for size, _, _ in parts])
        self.n, self.mean = n, np.stack([stats["mean"] for _, stats, _ in parts])
        std = np.stack([stats["std"] for _, stats, _ in parts])
        with np.errstate(invalid="ignore", divide="ignore"):
            self.std, self.squares, self.per_dof = std, std * std * (n - 1), 1 / (n - 1)
        self.engaged = np.stack([engaged for _, _, engaged in parts])
        self.out = [stats for _, stats, _ in parts]
        rows = int(ev.q[-1]) + 1 if len(ev.q) else 0
        codes = np.stack([np.zeros(rows, dtype=np.int64)] + [entry.codes[:rows] for entry in groups])
        stride = rows + 1
        span = stride * (int(codes.max(initial=0)) + 1)
        self.row_keys = np.arange(len(parts))[:, None] * span + codes * stride + np.arange(rows)
        self.ends = self.row_keys[:, ev.q]
        self.starts = self.ends - np.minimum(ev.q, self.window)
        capacity = len(ev.q)
        self.rows = np.empty(capacity, dtype=np.int64)
        self.total = np.empty(capacity)                       # after + before, per clamp
        self.terms = np.ones((capacity, 3))                   # 1, after - before, scratch
        self.broken = np.zeros(capacity + 1, dtype=np.int64)  # non-finite clamps before each
        self.count = 0

    def update(self, work, row: int, before: float, after: float, span: slice) -> None:
        c = self.count
        self.rows[c], self.terms[c, 1], self.total[c] = row, after - before, after + before
        self.broken[c + 1] = self.broken[c] + (not math.isfinite(after - before))
        self.count = c + 1

    def reband(self, work, span: slice) -> None:
        ev, c = self.ev, self.count
        first = int(self.rows[:c].searchsorted(ev.q[span.start] - self.window))  # every clamp is before
        mean = self.mean[:, span]
        ref = mean[0, 0] if math.isfinite(mean[0, 0]) else 0.0  # deviations about a nearby level
        # per clamp: 1, d = after - before, d (after + before - 2 ref); summed over what holds it
        terms = self.terms[first:c]
        np.multiply(terms[:, 1], self.total[first:c] - 2 * ref, out=terms[:, 2])
        if self.broken[c] > self.broken[first]:  # an infinite value was clamped: recompute
            terms = np.where(np.isfinite(terms), terms, np.nan)
        keys = self.row_keys[:, self.rows[first:c]].ravel()  # component-major
        order = keys.argsort(kind="stable")
        keys = keys[order]
        cumulative = np.zeros((len(keys) + 1, 3))
        terms[order % len(terms)].cumsum(axis=0, out=cumulative[1:])
        sums = cumulative[keys.searchsorted(self.ends[:, span])] - cumulative[keys.searchsorted(self.starts[:, span])]
        count, d, e = sums[..., 0], sums[..., 1], sums[..., 2]
        n = self.n[:, span]
        held = (count > 0) & self.engaged[:, span]
        with np.errstate(invalid="ignore"):
            new_mean = mean + d / n  # no clamp held: d = 0, the mean stays as it is
            squares = self.squares[:, span] + e - (2 * (mean - ref) + d / n) * d
            new_std = np.where(held, np.sqrt(np.maximum(squares, 0.0) * self.per_dof[:, span]), self.std[:, span])
            redo = held & ~np.isfinite(new_mean * new_std)
        for stats, m, s in zip(self.out, new_mean, new_std):
            stats["mean"][span], stats["std"][span] = m, s
        if redo.any():
            self.reassess(work, np.flatnonzero(redo.any(axis=0)) + span.start)
        if ev.seasonal:
            reweigh(self.detector.stat_names, ev, span)
        else:
            ev.adjusted["mean"][span], ev.adjusted["std"][span] = new_mean[0], new_std[0]
        self.assign_bands(span)


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
    """Rows whose quantiles (and MAD) the replacement may change (equal weights, no seasonality);
    the others keep their statistics."""
    params = detector.params
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
