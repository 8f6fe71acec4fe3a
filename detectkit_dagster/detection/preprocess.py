"""Smoothing and input transforms (spec 6.3): smoothing first, then the input type."""

from __future__ import annotations

import math

import numpy as np


def ema(values: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average seeded at the first non-NaN value; NaN carries the last level.

    A plain loop on purpose: the recursion is sequential, and evaluating it in the
    reference's order ((1 - alpha) first) keeps the result bit-identical.
    """
    out = np.full(len(values), np.nan)
    keep = 1.0 - alpha
    data = values.tolist()
    first = next((i for i, x in enumerate(data) if not math.isnan(x)), len(data))
    level = math.nan
    for i in range(first, len(data)):
        x = data[i]
        if i == first:
            level = x
        elif not math.isnan(x):  # a NaN level (inf * 0) stays NaN, as in the reference
            level = alpha * x + keep * level
        out[i] = level
    return out


def sma(values: np.ndarray, window: int) -> np.ndarray:
    """NaN-aware trailing mean over ``window`` points via sequential prefix sums."""
    valid = ~np.isnan(values)
    sums = np.concatenate(([0.0], np.cumsum(np.where(valid, values, 0.0))))
    counts = np.concatenate(([0], np.cumsum(valid)))
    end = np.arange(1, len(values) + 1)
    start = np.maximum(0, end - window)
    with np.errstate(invalid="ignore", divide="ignore"):  # inf inputs make inf - inf, as in the reference
        total, count = sums[end] - sums[start], counts[end] - counts[start]
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def smooth(values: np.ndarray, method: str | None, alpha: float, window: int) -> np.ndarray:
    if method == "ema":
        return ema(values, alpha)
    if method == "sma":
        return sma(values, window)
    return values.copy()


def apply_input_type(series: np.ndarray, input_type: str) -> np.ndarray:
    """``values`` unchanged; change types put NaN at element 0 and wherever a neighbour is NaN."""
    if input_type == "values":
        return series.copy()
    prev, cur = series[:-1], series[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        if input_type == "changes":
            step = (cur - prev) / prev
        elif input_type == "absolute_changes":
            step = cur - prev
        elif input_type == "log_changes":
            step = np.log(cur + 1.0) - np.log(prev + 1.0)
        else:
            raise ValueError(f"Unknown input_type: {input_type}")
    return np.concatenate(([np.nan], step)) if len(series) else series.copy()
