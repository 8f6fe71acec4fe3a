"""The vectorised engine against the slow per-point oracle on random series and configs."""

import json
import math
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectkit_dagster.detection import create_detector

from . import reference_impl
from .golden import compare_frame

FLOORS = {"mad": (1, 1), "zscore": (2, 1), "iqr": (4, 4)}  # min_samples, min_samples_per_group
NAN = math.nan

value = st.one_of(
    st.floats(-50, 50, allow_nan=False, allow_infinity=False),
    st.integers(-3, 6).map(float),   # integers: plenty of ties
    st.sampled_from([0.0, -1.0, NAN, NAN]),
)


@st.composite
def series(draw, max_size=60):
    values = draw(st.lists(value, min_size=1, max_size=max_size))
    if draw(st.booleans()):  # constant runs
        start = draw(st.integers(0, len(values) - 1))
        length = draw(st.integers(1, 25))
        level = values[start] if not math.isnan(values[start]) else 3.0
        values[start:start + length] = [level] * len(values[start:start + length])
    if draw(st.integers(0, 9)) == 0:
        values[draw(st.integers(0, len(values) - 1))] = draw(st.sampled_from([math.inf, -math.inf]))
    step = draw(st.sampled_from([600, 3600, 420]))
    start = np.datetime64("2024-01-05T22:00", "ms") + np.timedelta64(draw(st.integers(0, 50)) * 600, "s")
    ts = start + np.arange(len(values)) * np.timedelta64(step, "s")
    return ts, np.array(values, dtype=float)


@st.composite
def windowed_params(draw):
    det_type = draw(st.sampled_from(["mad", "zscore", "iqr"]))
    floor, group_floor = FLOORS[det_type]
    window = draw(st.integers(floor, 25))
    p = {"window_size": window, "min_samples": draw(st.integers(floor, window))}
    if draw(st.booleans()):
        p["threshold"] = draw(st.sampled_from([0.5, 1, 1.5, 2.0, 3]))
    if draw(st.booleans()):
        p["min_samples_per_group"] = draw(st.integers(group_floor, 6))
    p["input_type"] = draw(st.sampled_from(["values", "values", "changes", "absolute_changes", "log_changes"]))
    smoothing = draw(st.sampled_from([None, None, "ema", "sma"]))
    if smoothing:
        p["smoothing"] = smoothing
        p["smoothing_alpha"] = draw(st.sampled_from([0.05, 0.3, 0.5, 1.0]))
        p["smoothing_window"] = draw(st.integers(1, 5))
    weights = draw(st.sampled_from([None, None, "linear", "exponential"]))
    if weights:
        p["window_weights"] = weights
        choice = draw(st.integers(0, 3))
        if choice == 1:
            p["half_life"] = draw(st.integers(1, 12))
        elif choice == 2:
            p["half_life"] = draw(st.sampled_from(["30min", "2h", "1d"]))
        elif choice == 3:
            p["weight_decay"] = draw(st.sampled_from([0.5, 0.8, 0.95]))
    if draw(st.integers(0, 3)) == 0:
        p["detrend"] = "linear"
    if draw(st.booleans()):
        pool = ["a", "b", "hour", "is_weekend", "day_of_week", "nope", ["a", "b"], ["hour", "is_weekend"]]
        p["seasonality_components"] = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
    return det_type, p


@st.composite
def features(draw, n):
    if draw(st.booleans()):
        return None  # built-in calendar features from the timestamps
    a = draw(st.lists(st.sampled_from([0, 1, 2, True, None]), min_size=n, max_size=n))
    b = draw(st.lists(st.sampled_from(["x", "y"]), min_size=n, max_size=n))
    return {"a": np.array(a, dtype=object), "b": np.array(b, dtype=object)}


def _expected_rows(oracle_rows):
    rows = []
    for processed, lower, upper, anomalous, meta in oracle_rows:
        text = json.dumps(meta, allow_nan=True).replace("-Infinity", "null").replace("Infinity", "null")
        rows.append({"processed": float(processed), "lower": lower, "upper": upper, "is_anomaly": anomalous,
                     "metadata": json.loads(text.replace("NaN", "null"))})
    return rows


def _check(det_type, params, ts, values, seasonality):
    det = create_detector(det_type, params)
    frame = det.detect(ts, values, seasonality)
    expected = _expected_rows(reference_impl.detect(det_type, params, ts, values, seasonality))
    finite = np.abs(values[np.isfinite(values)])
    scale = max(1.0, float(finite.max(initial=0.0)))
    diffs = compare_frame(frame, expected, rel=1e-9, abs_tol=1e-12 * scale)
    assert not diffs, f"{det_type} {params}: {diffs[:4]}"


# DETECTION_EXAMPLES=5000 for a long stress run; the default keeps the suite fast
EXAMPLES = int(os.environ.get("DETECTION_EXAMPLES", "250"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(data=st.data())
def test_windowed_matches_reference(data):
    det_type, params = data.draw(windowed_params())
    ts, values = data.draw(series())
    seasonality = data.draw(features(len(values))) if params.get("seasonality_components") else None
    _check(det_type, params, ts, values, seasonality)


@SETTINGS
@given(data=st.data())
def test_uniform_long_windows_match_reference(data):
    """Longer series with the default (fast) paths: uniform weights, no detrend."""
    det_type = data.draw(st.sampled_from(["mad", "zscore", "iqr"]))
    floor, group_floor = FLOORS[det_type]
    window = data.draw(st.integers(max(floor, 5), 60))
    params = {"window_size": window, "min_samples": data.draw(st.integers(floor, window)),
              "min_samples_per_group": data.draw(st.integers(group_floor, 5))}
    if data.draw(st.booleans()):
        params["seasonality_components"] = data.draw(st.sampled_from([["a"], ["hour"], [["a", "b"]], ["a", "b"]]))
    if data.draw(st.booleans()):
        params["window_weights"] = data.draw(st.sampled_from(["linear", "exponential"]))
    ts, values = data.draw(series(max_size=160))
    seasonality = data.draw(features(len(values))) if "seasonality_components" in params else None
    _check(det_type, params, ts, values, seasonality)


@settings(max_examples=max(EXAMPLES // 2, 1), deadline=None)
@given(data=st.data())
def test_manual_bounds_match_reference(data):
    ts, values = data.draw(series())
    lower = data.draw(st.one_of(st.none(), st.integers(-10, 10), st.floats(-10, 10)))
    upper = data.draw(st.one_of(st.none(), st.integers(11, 30), st.floats(10.5, 30)))
    if lower is None and upper is None:
        upper = 5.0
    params = {"input_type": data.draw(st.sampled_from(["values", "changes", "absolute_changes", "log_changes"]))}
    params |= {k: v for k, v in (("lower_bound", lower), ("upper_bound", upper)) if v is not None}
    _check("manual_bounds", params, ts, values, None)
