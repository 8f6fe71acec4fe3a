"""The `autoreg` detector against its slow per-point oracle, its statuses, params and id."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detection import autoreg_oracle
from detectkit_dagster.detection import create_detector

STEP = np.timedelta64(600, "s")


def series(n=1500, seed=3, level=50.0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = level + 10 * np.sin(2 * np.pi * t / 144) + rng.normal(0, 1, n)
    values[300] += 20
    values[700:760] += 8
    values[1000:1300] += 5
    values[rng.choice(n, 20, replace=False)] = np.nan
    return np.datetime64("2024-01-01", "ms") + t * STEP, values


def spiky(n=600, seed=5):
    values = 100 + np.random.default_rng(seed).normal(0, 1e-3, n)
    values[200], values[400] = 1e9, -5e8
    return np.datetime64("2024-01-01", "ms") + np.arange(n) * STEP, values


CASES = [
    ({}, series()),
    ({"stabilization": None}, series()),
    ({"lags": 2, "window_size": 60, "min_samples": 10}, series()),
    ({"lags": 1, "window_size": 40, "min_samples": 10}, series()),  # a 1 x 1 system, no products of two lags
    ({"threshold": 4.0}, series(level=1e6)),  # far from zero: the sums are taken around a local level
    ({"min_relative_spread": 0.05, "min_change": 2.0, "non_negative": True}, series()),
    ({"input_type": "absolute_changes", "lags": 3}, series()),
    ({}, spiky()),  # clamped spikes far above a flat level: fits must not keep their rounding
]


@pytest.mark.parametrize("params,data", CASES, ids=[json.dumps(p) for p, _ in CASES])
def test_engine_equals_the_per_point_oracle(params, data):
    stamps, values = data
    out = create_detector("autoreg", params).detect(stamps, values)
    expected = autoreg_oracle.detect(params, values)
    assert out["status"].to_list() == [r[0] for r in expected]
    for column, k in (("confidence_lower", 1), ("confidence_upper", 2)):
        reference = np.array([np.nan if r[k] is None else r[k] for r in expected])
        assert np.allclose(out[column].to_numpy(), reference, rtol=1e-9, atol=1e-9, equal_nan=True)
    assert (out["is_anomaly"].to_numpy() == np.array([r[3] for r in expected])).all()
    meta = [json.loads(m) for m in out["detection_metadata"]]
    sigma = np.array([m.get("sigma_r", np.nan) for m in meta], dtype=float)
    assert np.allclose(sigma, [np.nan if r[5] is None else r[5] for r in expected], rtol=1e-8, equal_nan=True)
    assert [m.get("fit_points", 0) for m in meta] == [r[6] for r in expected]


def test_clamps_reaching_the_next_run_of_flags_walk_on_into_it():
    """Runs of flags further apart than window + lags are clamped independently, until a clamp
    flags a point the run had hidden and its reach takes in the next run (570 and 640 are 70
    apart, but once clamped 603 is flagged too and reaches 640): the walk must then go on as
    one, as point by point."""
    rng = np.random.default_rng(14)
    values = 50 + np.cumsum(rng.normal(0, 0.3, 700)) * 0.2 + rng.normal(0, 1, 700)
    for start in range(150, 650, 70):
        values[start:start + rng.integers(1, 8)] += rng.choice([-1, 1]) * rng.uniform(3.5, 12)
    stamps = np.datetime64("2024-01-01", "ms") + np.arange(700) * STEP
    params = {"window_size": 60, "lags": 2, "min_samples": 10}
    plain = create_detector("autoreg", params | {"stabilization": None}).detect(stamps, values)
    assert np.flatnonzero(plain["is_anomaly"].to_numpy()[560:]).tolist() == [10, 80, 82]
    out = create_detector("autoreg", params).detect(stamps, values)
    assert out["is_anomaly"][603]
    expected = autoreg_oracle.detect(params, values)
    assert (out["is_anomaly"].to_numpy() == np.array([r[3] for r in expected])).all()
    for column, k in (("confidence_lower", 1), ("confidence_upper", 2)):
        reference = np.array([np.nan if r[k] is None else r[k] for r in expected])
        assert np.allclose(out[column].to_numpy(), reference, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_prefix_sums_through_a_spike_leave_the_flat_windows_after_it_exact():
    n, spike = 900, 100
    values = 100 + np.random.default_rng(9).normal(0, 1e-3, n)
    values[spike] = 1e9
    stamps = np.datetime64("2024-01-01", "ms") + np.arange(n) * STEP
    params = {"stabilization": None}
    out = create_detector("autoreg", params).detect(stamps, values)
    expected = autoreg_oracle.detect(params, values)
    after = spike + 200 + 5 + 1  # windows and lags without the spike
    reference = np.array([r[2] for r in expected[after:]])
    assert np.allclose(out["confidence_upper"].to_numpy()[after:], reference, rtol=1e-9, atol=0)


def test_a_flag_on_the_newest_point_is_walked_like_any():
    # where a live detection sees an incident start
    values = 50 + np.random.default_rng(0).normal(0, 1, 300)
    values[[150, 299]] += 100
    stamps = np.datetime64("2024-01-01", "ms") + np.arange(len(values)) * STEP
    params = {"window_size": 20, "min_samples": 10}
    out = create_detector("autoreg", params).detect(stamps, values)
    assert out["is_anomaly"].to_list() == [r[3] for r in autoreg_oracle.detect(params, values)]
    assert out["is_anomaly"][-1]


@pytest.mark.parametrize("n", [0, 1, 4, 5, 6])
def test_fewer_points_than_lags_have_none_to_fit(n):
    stamps = np.datetime64("2024-01-01", "ms") + np.arange(n) * STEP
    out = create_detector("autoreg", {}).detect(stamps, 50.0 + np.arange(n))
    assert out["status"].to_list() == ["missing_lags"] * min(n, 5) + ["insufficient_data"] * (n - min(n, 5))


def test_clamp_keeps_a_spike_out_of_later_fits():
    stamps, values = series()
    plain = create_detector("autoreg", {"stabilization": None}).detect(stamps, values)
    clamped = create_detector("autoreg", {}).detect(stamps, values)
    after = slice(301, 480)  # fits whose window holds the spike at 300
    sigma = lambda frame: np.array([json.loads(m).get("sigma_r", np.nan) for m in frame["detection_metadata"]])  # noqa: E731
    assert np.nanmean(sigma(clamped)[after]) < 0.8 * np.nanmean(sigma(plain)[after])
    assert json.loads(clamped["detection_metadata"][310])["stabilized_in_window"] >= 1


def test_statuses_and_metadata():
    stamps, values = series(n=400)
    out = create_detector("autoreg", {"lags": 3, "min_samples": 20}).detect(stamps, values)
    first = [json.loads(m) for m in out["detection_metadata"][:25]]
    assert [m["reason"] for m in first[:3]] == ["missing_lags"] * 3
    assert first[3] == {"fit_points": 0, "min_samples": 20, "reason": "insufficient_data"}
    ok = out.filter(out["status"] == "ok")
    assert set(json.loads(ok["detection_metadata"][0])) >= {"fit_points", "prediction", "sigma_r"}


def test_params_ids_and_validation():
    det = create_detector("autoreg", {})
    assert det.detector_name == "AutoregDetector" and det.detector_params == "{}"
    assert det.context_size == 200 + 5 + 200  # window + lags + one more window for the clamps
    assert create_detector("autoreg", {"seasonality_components": None}).detector_id == det.detector_id
    assert create_detector("autoreg", {"stabilization": None}).detector_id != det.detector_id
    for params, needle in [({"lags": 0}, "'lags'"), ({"window_size": 6}, "'window_size'"),
                           ({"min_samples": 201}, "'min_samples'"), ({"threshold": -1}, "'threshold'"),
                           ({"seasonality_components": ["hour"]}, "'seasonality_components'"),
                           ({"smoothing": "ema"}, "unknown param 'smoothing'")]:
        with pytest.raises(ValueError, match=needle):
            create_detector("autoreg", params)
