"""Seasonality features and groups (spec 3.4, 7.7).

A component is a group of feature columns; a window row belongs to the current
point's group when all of the group's columns compare equal (Python ``==``: JSON
``false`` equals ``False``, ``1`` equals ``1.0`` and ``True``). Rows are turned into
integer group codes once, so the engine can treat every group as its own sequence.
"""

from __future__ import annotations

import math

import numpy as np

BUILTIN_FEATURES = ("hour", "day_of_week", "day_of_month", "month", "is_weekend", "is_holiday")


def builtin_features(timestamps: np.ndarray, names) -> dict[str, np.ndarray]:
    """Calendar features of naive-UTC timestamps; ints (hour 0-23, Monday = 0) and bools."""
    unknown = [n for n in names if n not in BUILTIN_FEATURES]
    if unknown:
        raise ValueError(
            f"Invalid seasonality column: {unknown[0]!r}. Allowed: {', '.join(sorted(BUILTIN_FEATURES))}"
        )
    ts = np.asarray(timestamps).astype("datetime64[ms]")
    days = ts.astype("datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    features = {
        "hour": lambda: ((ts - days) // np.timedelta64(1, "h")).astype(np.int64),
        "day_of_week": lambda: weekday,
        "day_of_month": lambda: (days - days.astype("datetime64[M]")).astype(np.int64) + 1,
        "month": lambda: days.astype("datetime64[M]").astype(np.int64) % 12 + 1,
        "is_weekend": lambda: weekday >= 5,
        "is_holiday": lambda: np.zeros(len(ts), dtype=bool),
    }
    return {name: features[name]() for name in names}


def component_columns(components) -> list[list[str]]:
    """``["hour", ["hour", "day_of_week"]]`` -> ``[["hour"], ["hour", "day_of_week"]]``."""
    return [[c] if isinstance(c, str) else list(c) for c in components or []]


def factorize(values) -> np.ndarray:
    """Integer codes such that two rows share a code iff their values compare ``==``."""
    arr = np.asarray(values)
    if arr.dtype.kind in "biuUS":
        return np.unique(arr, return_inverse=True)[1].astype(np.int64)
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        codes = np.unique(np.where(nan, 0.0, arr), return_inverse=True)[1].astype(np.int64)
        codes[nan] = codes.max(initial=-1) + 1 + np.arange(int(nan.sum()))  # NaN equals nothing
        return codes
    seen: dict = {}
    codes = np.empty(len(arr), dtype=np.int64)
    for i, value in enumerate(arr.tolist()):
        if isinstance(value, float) and math.isnan(value):
            codes[i] = len(seen)
            seen[("nan", i)] = codes[i]
            continue
        try:
            codes[i] = seen.setdefault(value, len(seen))
        except TypeError:  # lists/dicts from JSON payloads: compare by their text
            codes[i] = seen.setdefault(("unhashable", repr(value)), len(seen))
    return codes


def group_codes(features: dict[str, np.ndarray], columns: list[str]) -> np.ndarray | None:
    """Codes of the conjunctive group, or None when the whole window is the group.

    None covers a group without columns and a group naming any column that is not in
    ``features`` (the reference's silent no-op for unknown columns).
    """
    if not columns or any(c not in features for c in columns):
        return None
    codes = factorize(features[columns[0]])
    for column in columns[1:]:
        other = factorize(features[column])
        codes = np.unique(codes * (int(other.max(initial=0)) + 1) + other, return_inverse=True)[1]
    return codes.astype(np.int64)
