"""Window statistics in the reference's exact operation order, many rows at a time.

This is the general path: any weights (look-up table by age), a per-row detrend
projection, and windows holding +-inf are all handled like spec 7.5 (stable sort,
Hazen positions, numpy ``interp`` rules, normalised-weight moments), bit for bit:
rows are padded to a common width, but every pairwise sum runs over exactly the
row's own values (numpy's pairwise summation depends on the length), because a last
bit can matter -- near-constant z-score windows (spec 7.9), a noise-level trend slope
that breaks ties, a Hazen target that meets a position.
"""

from __future__ import annotations

import numpy as np

from detectkit_dagster.detection.windows import WindowSet

STAT_NAMES = {"mad": ("median", "mad"), "zscore": ("mean", "std"), "iqr": ("q1", "q3", "iqr")}
CELL_BUDGET = 1 << 20  # padded cells per batch: a few arrays of 8 MB each


def _take(a: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.take_along_axis(a, index[:, None], axis=1)[:, 0]


def interp_rows(t: float, pos: np.ndarray, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``numpy.interp(t, pos[r, :n], x[r, :n])`` for every row r (same edge and inf rules)."""
    real = np.arange(pos.shape[1])[None, :] < n[:, None]
    j = np.sum((pos <= t) & real, axis=1) - 1
    last = n - 1
    lo = np.clip(j, 0, last)
    hi = np.minimum(lo + 1, last)
    xj, xk, pj, pk = _take(x, lo), _take(x, hi), _take(pos, lo), _take(pos, hi)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        slope = (xk - xj) / (pk - pj)
        res = slope * (t - pj) + xj
        retry = slope * (t - pk) + xk  # numpy's second try when infinities give NaN
    res = np.where(np.isnan(res), retry, res)
    res = np.where(np.isnan(res) & (xj == xk), xj, res)
    res = np.where(pj == t, xj, res)
    res = np.where(j >= last, _take(x, last), res)
    return np.where(j < 0, x[:, 0], res)


def row_sums(matrix: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``numpy.sum(row[:n])`` per row, bit for bit (one pairwise sum per distinct length)."""
    out = np.empty(len(n))
    for size in np.unique(n):
        rows = np.flatnonzero(n == size)
        out[rows] = np.sum(matrix[rows, :size], axis=1)
    return out


def percentile_rows(x: np.ndarray, w: np.ndarray | None, n: np.ndarray, p: float) -> np.ndarray:
    """Weighted Hazen percentile per row; padding must be NaN (sorted last, stably) with weight 0.

    ``w=None`` means equal weights: then ties cannot matter and a plain sort gives the
    reference's positions ``(k + 1 - 0.5) / n`` exactly.
    """
    if w is None:
        xs = np.sort(x, axis=1)
        pos = (np.arange(1, x.shape[1] + 1) - 0.5)[None, :] / n[:, None].astype(float)
        return interp_rows(p / 100.0, pos, xs, n)
    order = np.argsort(x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, axis=1)
    ws = np.take_along_axis(w, order, axis=1)
    total = row_sums(ws, n)
    pos = (np.cumsum(ws, axis=1) - 0.5 * ws) / total[:, None]
    return interp_rows(p / 100.0, pos, xs, n)


def moment_rows(x: np.ndarray, w: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised-weight mean and reliability-weighted std (ddof = 1) per row."""
    norm = w / row_sums(w, n)[:, None]
    real = np.arange(x.shape[1])[None, :] < n[:, None]
    x0 = np.where(real, x, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        mean = row_sums(x0 * norm, n)
        var = row_sums(np.where(real, norm * (x0 - mean[:, None]) ** 2, 0.0), n)
    corr = 1.0 - row_sums(norm**2, n)
    var = np.where(corr > 1e-12, var / np.where(corr > 1e-12, corr, 1.0), var)
    return mean, np.sqrt(var)


def stats_rows(kind: str, x: np.ndarray, w: np.ndarray, n: np.ndarray, uniform: bool) -> dict[str, np.ndarray]:
    weights = None if uniform else w
    if kind == "mad":
        median = percentile_rows(x, weights, n, 50)
        with np.errstate(invalid="ignore"):
            dev = np.abs(x - median[:, None])
        return {"median": median, "mad": percentile_rows(dev, weights, n, 50)}
    if kind == "zscore":
        mean, std = moment_rows(x, w, n)
        return {"mean": mean, "std": std}
    q1, q3 = percentile_rows(x, weights, n, 25), percentile_rows(x, weights, n, 75)
    return {"q1": q1, "q3": q3, "iqr": q3 - q1}


def window_matrix(ws: WindowSet, table: np.ndarray | None, slope: np.ndarray | None, width: int):
    """Padded (values, weights, ages) of every query window; padding is NaN / 0 / 0."""
    values, pos = ws.gather(np.arange(width)[None, :])
    real = pos >= 0
    ages = np.where(real, ws.row[:, None] - pos, 0)
    if table is None:
        weights = real.astype(float)
    else:
        weights = np.where(real, table[np.clip(ages - 1, 0, len(table) - 1)], 0.0)
    if slope is not None:
        with np.errstate(invalid="ignore"):
            values = values + slope[:, None] * ages
    return values, weights, ages


def _batches(sizes: np.ndarray):
    """Query indices in batches of similar window size whose padded matrices stay small."""
    order = np.argsort(sizes, kind="stable")
    per_batch = max(1, CELL_BUDGET // max(1, int(sizes.max(initial=1))))
    for start in range(0, len(order), per_batch):
        batch = order[start:start + per_batch]
        yield batch, max(1, int(sizes[batch].max()))


def exact_stats(kind: str, ws: WindowSet, table: np.ndarray | None, slope: np.ndarray | None = None):
    """Statistics of every query window with weights from ``table`` (None: uniform) and an
    optional per-row detrend projection ``x + slope * age``."""
    out = {name: np.full(len(ws.lo), np.nan) for name in STAT_NAMES[kind]}
    sizes = ws.size
    for batch, width in _batches(sizes):
        sub = ws.take(batch)
        x, w, _ = window_matrix(sub, table, None if slope is None else slope[batch], width)
        for name, value in stats_rows(kind, x, w, sizes[batch], table is None).items():
            out[name][batch] = value
    return out


def exact_slope(ws: WindowSet, table: np.ndarray | None) -> np.ndarray:
    """Split-median trend slope per window (spec 7.4); 0 where it is undefined."""
    beta = np.zeros(len(ws.lo))
    sizes = ws.size
    for batch, width in _batches(sizes):
        n = sizes[batch]
        x, w, ages = window_matrix(ws.take(batch), table, None, width)
        cols = np.arange(width)[None, :]
        mid = (ages[:, 0] + _take(ages, np.maximum(n - 1, 0))) / 2
        n_old = np.sum((cols < n[:, None]) & (ages > mid[:, None]), axis=1)  # oldest rows come first
        n_new = n - n_old
        ok = np.flatnonzero((n >= 4) & (n_old >= 2) & (n_new >= 2))
        if ok.size == 0:
            continue
        x, w, ages, n_old, n_new = x[ok], w[ok], ages[ok].astype(float), n_old[ok], n_new[ok]

        def half(start, count):
            index = np.minimum(cols + start[:, None], width - 1)
            keep = cols < count[:, None]
            pick = lambda m, pad: np.where(keep, np.take_along_axis(m, index, axis=1), pad)  # noqa: E731
            return pick(x, np.nan), pick(w, 0.0), pick(ages, np.nan)

        x_old, w_old, a_old = half(np.zeros_like(n_old), n_old)
        x_new, w_new, a_new = half(n_old, n_new)
        if table is None:
            w_old = w_new = None
        level_old, level_new = percentile_rows(x_old, w_old, n_old, 50), percentile_rows(x_new, w_new, n_new, 50)
        age_old, age_new = percentile_rows(a_old, w_old, n_old, 50), percentile_rows(a_new, w_new, n_new, 50)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(age_old != age_new, (level_new - level_old) / (age_old - age_new), 0.0)
        beta[batch[ok]] = slope
    return beta
