"""Detector-type vote: which type suits the value distribution, to order the search.

Every allowed type is still searched; the vote only decides who goes first (ties in the
search keep the earlier type). Groups: all values, plus the 12 largest seasonal groups of
the chosen seasonality (at least 10 points each).
"""

from __future__ import annotations

import math

import numpy as np

from .decisions import Decision
from .seasonality import Features, columns_of
from .settings import MAX_CANDIDATE_TYPES

MIN_POINTS = 10
MAX_GROUPS = 12
TIE = 1e-9


def distribution(x: np.ndarray) -> dict:
    """Shape features of one group of values (neutral ones below two values)."""
    n = len(x)
    if n < 2:
        return {"n": n, "skewness": 0.0, "excess_kurtosis": 0.0, "outlier_fraction": 0.0,
                "heavy_tail_ratio": 1.0, "zero_inflation": 0.0, "normality": 0.5}
    d = x - x.mean()
    m2, m3, m4 = float(np.mean(d**2)), float(np.mean(d**3)), float(np.mean(d**4))
    skew = m3 / m2**1.5 if m2 > 0 else 0.0
    kurt = m4 / m2**2 - 3.0 if m2 > 0 else 0.0
    q1, q3 = np.percentile(x, [25, 75])
    iqr = q3 - q1
    outliers = float(np.mean((x < q1 - 1.5 * iqr) | (x > q3 + 1.5 * iqr))) if iqr > 0 else 0.0
    std = math.sqrt(m2)
    mad = float(np.median(np.abs(x - np.median(x))))
    return {
        "n": n, "skewness": skew, "excess_kurtosis": kurt, "outlier_fraction": outliers,
        "heavy_tail_ratio": 1.4826 * mad / std if std > 0 else 1.0,
        "zero_inflation": float(np.mean(np.abs(x) < 1e-12)),
        "normality": math.exp(-(skew**2 / 6 + kurt**2 / 24)),
    }


def suitability(detector_type: str, f: dict) -> float:
    if detector_type == "zscore":
        return _clip01(f["normality"] * _clip01(f["heavy_tail_ratio"]) * (1 - f["outlier_fraction"]))
    if detector_type == "mad":
        return _clip01(0.6 + 0.4 * max(0.0, 1 - f["heavy_tail_ratio"]) + 0.5 * f["outlier_fraction"])
    if detector_type == "iqr":
        return _clip01(0.3 + 0.5 * min(1.0, abs(f["skewness"]) / 3) + 0.4 * f["outlier_fraction"])
    return 0.5


def _groups(values: np.ndarray, features: dict, components) -> list[tuple[str, np.ndarray]]:
    finite = np.isfinite(values)
    groups = [("global", values[finite])]
    if not components:
        return groups
    table = Features({c: features[c] for c in columns_of(components)})
    seasonal = []
    for component in components:
        columns = [component] if isinstance(component, str) else list(component)
        key = table.key([columns])
        for code in np.unique(key[(key >= 0) & finite]):
            rows = finite & (key == code)
            if rows.sum() < MIN_POINTS:
                continue
            first = int(np.flatnonzero(rows)[0])
            label = "/".join(str(np.asarray(features[c])[first]) for c in columns)
            seasonal.append((f"{'+'.join(columns)}={label}", values[rows]))
    seasonal.sort(key=lambda g: -len(g[1]))  # stable: equal sizes keep their order
    return groups + seasonal[:MAX_GROUPS]


def vote_detector_types(values, features: dict, components, allowed) -> tuple[list[str], Decision]:
    """Types in search order (best suited first) and the decision behind it."""
    candidates = sorted(allowed)
    votes = dict.fromkeys(candidates, 0.0)
    totals = dict.fromkeys(candidates, 0.0)
    group_votes = []
    global_top = None
    for label, x in _groups(values, features, components):
        f = distribution(x)
        suit = {t: suitability(t, f) for t in candidates}
        best = max(suit.values())
        top = [t for t in candidates if suit[t] >= best - TIE]
        for t in candidates:
            totals[t] += suit[t]
        for t in top:
            votes[t] += 1.0 / len(top)
        global_top = global_top or top[0]
        group_votes.append({"group": label, "features": {k: round(v, 4) for k, v in f.items()},
                            "ranked": sorted(candidates, key=lambda t: -suit[t])})
    order = sorted(candidates, key=lambda t: -totals[t])[:MAX_CANDIDATE_TYPES]
    if global_top not in order:
        order.append(global_top)
    listing = ", ".join(f"{t}:{votes[t]:.1f}" for t in candidates)
    message = f"suitability votes — {listing}; evaluating (best-first): {', '.join(order)}"
    return order, Decision("detector_select", message, {
        "votes": {t: round(v, 3) for t, v in votes.items()}, "shortlist": order,
        "n_groups": len(group_votes), "group_votes": group_votes})


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))
