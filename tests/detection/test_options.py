"""The opt-in options beyond detectkit 0.29: spread floors, minimum change, non-negative bounds
and clamp stabilization (against a slow per-point oracle), their validation and their ids."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detection import options_oracle
from detectkit_dagster.detection import create_detector

DEFAULT_IDS = {"mad": "eaff858d7b85a8a9", "zscore": "2f13a147285dc3dd", "iqr": "893d3336d8fdf568"}


def series(n=1400, seed=3):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 50 + 10 * np.sin(2 * np.pi * t / 144) + rng.normal(0, 2, n)
    values[300] += 40
    values[700:760] += 25           # an incident longer than half a window
    values[1000:1300] += 15         # a level shift
    values[rng.choice(n, 20, replace=False)] = np.nan
    stamps = np.datetime64("2024-01-01", "ms") + t * np.timedelta64(600, "s")
    return stamps, values


ORACLE_CASES = [
    ("mad", {"window_size": 100, "stabilization": "clamp"}),
    ("mad", {"window_size": 60, "min_spread": 3.0, "min_change": 1.0, "non_negative": True}),
    ("mad", {"window_size": 80, "stabilization": "clamp", "min_relative_spread": 0.1, "min_relative_change": 0.05}),
    ("mad", {"window_size": 80, "stabilization": "clamp", "seasonality_components": ["hour"], "min_samples_per_group": 3}),
    ("mad", {"window_size": 80, "stabilization": "clamp", "window_weights": "exponential"}),
    ("zscore", {"window_size": 100, "stabilization": "clamp"}),
    ("zscore", {"window_size": 60, "min_spread": 3.0, "min_change": 1.0, "non_negative": True}),
    ("zscore", {"window_size": 80, "stabilization": "clamp", "seasonality_components": ["hour"]}),
    ("zscore", {"window_size": 80, "stabilization": "clamp", "window_weights": "linear", "detrend": "linear"}),
    ("iqr", {"window_size": 100, "stabilization": "clamp"}),
    ("iqr", {"window_size": 80, "stabilization": "clamp", "min_relative_spread": 0.1, "min_relative_change": 0.05}),
    ("iqr", {"window_size": 60, "min_spread": 3.0, "min_change": 1.0, "non_negative": True, "input_type": "values"}),
]


@pytest.mark.parametrize("kind,params", ORACLE_CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(ORACLE_CASES)])
def test_engine_equals_the_per_point_oracle(kind, params):
    stamps, values = series()
    out = create_detector(kind, params).detect(stamps, values)
    expected = options_oracle.detect(kind, params, stamps, values)
    lower = np.array([np.nan if r[1] is None else r[1] for r in expected])
    upper = np.array([np.nan if r[2] is None else r[2] for r in expected])
    flags = np.array([r[3] for r in expected])
    assert np.allclose(out["confidence_lower"].to_numpy(), lower, rtol=1e-9, atol=1e-9, equal_nan=True)
    assert np.allclose(out["confidence_upper"].to_numpy(), upper, rtol=1e-9, atol=1e-9, equal_nan=True)
    assert (out["is_anomaly"].to_numpy() == flags).all()
    severity = np.array([np.nan if r[4] is None else r[4] for r in expected])
    assert np.allclose(out["severity"].fill_null(np.nan).to_numpy(), severity, rtol=1e-9, equal_nan=True)
    if params.get("stabilization"):
        stabilized = [json.loads(m).get("stabilized_in_window", 0) for m in out["detection_metadata"]]
        assert stabilized == [r[5] for r in expected] and max(stabilized) > 0


def test_clamp_keeps_a_long_incident_anomalous():
    """Without clamping, a level shift inflates the window's spread and stops being flagged."""
    rng = np.random.default_rng(1)
    values = 100 + rng.normal(0, 1, 1200)
    values[500:900] += 8
    stamps = np.datetime64("2024-01-01", "ms") + np.arange(1200) * np.timedelta64(600, "s")
    plain = create_detector("zscore", {"window_size": 100}).detect(stamps, values)["is_anomaly"].to_numpy()
    clamped = create_detector("zscore", {"window_size": 100, "stabilization": "clamp"}).detect(stamps, values)
    assert clamped["is_anomaly"].to_numpy()[500:900].sum() > 1.5 * plain[500:900].sum()


GAUGE_STEP = np.timedelta64(60, "s")


def gauge(n=24 * 60, drop=None):
    """An integer gauge at 12 that reads 11 for single minutes now and then."""
    values = np.full(n, 12.0)
    values[np.arange(97, n, 173)] = 11.0
    if drop is not None:
        values[drop:drop + 30] = 8.0
    return np.datetime64("2024-05-01", "ms") + np.arange(n) * GAUGE_STEP, values


@pytest.mark.parametrize("kind", ["mad", "iqr", "zscore"])
def test_flat_gauge_floors_end_the_infinite_severity_anomalies(kind):
    stamps, values = gauge()
    plain = create_detector(kind, {"window_size": 60}).detect(stamps, values)
    assert plain["is_anomaly"].sum() > 0  # the reference's +-1e-10 band flags every 11
    for options in ({"min_spread": 1.0}, {"min_change": 1.5}, {"min_relative_spread": 0.1}):
        out = create_detector(kind, {"window_size": 60} | options).detect(stamps, values)
        assert not out["is_anomaly"].any(), options


def test_non_negative_bounds():
    stamps, values = series()
    out = create_detector("zscore", {"window_size": 30, "threshold": 20, "non_negative": True}).detect(stamps, values)
    lower = out["confidence_lower"].drop_nulls().to_numpy()
    assert lower.min() == 0.0
    plain = create_detector("zscore", {"window_size": 30, "threshold": 20}).detect(stamps, values)
    assert plain["confidence_lower"].drop_nulls().min() < 0


@pytest.mark.parametrize("kind", ["mad", "zscore", "iqr"])
def test_ids_change_only_when_an_option_is_set(kind):
    assert create_detector(kind, {}).detector_id == DEFAULT_IDS[kind]
    assert create_detector(kind, {"stabilization": None, "non_negative": False, "min_spread": None}).detector_id \
        == DEFAULT_IDS[kind]
    ids = {create_detector(kind, {name: value}).detector_id for name, value in (
        ("min_spread", 1.0), ("min_relative_spread", 0.1), ("min_change", 1), ("min_relative_change", 0.05),
        ("stabilization", "clamp"), ("non_negative", True))}
    assert len(ids) == 6 and DEFAULT_IDS[kind] not in ids
    assert create_detector(kind, {"min_spread": 1.0}).detector_params == '{"min_spread":1.0}'


@pytest.mark.parametrize("name,value,needs", [
    ("min_spread", -1, ">= 0"), ("min_relative_spread", "0.1", ">= 0"), ("min_change", float("inf"), ">= 0"),
    ("min_relative_change", True, ">= 0"), ("stabilization", "winsorize", "clamp"), ("non_negative", "yes", "true or false"),
])
def test_bad_options_fail_at_construction(name, value, needs):
    with pytest.raises(ValueError) as err:
        create_detector("mad", {name: value})
    assert f"'{name}'" in str(err.value) and needs in str(err.value)


def test_non_negative_needs_values():
    with pytest.raises(ValueError, match="'non_negative' applies to input_type 'values'"):
        create_detector("zscore", {"non_negative": True, "input_type": "changes"})


def test_clamp_context_covers_a_second_window():
    assert create_detector("mad", {"window_size": 50, "stabilization": "clamp"}).context_size == 100
    assert create_detector("mad", {"window_size": 50}).context_size == 50


def spiky(n=600, seed=5):
    """A near-flat series with two spikes nine orders of magnitude above its spread: once
    clamped, the closed-form window sums must not keep the rounding the spikes left in them."""
    values = 100 + np.random.default_rng(seed).normal(0, 1e-3, n)
    values[200], values[400] = 1e9, -5e8
    return np.datetime64("2024-01-01", "ms") + np.arange(n) * np.timedelta64(600, "s"), values


@pytest.mark.parametrize("params", [{"window_size": 100, "stabilization": "clamp"},
                                    {"window_size": 100, "stabilization": "clamp", "seasonality_components": ["hour"]}])
def test_clamped_spikes_leave_exact_moments(params):
    stamps, values = spiky()
    out = create_detector("zscore", params).detect(stamps, values)
    expected = options_oracle.detect("zscore", params, stamps, values)
    upper = np.array([np.nan if r[2] is None else r[2] for r in expected])
    assert np.allclose(out["confidence_upper"].to_numpy(), upper, rtol=1e-9, atol=1e-9, equal_nan=True)
    assert (out["is_anomaly"].to_numpy() == np.array([r[3] for r in expected])).all()
