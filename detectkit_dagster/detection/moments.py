"""Weighted mean / std (z-score) and effective sample size of many windows.

Weights are used in the separable form ``w = alpha_i * u_j + beta_i * v_j`` (see
``weights.py``), so every window sum ``sum_j w f(x_j)`` is a difference of prefix sums
of ``u f`` and ``v f``. Prefix sums are taken per batch of rows, around the batch
median, in extended precision (``numpy.longdouble``: 64-bit mantissa on x86), which
also gives exponential weights ``2**(j/h)`` room to grow. A rigorous bound on the
prefix sums' rounding error flags every row whose sum of squared deviations would not
be accurate to ~1e-10; flagged rows, and rows whose outcome hinges on the reference's
own rounding noise (see ``_fragile``), are left to the exact path.
"""

from __future__ import annotations

import numpy as np

from detectkit_dagster.detection.exact import row_sums, window_matrix
from detectkit_dagster.detection.weights import RecencyWeights, row_coefficients, weight_parts
from detectkit_dagster.detection.windows import WindowSet

LONG = np.longdouble
EPS = float(np.finfo(LONG).eps)
ACCURACY = 1e-10    # relative error allowed on the fast path's sum of squared deviations
BATCH_ROWS = 1024   # query rows per batch: bounds prefix lengths, hence their rounding error


def _batches(ws: WindowSet, max_span: float = np.inf):
    """Query batches in (lo, hi) order, each within one time-ordered stretch of the source.

    The source restarts in time at each seasonality group (no window crosses one), so a
    batch never straddles a restart and its positions increase; ``max_span`` caps the
    rows a batch covers (exponential weights must not overflow).
    """
    order = np.lexsort((ws.hi, ws.lo))
    restarts = np.flatnonzero(np.diff(ws.pos) < 0) + 1
    stretch = np.searchsorted(restarts, ws.lo[order], side="right")
    breaks = np.flatnonzero(np.diff(stretch)) + 1
    rows = ws.row[order]
    for run_start, run_end in zip(np.r_[0, breaks], np.r_[breaks, len(order)]):
        start = run_start
        while start < run_end:
            stop = min(start + BATCH_ROWS, run_end)
            if np.isfinite(max_span):  # rows increase within a stretch
                stop = max(start + 1, min(stop, int(np.searchsorted(rows[start:run_end], rows[start] + max_span)) + start))
            idx = order[start:stop]
            yield idx, int(ws.lo[idx].min()), int(ws.hi[idx].max())
            start = stop


def _max_span(weights: RecencyWeights) -> float:
    """Rows a batch may cover so that 2**(span/h), squared, stays far inside longdouble range."""
    if weights.method != "exponential":
        return np.inf
    return max(4000.0 * weights.half_life - weights.window, 1.0)


def _fragile(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Rows whose result depends on the reference's rounding: a near-constant window
    (the std is rounding noise, spec 7.9) or a mean that cancels to almost zero (its
    bits decide the seasonal multiplier mean_group / mean_global)."""
    constant = (std <= 1e-6 * np.abs(mean)) & (mean != 0)
    cancelled = np.abs(mean) < 1e-5 * (np.abs(mean) + 3 * std)
    return constant | cancelled


def _window_sums(columns: dict, lo: np.ndarray, hi: np.ndarray):
    """Window sums and error bounds: cumsum's error at k is <= eps * k * max|prefix|."""
    sums, bounds = {}, {}
    length = np.maximum(hi, 1).astype(LONG)
    for name, col in columns.items():
        prefix = np.concatenate((np.zeros(1, dtype=LONG), np.cumsum(col)))
        sums[name] = prefix[hi] - prefix[lo]
        bounds[name] = 2 * EPS * length * np.maximum.accumulate(np.abs(prefix))[hi]
    return sums, bounds


def _combine(sums, bounds, alpha, beta, u_name, v_name):
    total = alpha * sums[u_name]
    bound = np.abs(alpha) * bounds[u_name]
    if v_name in sums:
        total = total + beta * sums[v_name]
        bound = bound + np.abs(beta) * bounds[v_name]
    return total, bound


def weighted_moments(ws: WindowSet, weights: RecencyWeights):
    """(mean, std, needs_exact) per query; std uses reliability weights (ddof = 1)."""
    count = len(ws.lo)
    mean, std = np.empty(count), np.empty(count)
    exact = np.zeros(count, dtype=bool)
    for idx, first, last in _batches(ws, _max_span(weights)):
        x = ws.values[first:last]
        level = float(np.median(x)) if len(x) else 0.0
        y = (x - level).astype(LONG)
        ref = int(ws.row[idx].min())
        u, v = weight_parts(weights, ws.pos[first:last], ref, LONG)
        columns = {"u": u, "uy": u * y, "uyy": u * y * y, "uu": u * u}
        if v is not None:
            columns |= {"v": v, "vy": v * y, "vyy": v * y * y, "uv": u * v, "vv": v * v}
        sums, bounds = _window_sums(columns, ws.lo[idx] - first, ws.hi[idx] - first)
        alpha, beta = row_coefficients(weights, ws.row[idx], ref, LONG)
        total, _ = _combine(sums, bounds, alpha, beta, "u", "v")
        s1, err1 = _combine(sums, bounds, alpha, beta, "uy", "vy")
        s2, err2 = _combine(sums, bounds, alpha, beta, "uyy", "vyy")
        square, _ = _combine(sums, bounds, alpha * alpha, 2 * alpha * beta, "uu", "uv")
        if v is not None:
            square = square + beta * beta * sums["vv"]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            shift = s1 / total
            m2 = s2 - s1 * shift
            corr = 1 - square / (total * total)
            var = np.maximum(m2, 0) / total
            var = np.where(corr > 1e-12, var / np.where(corr > 1e-12, corr, 1), var)
            risky = ~(err2 + 2 * np.abs(shift) * err1 <= ACCURACY * m2)
        mu, sd = (level + shift).astype(float), np.sqrt(var.astype(float))
        mean[idx], std[idx] = mu, sd
        far = not np.isfinite(sums["u"]).all()  # exponent beyond longdouble range (extreme spans)
        exact[idx] = risky | far | _fragile(mu, sd)
    return mean, std, exact


def weight_sums(ws: WindowSet, weights: RecencyWeights):
    """(sum w, sum w^2) per window, up to a per-row factor that cancels in the ESS."""
    total, square = np.empty(len(ws.lo)), np.empty(len(ws.lo))
    for idx, first, last in _batches(ws, _max_span(weights)):
        ref = int(ws.row[idx].min())
        u, v = weight_parts(weights, ws.pos[first:last], ref, LONG)
        columns = {"u": u, "uu": u * u}
        if v is not None:
            columns |= {"v": v, "uv": u * v, "vv": v * v}
        sums, bounds = _window_sums(columns, ws.lo[idx] - first, ws.hi[idx] - first)
        alpha, beta = row_coefficients(weights, ws.row[idx], ref, LONG)
        t, _ = _combine(sums, bounds, alpha, beta, "u", "v")
        sq, _ = _combine(sums, bounds, alpha * alpha, 2 * alpha * beta, "uu", "uv")
        if v is not None:
            sq = sq + beta * beta * sums["vv"]
        total[idx], square[idx] = t.astype(float), sq.astype(float)
    return total, square


def effective_sample_size(window, weights: RecencyWeights) -> np.ndarray:
    """Kish ESS ``(sum w)^2 / sum w^2`` of each valid window, rounded like Python ``round(x, 1)``.

    Fast prefix sums where they are safe; the reference's exact sums where rounding to one
    decimal could depend on the last bit.
    """
    sizes = window.size
    if weights.method == "uniform":
        return sizes.astype(float)  # (sum 1)^2 / sum 1 = n exactly
    ess = np.zeros(len(sizes))
    exact = np.ones(len(sizes), dtype=bool)
    if weights.separable and len(sizes):
        total, square = weight_sums(window, weights)
        with np.errstate(invalid="ignore", divide="ignore"):
            ess = np.where(total > 0, total * total / square, 0.0)
        exact = _near_half(ess)
    table = weights.table()
    for start in range(0, int(exact.sum()), 4096):
        rows = np.flatnonzero(exact)[start:start + 4096]
        part = window.take(rows)
        _, w, _ = window_matrix(part, table, None, max(1, int(part.size.max())))
        total = row_sums(w, part.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            ess[rows] = np.where(total > 0, total * total / row_sums(w * w, part.size), 0.0)
    rounded = np.round(ess, 1)
    ties = np.flatnonzero(_near_half(ess))
    rounded[ties] = [round(float(v), 1) for v in ess[ties]]  # correctly rounded decimal, as Python does
    return rounded


def _near_half(x: np.ndarray) -> np.ndarray:
    tenths = x * 10
    return np.abs(tenths - np.floor(tenths) - 0.5) < 1e-6
