"""A slow, literal, per-point implementation of spec/detection.md sections 6-8.

It is the test oracle for the vectorised engine in ``detectkit_dagster.detection``:
every step follows the spec text in the spec's operation order, one point at a time,
with plain numpy calls on exactly the valid window values. It shares no code with the
engine (only the spec), so agreement between the two is meaningful.

Results are per point: (processed_value, lower, upper, is_anomaly, metadata dict);
lower/upper are None when the point was not evaluated, and metadata floats are raw
(inf/NaN kept; the JSON writer turns them into null).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

MAD_SCALE = 1.4826
DEGENERATE = 1e-10

KINDS = {
    "mad": {"stats": [("median", "center"), ("mad", "spread")], "threshold": 3.0, "group": 10},
    "zscore": {"stats": [("mean", "center"), ("std", "spread")], "threshold": 3.0, "group": 3},
    "iqr": {"stats": [("q1", "center"), ("q3", "center"), ("iqr", "spread")], "threshold": 1.5, "group": 4},
}
UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60,
                "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400,
                "days": 86400}


# --- statistics primitives (spec 7.5) ---------------------------------------------

def weighted_percentile(values, weights, p):
    order = np.argsort(values, kind="stable")
    x = values[order]
    w = weights[order]
    total = np.sum(w)
    cum = np.cumsum(w)
    pos = (cum - 0.5 * w) / total
    return float(np.interp(p / 100.0, pos, x))


def weighted_mean(values, weights):
    norm = weights / np.sum(weights)
    return float(np.sum(values * norm))


def weighted_std(values, weights):
    norm = weights / np.sum(weights)
    mean = np.sum(values * norm)
    var = np.sum(norm * (values - mean) ** 2)
    corr = 1.0 - np.sum(norm ** 2)
    if corr > 1e-12:
        var = var / corr
    return float(np.sqrt(var))


def effective_sample_size(weights):
    s = np.sum(weights)
    if s <= 0:
        return 0.0
    return float(s * s / np.sum(weights * weights))


def stats_of(kind, x, w):
    if kind == "mad":
        med = weighted_percentile(x, w, 50)
        return {"median": med, "mad": weighted_percentile(np.abs(x - med), w, 50)}
    if kind == "zscore":
        return {"mean": weighted_mean(x, w), "std": weighted_std(x, w)}
    q1 = weighted_percentile(x, w, 25)
    q3 = weighted_percentile(x, w, 75)
    return {"q1": q1, "q3": q3, "iqr": q3 - q1}


# --- preprocessing (spec 6.3) -------------------------------------------------------

def smooth(values, method, alpha, window):
    v = np.asarray(values, dtype=float)
    if method is None:
        return v.copy()
    out = np.full(len(v), np.nan)
    if method == "ema":
        prev = None
        for i, x in enumerate(v):
            if prev is None:
                if not math.isnan(x):
                    prev = x
                    out[i] = x
                continue
            if not math.isnan(x):
                prev = alpha * x + (1 - alpha) * prev
            out[i] = prev
        return out
    sums = [0.0]
    counts = [0]
    for x in v:
        sums.append(sums[-1] + (0.0 if math.isnan(x) else x))
        counts.append(counts[-1] + (0 if math.isnan(x) else 1))
    for i in range(len(v)):
        a = max(0, i - window + 1)
        cnt = counts[i + 1] - counts[a]
        out[i] = (sums[i + 1] - sums[a]) / cnt if cnt else np.nan
    return out


def transform(y, input_type):
    y = np.asarray(y, dtype=float)
    out = np.full(len(y), np.nan)
    if input_type == "values":
        return y.copy()
    with np.errstate(all="ignore"):
        for i in range(1, len(y)):
            a, b = y[i - 1], y[i]
            if math.isnan(a) or math.isnan(b):
                continue
            if input_type == "changes":
                out[i] = np.float64(b - a) / np.float64(a)
            elif input_type == "absolute_changes":
                out[i] = b - a
            else:
                out[i] = np.log(np.float64(b + 1)) - np.log(np.float64(a + 1))
    return out


# --- weights (spec 7.3) -------------------------------------------------------------

def interval_seconds(text):
    s = text.strip().lower()
    digits = "".join(ch for ch in s if ch.isdigit())
    return int(digits) * UNIT_SECONDS[s[len(digits):]]


def weight_table(p, timestamps):
    W = p["window_size"]
    kind = p.get("window_weights")
    if kind is None:
        return None
    ages = np.arange(1, W + 1, dtype=float)
    if kind == "linear":
        return (W + 1 - ages) / W
    hl, wd = p.get("half_life"), p.get("weight_decay")
    if wd is not None and hl is None:
        h = math.log(0.5) / math.log(wd)
    elif hl is None:
        h = max(W / 20, p["min_samples"] / 2, 1.0)
    elif isinstance(hl, int):
        h = float(hl)
    else:
        if len(timestamps) < 2:
            return None
        diffs = np.diff(timestamps.astype("datetime64[ms]").astype(np.int64))
        step = float(np.median(diffs)) / 1000.0
        h = max(interval_seconds(hl) / step, 1.0)
    return np.power(0.5, np.minimum(ages / h, 1000.0))


# --- seasonality (spec 3.4, 7.7) ------------------------------------------------------

def builtin_value(ts, name):
    dt = datetime.fromtimestamp(int(ts.astype("datetime64[ms]").astype(np.int64)) / 1000, tz=timezone.utc)
    return {"hour": dt.hour, "day_of_week": dt.weekday(), "day_of_month": dt.day,
            "month": dt.month, "is_weekend": dt.weekday() >= 5, "is_holiday": False}[name]


def seasonality_columns(timestamps, seasonality):
    if seasonality is None:
        names = ["hour", "day_of_week", "day_of_month", "month", "is_weekend", "is_holiday"]
        return {n: [builtin_value(t, n) for t in timestamps] for n in names}
    return {k: list(v) for k, v in seasonality.items()}


def as_groups(components):
    return [[c] if isinstance(c, str) else list(c) for c in components]


# --- windowed detectors (spec 7.2) -------------------------------------------------

def default_params(kind, params):
    p = {"threshold": None, "window_size": 100, "min_samples": 30, "seasonality_components": None,
         "min_samples_per_group": None, "input_type": "values", "smoothing": None,
         "smoothing_alpha": 0.3, "smoothing_window": 10, "window_weights": None,
         "half_life": None, "weight_decay": None, "detrend": None}
    p.update(params)
    if p["threshold"] is None:
        p["threshold"] = KINDS[kind]["threshold"]
    if p["min_samples_per_group"] is None:
        p["min_samples_per_group"] = KINDS[kind]["group"]
    return p


def split_median_slope(x, ages, w):
    if len(x) < 4:
        return 0.0
    mid = (ages.max() + ages.min()) / 2
    old, new = ages > mid, ages <= mid
    if old.sum() < 2 or new.sum() < 2:
        return 0.0
    mn = weighted_percentile(x[new], w[new], 50)
    mo = weighted_percentile(x[old], w[old], 50)
    an = weighted_percentile(ages[new].astype(float), w[new], 50)
    ao = weighted_percentile(ages[old].astype(float), w[old], 50)
    if ao == an:
        return 0.0
    return (mn - mo) / (ao - an)


def interval(kind, a, k):
    if kind == "mad":
        if a["mad"] == 0:
            return a["median"] - DEGENERATE, a["median"] + DEGENERATE
        margin = k * MAD_SCALE * a["mad"]
        return a["median"] - margin, a["median"] + margin
    if kind == "zscore":
        if a["std"] == 0:
            return a["mean"] - DEGENERATE, a["mean"] + DEGENERATE
        return a["mean"] - k * a["std"], a["mean"] + k * a["std"]
    if a["iqr"] == 0:
        return a["q1"] - DEGENERATE, a["q3"] + DEGENERATE
    return a["q1"] - k * a["iqr"], a["q3"] + k * a["iqr"]


def spread_unit(kind, a):
    if kind == "mad":
        return MAD_SCALE * a["mad"]
    return a["std"] if kind == "zscore" else a["iqr"]


def detect_windowed(kind, params, timestamps, values, seasonality=None):
    p = default_params(kind, params)
    W, m, g, k = p["window_size"], p["min_samples"], p["min_samples_per_group"], p["threshold"]
    stat_decl = KINDS[kind]["stats"]
    Y = smooth(values, p["smoothing"], p["smoothing_alpha"], p["smoothing_window"])
    P = transform(Y, p["input_type"])
    comps = p["seasonality_components"]
    cols = seasonality_columns(timestamps, seasonality) if comps else None
    parsed = bool(comps) and bool(cols) and len(timestamps) > 0
    lut = weight_table(p, timestamps)
    out = []
    for i in range(len(P)):
        if math.isnan(P[i]):
            out.append((P[i], None, None, False, {"reason": "missing_data"}))
            continue
        s = max(0, i - W)
        idx = np.array([j for j in range(s, i) if not math.isnan(P[j])], dtype=int)
        n = len(idx)
        if n < m:
            out.append((P[i], None, None, False,
                        {"reason": "insufficient_data", "window_size": n, "min_samples": m}))
            continue
        ages = i - idx
        w = lut[ages - 1] if lut is not None else np.ones(n)
        x = P[idx]
        beta = split_median_slope(x, ages, w) if p["detrend"] == "linear" else 0.0
        X = x + beta * ages if beta != 0 else x
        G = stats_of(kind, X, w)
        A = dict(G)
        meta = {}
        if parsed:
            entries = []
            for group in as_groups(comps):
                if not group or any(c not in cols for c in group):
                    match = np.ones(n, dtype=bool)
                else:
                    match = np.array([all(cols[c][j] == cols[c][i] for c in group) for j in idx], dtype=bool)
                ng = int(match.sum())
                entry = {"group": list(group), "group_size": ng}
                if ng < g:
                    entry["reason"] = "insufficient_group_data"
                    for name, _ in stat_decl:
                        entry[f"{name}_multiplier"] = 1.0
                else:
                    gx = P[idx[match]]
                    if beta != 0:
                        gx = gx + beta * ages[match]
                    H = stats_of(kind, gx, w[match])
                    for name, role in stat_decl:
                        eligible = G[name] > 0 if role == "spread" else G[name] != 0
                        r = H[name] / G[name] if eligible else 1.0
                        A[name] = A[name] * r
                        entry[f"{name}_multiplier"] = r
                entries.append(entry)
            meta["seasonality_groups"] = entries
        lo, hi = interval(kind, A, k)
        if lo > hi:
            lo, hi = hi, lo
        v = P[i]
        anomalous = bool(v < lo or v > hi)
        for name, _ in stat_decl:
            meta[f"global_{name}"] = G[name]
            meta[f"adjusted_{name}"] = A[name]
        meta["window_size"] = n
        if p["window_weights"] is not None:
            meta["ess"] = round(effective_sample_size(w), 1)
        if p["detrend"] == "linear":
            meta["trend_slope_per_point"] = beta
        if p["smoothing"] is not None or p["input_type"] != "values":
            pre = {"input_type": p["input_type"], "smoothing": p["smoothing"]}
            if p["smoothing"] is not None:
                pre["smoothed_value"] = float(Y[i])
            meta["preprocessing"] = pre
        if anomalous:
            if v < lo:
                direction, distance = "below", lo - v
            else:
                direction, distance = "above", v - hi
            unit = spread_unit(kind, A)
            meta["direction"] = direction
            meta["distance"] = float(distance)
            meta["severity"] = float(distance / unit) if unit > 0 else math.inf
        out.append((P[i], float(lo), float(hi), anomalous, meta))
    return out


def detect_manual(params, timestamps, values):
    lower, upper = params.get("lower_bound"), params.get("upper_bound")
    input_type = params.get("input_type", "values")
    P = transform(values, input_type)
    out = []
    for v in P:
        if math.isnan(v):
            out.append((v, None, None, False, {"reason": "missing_data"}))
            continue
        meta = {}
        if input_type != "values":
            meta["preprocessing"] = {"input_type": input_type}
        direction = None
        if lower is not None and v < lower:
            direction, distance = "below", lower - v
        elif upper is not None and v > upper:
            direction, distance = "above", v - upper
        if direction:
            meta["direction"] = direction
            meta["distance"] = float(distance)
            both = lower is not None and upper is not None
            meta["severity"] = float(distance / (upper - lower)) if both else float(distance)
        out.append((v, None if lower is None else float(lower),
                    None if upper is None else float(upper), direction is not None, meta))
    return out


def detect(det_type, params, timestamps, values, seasonality=None):
    params = {k: v for k, v in params.items() if k not in ("start_time", "batch_size")}
    if det_type in ("manual_bounds", "manual"):
        return detect_manual(params, timestamps, values)
    return detect_windowed(det_type, params, timestamps, values, seasonality)
