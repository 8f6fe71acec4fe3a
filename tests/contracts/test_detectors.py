"""The detector contract of ``detectkit_dagster.detection.base``, checked for every registered detector."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from detectkit_dagster.detection import DETECTORS, create_detector
from detectkit_dagster.detection.base import OUTPUT_SCHEMA, STATUSES, Detector

REGISTERED = tuple(DETECTORS)

# Configurations each detector type is checked with: its defaults and its options. A detector
# registered without an entry here fails test_every_detector_is_covered.
CONFIGS = {
    "mad": [{}, {"window_size": 60, "stabilization": "clamp", "min_spread": 0.5, "min_change": 1.0,
                 "non_negative": True}, {"window_size": 72, "seasonality_components": ["hour"], "min_samples_per_group": 3,
                                        "window_weights": "exponential", "stabilization": "clamp"}],
    "zscore": [{}, {"window_size": 60, "stabilization": "clamp", "min_relative_spread": 0.05},
               {"window_size": 50, "input_type": "changes", "smoothing": "sma", "min_relative_change": 0.01}],
    "iqr": [{}, {"window_size": 80, "stabilization": "clamp", "detrend": "linear", "min_spread": 1.0}],
    "manual_bounds": [{"lower_bound": 45.0, "upper_bound": 70.0}, {"upper_bound": 3.0, "input_type": "absolute_changes"}],
    "manual": [{"lower_bound": 50.0}],
    "autoreg": [{}, {"stabilization": None, "lags": 2, "window_size": 60, "min_samples": 12},
                {"input_type": "log_changes", "min_relative_spread": 0.01, "min_change": 0.01}],
}
CASES = [(t, p) for t in REGISTERED for p in CONFIGS.get(t, [])]
IDS = [f"{t}-{i}" for t in REGISTERED for i, _ in enumerate(CONFIGS.get(t, []))]


def series(n: int = 900, seed: int = 5):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 60 + 8 * np.sin(2 * np.pi * t / 144) + rng.normal(0, 1.5, n)
    values[200] += 30
    values[420:470] -= 12       # an incident
    values[600:] += 6           # a level shift
    values[[50, 51, 300, 700]] = np.nan
    values[350] = np.inf
    stamps = np.datetime64("2024-03-01T00:00", "ms") + t * np.timedelta64(600, "s")
    return stamps, values


def test_every_detector_is_covered():
    assert set(REGISTERED) == set(CONFIGS)


@pytest.fixture(scope="module")
def runs():
    stamps, values = series()
    return {(t, json.dumps(p, sort_keys=True)): create_detector(t, p).detect(stamps, values) for t, p in CASES}


def run_of(runs, det_type, params):
    return runs[(det_type, json.dumps(params, sort_keys=True))]


@pytest.mark.parametrize("det_type,params", CASES, ids=IDS)
def test_identity(det_type, params):
    det = create_detector(det_type, params)
    assert isinstance(det, Detector)
    assert re.fullmatch(r"[0-9a-f]{16}", det.detector_id)
    assert det.detector_name.endswith("Detector")
    kept = json.loads(det.detector_params)
    assert list(kept) == sorted(kept) and all(det.params[name] == value for name, value in kept.items())
    assert det.context_size >= 0 and det.input_type == det.params["input_type"]
    # execution params never change the id; a hashed param does
    again = create_detector(det_type, params | {"start_time": "2024-01-01 00:00:00", "batch_size": 10})
    assert again.detector_id == det.detector_id and again.batch_size == 10
    changed = params | ({"upper_bound": 99.0} if det_type.startswith("manual") else {"threshold": 2.5})
    assert create_detector(det_type, changed).detector_id != det.detector_id


@pytest.mark.parametrize("det_type", REGISTERED)
def test_unknown_param_is_rejected(det_type):
    base = CONFIGS[det_type][0]
    with pytest.raises(ValueError, match="'wndow_size'"):
        create_detector(det_type, base | {"wndow_size": 10})


@pytest.mark.parametrize("det_type,params", CASES, ids=IDS)
def test_output_schema_and_rows(runs, det_type, params):
    stamps, values = series()
    out = run_of(runs, det_type, params)
    assert dict(out.schema) == OUTPUT_SCHEMA
    assert out.height == len(values)
    assert (out["timestamp"].to_numpy() == stamps).all()
    assert np.array_equal(out["value"].to_numpy(), values, equal_nan=True)


@pytest.mark.parametrize("det_type,params", CASES, ids=IDS)
def test_flags_agree_with_bounds(runs, det_type, params):
    out = run_of(runs, det_type, params)
    assert set(out["status"].unique()) <= set(STATUSES)
    ok = out["status"] == "ok"
    assert not out.filter(~ok)["is_anomaly"].any()
    assert out.filter(~ok)["confidence_lower"].is_null().all() and out.filter(~ok)["confidence_upper"].is_null().all()
    evaluated = out.filter(ok)
    x = evaluated["processed_value"].to_numpy()
    lower = evaluated["confidence_lower"].fill_null(-np.inf).to_numpy()
    upper = evaluated["confidence_upper"].fill_null(np.inf).to_numpy()
    with np.errstate(invalid="ignore"):
        above, below = x > upper, x < lower
    flagged = evaluated["is_anomaly"].to_numpy()
    assert (flagged == (above | below)).all()
    assert (evaluated["direction"].to_numpy()[above] == "up").all()
    assert (evaluated["direction"].to_numpy()[below] == "down").all()
    assert evaluated.filter(~pl.col("is_anomaly"))["direction"].is_null().all()
    severity = evaluated["severity"].to_numpy()
    assert np.all(severity[flagged] >= 0) and out.filter(~pl.col("is_anomaly"))["severity"].is_null().all()
    assert flagged.any(), "the test series has anomalies every detector should see"


@pytest.mark.parametrize("det_type,params", CASES, ids=IDS)
def test_metadata_is_sorted_json_with_reasons(runs, det_type, params):
    out = run_of(runs, det_type, params)
    for text, status in zip(out["detection_metadata"], out["status"]):
        meta = json.loads(text)
        assert list(meta) == sorted(meta)
        if status != "ok":
            assert meta["reason"] == status


@pytest.mark.parametrize("det_type,params", CASES, ids=IDS)
def test_causal(runs, det_type, params):
    """Detecting a prefix of the series gives the prefix of the rows."""
    stamps, values = series()
    full = run_of(runs, det_type, params)
    for cut in (430, 650):
        head = create_detector(det_type, params).detect(stamps[:cut], values[:cut])
        expected = full.head(cut)
        assert (head["is_anomaly"] == expected["is_anomaly"]).all()
        assert (head["status"] == expected["status"]).all()
        for column in ("confidence_lower", "confidence_upper"):
            a, b = head[column].to_numpy(), expected[column].to_numpy()
            assert np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("det_type,params", CASES, ids=IDS)
def test_degenerate_inputs(det_type, params):
    det = create_detector(det_type, params)
    stamps = np.datetime64("2024-03-01T00:00", "ms") + np.arange(5) * np.timedelta64(600, "s")
    empty = det.detect(stamps[:0], np.array([]))
    assert dict(empty.schema) == OUTPUT_SCHEMA and empty.height == 0
    missing = det.detect(stamps, np.full(5, np.nan))
    assert missing.height == 5 and not missing["is_anomaly"].any()
