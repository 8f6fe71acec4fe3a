"""Window statistics for many query rows: routes each row to the fastest exact-enough path.

* order statistics from sorted chunk cores (``order_stats.py``): MAD/IQR, uniform weights;
* weighted order statistics from sorted chunk cores (``weighted_stats.py``): MAD/IQR,
  linear or exponential weights;
* prefix-sum weighted moments (``moments.py``): z-score, any separable weights;
* the exact path (``exact.py``, reference operation order) for everything else: a detrend
  projection, windows holding +-inf, weights that only exist as a look-up table, and
  rows whose outcome a fast path finds to hinge on the reference's own rounding.
"""

from __future__ import annotations

import numpy as np

from detectkit_dagster.detection.chunks import chunk_rows
from detectkit_dagster.detection.exact import STAT_NAMES, exact_stats
from detectkit_dagster.detection.moments import weighted_moments
from detectkit_dagster.detection.order_stats import uniform_order_stats
from detectkit_dagster.detection.weighted_stats import weighted_order_stats
from detectkit_dagster.detection.weights import RecencyWeights
from detectkit_dagster.detection.windows import WindowSet


def _fast(kind: str, ws: WindowSet, weights: RecencyWeights):
    """Fast statistics and a mask of rows that still need the exact path (None: no fast path)."""
    if kind == "zscore" and weights.separable:
        mean, std, exact = weighted_moments(ws, weights)
        return {"mean": mean, "std": std}, exact
    if kind in ("mad", "iqr") and weights.method == "uniform":
        return uniform_order_stats(kind, ws, weights.window), np.zeros(len(ws.lo), dtype=bool)
    if kind in ("mad", "iqr") and weights.separable:
        return weighted_order_stats(kind, ws, weights, chunk_rows(weights.window))
    return None, None


def window_stats(kind: str, ws: WindowSet, weights: RecencyWeights, slope: np.ndarray | None = None,
                 force_exact: np.ndarray | None = None):
    """Global or group statistics (spec 7.5/7.6) of every query window, as arrays by name,
    and the rows computed on the exact path (``force_exact`` rows always are)."""
    out = {name: np.full(len(ws.lo), np.nan) for name in STAT_NAMES[kind]}
    if len(ws.lo) == 0:
        return out, np.zeros(0, dtype=bool)
    general = ~ws.finite()
    if force_exact is not None:
        general |= force_exact
    if slope is not None:
        general |= slope != 0
    fast_rows = np.flatnonzero(~general)
    if fast_rows.size:
        part, redo = _fast(kind, ws.take(fast_rows), weights)
        if part is None:
            general[:] = True
        else:
            for name in out:
                out[name][fast_rows] = part[name]
            general[fast_rows[redo]] = True
    rows = np.flatnonzero(general)
    if rows.size:
        part = exact_stats(kind, ws.take(rows), weights.table(), None if slope is None else slope[rows])
        for name in out:
            out[name][rows] = part[name]
    return out, general
