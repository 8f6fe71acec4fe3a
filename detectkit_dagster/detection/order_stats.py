"""Hazen quantiles and MAD of uniform-weight windows from sorted cores (fast path).

With equal weights the Hazen percentile is an interpolation between two order
statistics, so only ranks matter (and results are bit-identical to the reference). A
window is ``core + delta`` with at most ``q`` delta values, and inserting ``q`` values
shifts a rank by at most ``q``; hence the ``r``-th smallest of a window is among
``core[r-q .. r+1]`` plus the delta, a set of ~2q values sorted per row. The MAD uses
the same argument on distances to the median, after a binary search places the
``k - q`` core values nearest the median. Windows must be finite (rows with
infinities take the exact path).
"""

from __future__ import annotations

import numpy as np

from detectkit_dagster.detection.chunks import CoreDelta, batches, chunk_rows
from detectkit_dagster.detection.windows import WindowSet

FEW_VALUES = 1 << 15  # up to this many window values in all, sorting each window whole is quicker


def _interp(t: float, j: np.ndarray, n: np.ndarray, low: np.ndarray, high: np.ndarray, inner: np.ndarray):
    """numpy.interp between order statistics j and j+1 at Hazen positions (k + 0.5) / n.

    The same float operations as the reference (cumsum of ones, minus half, over n),
    so results are bit-identical -- a centre that should be 0 stays exactly 0.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        pos_j = (j + 0.5) / n
        slope = (high - low) / ((j + 1.5) / n - pos_j)
        res = slope * (t - pos_j) + low
    return np.where(inner & (pos_j != t), res, low)


def hazen_ranks(n: np.ndarray, t: float):
    """Index of the last order statistic at or below a Hazen quantile, and whether it interpolates."""
    h = t * n - 0.5  # exact for t in {1/4, 1/2, 3/4}
    j = np.floor(h).astype(np.int64)
    inner = (j >= 0) & (j < n - 1)
    return np.clip(j, 0, n - 1), inner


def quantile(cd: CoreDelta, n: np.ndarray, t: float) -> np.ndarray:
    """Hazen quantile t (0..1) of each window (n values)."""
    j, inner = hazen_ranks(n, t)
    q = cd.q
    start = np.maximum(j - q, 0)  # core[:start] all precede the j-th value of the window
    core_part = cd.core_at(start[:, None] + np.arange(q + 2)[None, :])
    candidates = np.concatenate([core_part, cd.delta], axis=1)
    ordered = np.sort(candidates, axis=1)
    rank = j - start
    low = np.take_along_axis(ordered, rank[:, None], axis=1)[:, 0]
    high = np.take_along_axis(ordered, np.minimum(rank + 1, ordered.shape[1] - 1)[:, None], axis=1)[:, 0]
    return _interp(t, j, n, low, high, inner)


def mad(cd: CoreDelta, n: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Hazen median of |x - center| over each window."""
    k, inner = hazen_ranks(n, 0.5)
    q = cd.q
    s = np.maximum(k - q, 0)  # this many nearest core values all precede the k-th distance
    a = cd.core_len
    # smallest l such that core[l:l+s] are the s values nearest to the center
    left, right = np.zeros_like(s), a - s
    for _ in range(int(np.ceil(np.log2(max(int(a.max(initial=1)), 1) + 1))) + 1):
        mid = (left + right) // 2
        beyond = cd.core_at(mid + s)
        ok = (mid + s >= a) | (beyond - center >= center - cd.core_at(mid))
        left, right = np.where(ok, left, mid + 1), np.where(ok, mid, right)
    steps = np.arange(q + 2)[None, :]
    outside = np.concatenate([
        cd.core_at(left[:, None] - 1 - steps),
        cd.core_at(left[:, None] + s[:, None] + steps),
        cd.delta,
    ], axis=1)
    with np.errstate(invalid="ignore"):
        distances = np.abs(outside - center[:, None])
    ordered = np.sort(distances, axis=1)
    rank = k - s
    low = np.take_along_axis(ordered, rank[:, None], axis=1)[:, 0]
    high = np.take_along_axis(ordered, np.minimum(rank + 1, ordered.shape[1] - 1)[:, None], axis=1)[:, 0]
    return _interp(0.5, k, n, low, high, inner)


def _sorted_quantile(ordered: np.ndarray, n: np.ndarray, t: float) -> np.ndarray:
    """Hazen quantile t of each row of ``ordered`` (its first n values, ascending)."""
    j, inner = hazen_ranks(n, t)
    low = np.take_along_axis(ordered, j[:, None], axis=1)[:, 0]
    high = np.take_along_axis(ordered, np.minimum(j + 1, ordered.shape[1] - 1)[:, None], axis=1)[:, 0]
    return _interp(t, j, n, low, high, inner)


def sorted_order_stats(kind: str, ws: WindowSet) -> dict[str, np.ndarray]:
    """The same statistics from each window sorted whole: fewer steps for a few windows (the
    order statistics, hence the results, are the same)."""
    n = ws.size
    offsets = np.arange(max(int(n.max(initial=1)), 1))
    index = ws.lo[:, None] + offsets[None, :]
    inside = offsets[None, :] < n[:, None]
    values = np.where(inside, ws.values[np.minimum(index, max(len(ws.values) - 1, 0))], np.inf) \
        if len(ws.values) else np.full(index.shape, np.inf)
    ordered = np.sort(values, axis=1)  # the padding sorts last
    if kind == "iqr":
        q1, q3 = _sorted_quantile(ordered, n, 0.25), _sorted_quantile(ordered, n, 0.75)
        return {"q1": q1, "q3": q3, "iqr": q3 - q1}
    median = _sorted_quantile(ordered, n, 0.5)
    with np.errstate(invalid="ignore"):
        distances = np.where(inside, np.abs(values - median[:, None]), np.inf)
    return {"median": median, "mad": _sorted_quantile(np.sort(distances, axis=1), n, 0.5)}


def uniform_order_stats(kind: str, ws: WindowSet, window_size_hint: int) -> dict[str, np.ndarray]:
    """MAD (median, mad) or IQR (q1, q3, iqr) of finite, equally weighted windows."""
    if len(ws.lo) * max(int(ws.size.max(initial=0)), 1) <= FEW_VALUES:
        return sorted_order_stats(kind, ws)
    names = ("median", "mad") if kind == "mad" else ("q1", "q3", "iqr")
    out = {name: np.empty(len(ws.lo)) for name in names}
    sizes = ws.size
    for rows, cd in batches(ws, chunk_rows(window_size_hint)):
        n = sizes[rows]
        if kind == "mad":
            median = quantile(cd, n, 0.5)
            out["median"][rows] = median
            out["mad"][rows] = mad(cd, n, median)
        else:
            q1, q3 = quantile(cd, n, 0.25), quantile(cd, n, 0.75)
            out["q1"][rows], out["q3"][rows], out["iqr"][rows] = q1, q3, q3 - q1
    return out
