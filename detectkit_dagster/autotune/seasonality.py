"""Which seasonality grouping to use: greedy search on held-out residual reduction.

A grouping is scored by how much better per-group median/MAD statistics, fitted on the
past (an expanding window), explain each later fold than global ones: per held-out point
the negative log-likelihood ``0.5 min(z^2, 50)`` (+ ``ln(s_group / s_global)`` for the
group model), the 10% most extreme points trimmed, ``rho = 1 - nll_group / nll_global``
per fold, and the score ``mean(rho) - lambda * std(rho)``. No grouping scores 0.

Columns are added greedily (as a new component, or merged into the last one); a move is
kept only when it beats the current score by more than 1e-3 and improves at least half
of the folds, and only while every group keeps ten points on average.
"""

from __future__ import annotations

import math

import numpy as np

from ..detection.seasonality import factorize
from .decisions import Decision

MIN_GROUP = 10           # points a group needs in training (the MAD probe's group floor)
MAD_SCALE = 1.4826
NLL_CAP = 50.0
TRIM = 0.10
MIN_GAIN = 1e-3
MIN_POINTS_PER_GROUP = 10


def format_grouping(components) -> str:
    """``["hour", ["hour", "day_of_week"]]`` -> ``hour, [hour+day_of_week]``."""
    if not components:
        return "none"
    return ", ".join(c if isinstance(c, str) else f"[{'+'.join(c)}]" for c in components)


def columns_of(components) -> list[str]:
    return [c for comp in components for c in ([comp] if isinstance(comp, str) else comp)]


class Features:
    """Seasonality columns as integer codes; -1 marks a missing value."""

    def __init__(self, features: dict[str, np.ndarray]):
        self.codes: dict[str, np.ndarray] = {}
        for name, column in features.items():
            column = np.asarray(column)
            self.codes[name] = np.where(_missing(column), -1, factorize(column))

    def distinct(self, name: str) -> int:
        codes = self.codes[name]
        return len(np.unique(codes[codes >= 0]))

    def key(self, components) -> np.ndarray:
        """One code per point over every column of every component; -1 if any is missing."""
        columns = columns_of(components)
        key = np.zeros(len(next(iter(self.codes.values()))), dtype=np.int64)
        missing = np.zeros(len(key), dtype=bool)
        for name in columns:
            codes = self.codes[name]
            missing |= codes < 0
            key = np.unique(key * (int(codes.max(initial=0)) + 2) + codes + 1, return_inverse=True)[1]
        return np.where(missing, -1, key)


def _missing(column: np.ndarray) -> np.ndarray:
    if column.dtype.kind == "f":
        return np.isnan(column)
    if column.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in column.tolist()], bool)
    return np.zeros(len(column), dtype=bool)


def _group_median_mad(x: np.ndarray, key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, scaled MAD and count of each key 0..size-1 (NaN where a key has no points)."""
    count = np.bincount(key, minlength=size)
    median = _group_median(x, key, count)
    mad = _group_median(np.abs(x - median[key]), key, count)
    return median, MAD_SCALE * mad, count


def _group_median(x, key, count) -> np.ndarray:
    order = np.lexsort((x, key))
    xs = x[order]
    offset = np.r_[0, np.cumsum(count)[:-1]]
    low = offset + np.maximum(count - 1, 0) // 2
    high = offset + count // 2
    safe = count > 0
    out = np.full(len(count), np.nan)
    out[safe] = (xs[low[safe]] + xs[high[safe]]) / 2
    return out


def residual_reduction(values: np.ndarray, key: np.ndarray, folds, stability_lambda: float):
    """(score, fraction of folds improved) of one grouping key."""
    finite = np.isfinite(values)
    eps = 1e-9 * float(np.median(np.abs(values[finite]))) + 1e-12 if finite.any() else 1e-12
    size = int(key.max(initial=-1)) + 1
    rhos = []
    for lo, hi in folds:
        train = np.flatnonzero(finite[:lo])
        held = lo + np.flatnonzero(finite[lo:hi])
        if len(train) < MIN_GROUP or len(held) == 0:
            continue
        x = values[train]
        mu0 = float(np.median(x))
        s0 = max(MAD_SCALE * float(np.median(np.abs(x - mu0))), eps)
        mu_g, s_g = np.full(len(held), mu0), np.full(len(held), s0)
        keyed = key[train] >= 0
        if size and keyed.any():
            median, spread, count = _group_median_mad(x[keyed], key[train][keyed], size)
            k = key[held]
            fitted = (k >= 0) & (count[np.maximum(k, 0)] >= MIN_GROUP)
            mu_g[fitted] = median[k[fitted]]
            s_g[fitted] = np.maximum(spread[k[fitted]], eps)
        v = values[held]
        z2 = ((v - mu0) / s0) ** 2
        nll0 = 0.5 * np.minimum(z2, NLL_CAP)
        nllg = 0.5 * np.minimum(((v - mu_g) / s_g) ** 2, NLL_CAP) + np.log(s_g / s0)
        drop = int(math.floor(TRIM * len(held)))
        if 0 < drop < len(held):
            keep = np.argsort(z2, kind="stable")[:len(held) - drop]
            nll0, nllg = nll0[keep], nllg[keep]
        rhos.append(1.0 - float(nllg.mean()) / max(float(nll0.mean()), eps))
    if not rhos:
        return 0.0, 0.0
    r = np.asarray(rhos)
    return float(r.mean() - stability_lambda * r.std()), float((r > 0).mean())


def search_seasonality(values, features: dict[str, np.ndarray], folds, settings) -> tuple[list | None, Decision]:
    """The chosen components (None for no seasonality) and the decision behind it."""
    table = Features(features) if features else None
    forced = settings.force_seasonality
    if forced:
        absent = [c for c in columns_of(forced) if c not in features]
        if not absent:
            chosen = [c if isinstance(c, str) else list(c) for c in forced]
            return chosen, Decision("seasonality", f"forced seasonality {format_grouping(chosen)} (search skipped)",
                                    {"chosen": chosen, "forced": True})
        note = f"force_seasonality columns absent from data: {absent} — searching instead; "
    else:
        note = ""
    columns = [c for c in features if c != "is_holiday"]
    if settings.seasonality_candidates is not None:
        columns = [c for c in columns if c in settings.seasonality_candidates]
    if not columns:
        return None, Decision("seasonality", note + "no seasonality columns available — using none", {"chosen": None})
    columns = [c for c in columns if table.distinct(c) >= 2]
    if not columns:
        return None, Decision("seasonality", note + "no informative seasonality columns — using none",
                              {"chosen": None})
    return _greedy(values, table, columns, folds, settings.stability_lambda, note)


def _greedy(values, table: Features, columns: list[str], folds, stability_lambda: float, note: str):
    n_valid = int(np.isfinite(values).sum())
    selected: list = []
    current = 0.0
    tried: list[dict] = []
    while True:
        moves = []
        for column in (c for c in columns if c not in columns_of(selected)):
            moves.append([*selected, column])
            if selected:
                last = selected[-1]
                moves.append([*selected[:-1], [*([last] if isinstance(last, str) else last), column]])
        best, best_score, best_improved = None, -math.inf, 0.0
        for move in moves:
            if not all(n_valid / math.prod(max(1, table.distinct(c)) for c in columns_of([comp]))
                       >= MIN_POINTS_PER_GROUP for comp in move):
                continue
            score, improved = residual_reduction(values, table.key(move), folds, stability_lambda)
            tried.append({"components": move, "residual_reduction": round(score, 4),
                          "folds_improved": round(improved, 2)})
            if score > best_score:
                best, best_score, best_improved = move, score, improved
        if best is None or not (best_score > current + MIN_GAIN and best_improved >= 0.5):
            break
        selected, current = best, best_score
    listing = ", ".join(f"{format_grouping(t['components'])}:{t['residual_reduction']:.4f}" for t in tried[:6])
    fields = {"per_candidate": tried, "tested": [t["components"] for t in tried],
              "chosen": selected or None, "score": round(current, 4), "baseline": 0.0}
    if selected:
        message = (f"chose {format_grouping(selected)} (held-out residual reduction {current:.3f} vs baseline "
                   f"0.000; tried {listing})")
    else:
        message = (f"tested {', '.join(columns)} — chose none (no held-out residual reduction over baseline; "
                   f"tried {listing or 'nothing viable'})")
    return (selected or None), Decision("seasonality", note + message, fields)
