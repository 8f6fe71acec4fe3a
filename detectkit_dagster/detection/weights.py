"""Recency weights by age (spec 7.3): uniform, linear or exponential.

Weights depend only on the age ``a = i - j`` of a window row (1 = previous row), so
missing rows still consume age. Besides the reference's look-up table, the fast paths
use a *separable* form ``w = alpha_i * u_j + beta_i * v_j`` (``j`` = row position,
``i`` = current row): uniform is ``u = 1``, exponential is ``u = 2**(j/h)`` up to a
per-row factor that cancels in every statistic, linear is ``alpha_i + j/W``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from detectkit_dagster.timegrid import parse_interval

EXP_CAP = 1000.0  # the reference caps the exponent a/h so weights stay > 0


@dataclass(frozen=True)
class RecencyWeights:
    method: str            # "uniform" | "linear" | "exponential"
    window: int
    half_life: float = math.nan  # points, exponential only
    reported: bool = False       # window_weights was set: metadata reports ess

    def table(self) -> np.ndarray | None:
        """Weight by age - 1 for ages 1..window (None for uniform)."""
        ages = np.arange(1, self.window + 1, dtype=float)
        if self.method == "linear":
            return (self.window + 1 - ages) / self.window
        if self.method == "exponential":
            return np.power(0.5, np.minimum(ages / self.half_life, EXP_CAP))
        return None

    @property
    def separable(self) -> bool:
        """True unless the exponent cap bites inside the window (then only the table is exact)."""
        return self.method != "exponential" or self.window / self.half_life <= EXP_CAP


def weight_parts(weights: RecencyWeights, positions: np.ndarray, ref, dtype=float):
    """Separable parts ``(u_j, v_j)`` of source rows ``positions`` (-1 = padding -> 0).

    With ``row_coefficients`` this gives ``w_ij = alpha_i * u_j + beta_i * v_j`` up to a
    per-row factor (which cancels in every statistic); ``ref`` is any row close by.
    ``v`` is None unless weights are linear.
    """
    real = positions >= 0
    if weights.method == "exponential":
        offset = np.where(real, positions - ref, 0)
        low, high = int(offset.min(initial=0)), int(offset.max(initial=0))
        if high - low < 4 * offset.size:  # integer offsets: a small table beats exp2 per value
            table = np.exp2(np.arange(low, high + 1).astype(dtype) / dtype(weights.half_life))
            return np.where(real, table[offset - low], 0), None
        return np.where(real, np.exp2(offset.astype(dtype) / dtype(weights.half_life)), 0), None
    offset = np.where(real, positions - ref, 0).astype(dtype)
    u = real.astype(dtype)
    return u, (np.where(real, offset, 0) if weights.method == "linear" else None)


def row_coefficients(weights: RecencyWeights, rows: np.ndarray, ref, dtype=float):
    """``(alpha_i, beta_i)`` per query row (see ``weight_parts``)."""
    if weights.method == "linear":
        alpha = (weights.window + 1 - (rows - ref)).astype(dtype) / dtype(weights.window)
        return alpha, np.full(len(rows), 1 / dtype(weights.window), dtype=dtype)
    return np.ones(len(rows), dtype=dtype), np.zeros(len(rows), dtype=dtype)


def resolve_weights(params: dict, timestamps: np.ndarray) -> RecencyWeights:
    method = params["window_weights"]
    window = params["window_size"]
    if method is None:
        return RecencyWeights("uniform", window)
    if method == "linear":
        return RecencyWeights("linear", window, reported=True)
    half_life, decay = params["half_life"], params["weight_decay"]
    if decay is not None and half_life is None:
        h = math.log(0.5) / math.log(decay)
    elif half_life is None:
        h = max(window / 20, params["min_samples"] / 2, 1.0)
    elif isinstance(half_life, int):
        h = float(half_life)
    else:
        if len(timestamps) < 2:  # no grid step to convert the duration: reference falls back to uniform
            return RecencyWeights("uniform", window, reported=True)
        step = grid_step_seconds(timestamps)
        h = max(parse_interval(half_life) / step, 1.0)
    return RecencyWeights("exponential", window, h, reported=True)


def grid_step_seconds(timestamps: np.ndarray) -> float:
    """Median spacing of the array passed to detect(), in seconds."""
    diffs = np.diff(timestamps.astype("datetime64[ms]").astype(np.int64))
    step = float(np.median(diffs)) / 1000.0
    if not step > 0:
        raise ValueError("Cannot determine data grid step from timestamps")
    return step
