"""Confidence bands in the units people read: the metric's own values.

Detectors store bounds in the units they compared. For the change input types that is a
change of the series, so drawn as is the band would sit near zero, far from the value
line. Adding the change back onto the previous level gives the range of values the
detector expected at each point.
"""

from __future__ import annotations

import json

import numpy as np

VALUES = "values"
CHANGE_TYPES = ("changes", "absolute_changes", "log_changes")


def parse_params(params_json: str | None) -> dict:
    """Stored detector params; anything unreadable counts as defaults."""
    if not params_json:
        return {}
    try:
        params = json.loads(params_json)
    except (TypeError, ValueError):
        return {}
    return params if isinstance(params, dict) else {}


def input_type_of(params: dict) -> str:
    value = params.get("input_type", VALUES)
    return value if isinstance(value, str) else VALUES


def is_change_type(input_type: str) -> bool:
    return input_type in CHANGE_TYPES


def value_band(
    input_type: str, previous: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds in value units, given the level of the previous point.

    ``values`` bounds are already there. Non-finite results (a zero base for
    ``changes``, a level at or below -1 for ``log_changes``) become NaN: no band there.
    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    if not is_change_type(input_type):
        return lower, upper
    previous = np.asarray(previous, dtype=np.float64)
    with np.errstate(all="ignore"):
        if input_type == "absolute_changes":
            low, high = previous + lower, previous + upper
        elif input_type == "changes":
            low, high = previous * (1 + lower), previous * (1 + upper)
        else:  # log_changes: ln(y+1) - ln(prev+1) in [lower, upper]; no log at or below -1
            base = np.where(previous > -1, previous + 1, np.nan)
            low, high = base * np.exp(lower) - 1, base * np.exp(upper) - 1
    # A negative base flips the order for `changes`; keep lower below upper.
    low, high = np.minimum(low, high), np.maximum(low, high)
    return _finite_or_nan(low), _finite_or_nan(high)


def _finite_or_nan(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.nan)
