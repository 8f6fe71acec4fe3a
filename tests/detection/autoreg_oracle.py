"""A slow per-point oracle of the ``autoreg`` detector, written from its definition: for every
point, the fit rows are collected, centred and scaled, solved by the ridge-stabilised normal
equations and the residuals summed directly."""

from __future__ import annotations

import math

import numpy as np

from detection import reference_impl as R


def detect(params, values):
    """Per point: (status, lower, upper, is_anomaly, prediction, sigma, fit_points)."""
    lags, window = params.get("lags", 5), params.get("window_size", 200)
    k, min_samples = params.get("threshold", 3.0), params.get("min_samples", 30)
    clamp = params.get("stabilization", "clamp") == "clamp"
    processed = R.transform(np.asarray(values, dtype=float), params.get("input_type", "values"))
    work = processed.copy()
    out = []
    for i in range(len(processed)):
        if math.isnan(processed[i]):
            out.append(("missing_data", None, None, False, None, None, 0))
            continue
        if i < lags or not all(math.isfinite(processed[i - a]) for a in range(1, lags + 1)):
            out.append(("missing_lags", None, None, False, None, None, 0))
            continue
        rows = [j for j in range(max(lags, i - window), i)
                if all(math.isfinite(work[j - a]) for a in range(lags + 1))]
        if len(rows) < min_samples:
            out.append(("insufficient_data", None, None, False, None, None, len(rows)))
            continue
        y = np.array([work[j] for j in rows])
        c, s = float(np.mean(y)), float(np.std(y))
        if not math.isfinite(s) or s <= 0:
            s = 1.0
        if not math.isfinite(c):
            c = 0.0
        x = np.array([[1.0] + [(work[j - a] - c) / s for a in range(1, lags + 1)] for j in rows])
        target = (y - c) / s
        xtx = x.T @ x
        ridge = 1e-8 * np.trace(xtx) / (lags + 1)
        beta = np.linalg.solve(xtx + ridge * np.eye(lags + 1), x.T @ target)
        residual = target - x @ beta
        sigma = math.sqrt(float(residual @ residual) / max(len(rows) - (lags + 1), 1)) * s
        current = np.array([1.0] + [(work[i - a] - c) / s for a in range(1, lags + 1)])
        prediction = c + s * float(current @ beta)
        unit = sigma
        floor = max(params.get("min_spread") or 0.0, (params.get("min_relative_spread") or 0.0) * abs(prediction))
        if unit < floor:
            unit = floor
        extra = max(params.get("min_change") or 0.0, (params.get("min_relative_change") or 0.0) * abs(prediction))
        lower, upper = prediction - k * unit - extra, prediction + k * unit + extra
        if params.get("non_negative"):
            lower, upper = max(lower, 0.0), max(upper, 0.0)
        v = processed[i]
        anomalous = bool(v < lower or v > upper)
        if anomalous and clamp:
            seen = processed[max(lags, i - window) - lags:i]
            seen = seen[np.isfinite(seen)]
            bound = lower if v < lower else upper
            work[i] = min(max(bound, seen.min()), seen.max())
        out.append(("ok", lower, upper, anomalous, prediction, sigma, len(rows)))
    return out
