"""A slow per-point oracle for the options beyond detectkit 0.29 (spread floors, minimum change,
non-negative bounds, clamp stabilization), written from their definition on top of the
reference primitives in ``reference_impl``: one point at a time, reading windows from a
working copy that clamps write back into."""

from __future__ import annotations

import math

import numpy as np

from detection import reference_impl as R

OPTIONS = ("min_spread", "min_relative_spread", "min_change", "min_relative_change", "stabilization",
           "non_negative")


def _centre(kind, a):
    return {"mad": lambda: a["median"], "zscore": lambda: a["mean"], "iqr": lambda: (a["q1"] + a["q3"]) / 2}[kind]()


def _band(kind, a, k, unit):
    if kind == "iqr":
        return a["q1"] - k * unit, a["q3"] + k * unit
    centre = _centre(kind, a)
    return centre - k * unit, centre + k * unit


def detect(kind, params, timestamps, values, seasonality=None):
    """Per point: (processed, lower, upper, is_anomaly, severity, clamped_in_window)."""
    opts = {name: params.get(name) for name in OPTIONS}
    p = R.default_params(kind, {k: v for k, v in params.items() if k not in OPTIONS})
    W, m, g, k = p["window_size"], p["min_samples"], p["min_samples_per_group"], p["threshold"]
    P = R.transform(R.smooth(values, p["smoothing"], p["smoothing_alpha"], p["smoothing_window"]), p["input_type"])
    work = P.copy()
    clamped = np.zeros(len(P), dtype=bool)
    comps = p["seasonality_components"]
    cols = R.seasonality_columns(timestamps, seasonality) if comps else None
    lut = R.weight_table(p, timestamps)
    out = []
    for i in range(len(P)):
        idx = np.array([j for j in range(max(0, i - W), i) if not math.isnan(P[j])], dtype=int)
        if math.isnan(P[i]) or len(idx) < m:
            out.append((P[i], None, None, False, None, 0))
            continue
        ages = i - idx
        w = lut[ages - 1] if lut is not None else np.ones(len(idx))
        x = work[idx]
        beta = R.split_median_slope(x, ages, w) if p["detrend"] == "linear" else 0.0
        G = R.stats_of(kind, x + beta * ages if beta != 0 else x, w)
        A = dict(G)
        if comps and cols:
            for group in R.as_groups(comps):
                if not group or any(c not in cols for c in group):
                    match = np.ones(len(idx), dtype=bool)
                else:
                    match = np.array([all(cols[c][j] == cols[c][i] for c in group) for j in idx], dtype=bool)
                if match.sum() < g:
                    continue
                gx = work[idx[match]] + (beta * ages[match] if beta != 0 else 0.0)
                H = R.stats_of(kind, gx, w[match])
                for name, role in R.KINDS[kind]["stats"]:
                    eligible = G[name] > 0 if role == "spread" else G[name] != 0
                    A[name] = A[name] * (H[name] / G[name] if eligible else 1.0)
        lo, hi = R.interval(kind, A, k)
        lo, hi = min(lo, hi), max(lo, hi)
        unit = R.spread_unit(kind, A)
        size = abs(_centre(kind, A))
        if opts["min_spread"] is not None or opts["min_relative_spread"] is not None:
            floor = max(opts["min_spread"] or 0.0, (opts["min_relative_spread"] or 0.0) * size)
            if unit < floor:
                unit = floor
                lo, hi = _band(kind, A, k, unit)
        if opts["min_change"] is not None or opts["min_relative_change"] is not None:
            extra = max(opts["min_change"] or 0.0, (opts["min_relative_change"] or 0.0) * size)
            lo, hi = lo - extra, hi + extra
        if opts["non_negative"]:
            lo, hi = max(lo, 0.0), max(hi, 0.0)
        v = P[i]
        anomalous = bool(v < lo or v > hi)
        severity = None
        if anomalous:
            distance = lo - v if v < lo else v - hi
            severity = distance / unit if unit > 0 else math.inf
            if opts["stabilization"] == "clamp":
                work[i] = lo if v < lo else hi
                clamped[i] = True
        out.append((v, float(lo), float(hi), anomalous, severity, int(clamped[max(0, i - W):i].sum())))
    return out
