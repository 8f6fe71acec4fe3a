"""The public surface: output frame, calendar features, JSON spelling, batching."""

import json
import math
import random

import numpy as np
import polars as pl
import pytest

from detectkit_dagster.detection import (
    BUILTIN_FEATURES, DETECTOR_TYPES, IQRDetector, MADDetector, ManualBoundsDetector, ZScoreDetector,
    builtin_features, create_detector,
)
from detectkit_dagster.detection.jsonfmt import dumps, format_float
from detectkit_dagster.detection.seasonality import factorize, group_codes

from . import golden

COLUMNS = {
    "timestamp": pl.Datetime("ms"), "value": pl.Float64, "processed_value": pl.Float64, "is_anomaly": pl.Boolean,
    "confidence_lower": pl.Float64, "confidence_upper": pl.Float64, "severity": pl.Float64,
    "direction": pl.String, "detection_metadata": pl.String, "status": pl.String,
}


def _ts(n, step_minutes=10):
    return np.datetime64("2024-01-01T00:00", "ms") + np.arange(n) * np.timedelta64(step_minutes, "m")


@pytest.mark.parametrize("det_type,params", [("mad", {}), ("zscore", {"window_weights": "linear"}),
                                             ("iqr", {"detrend": "linear"}), ("manual_bounds", {"lower_bound": 0})])
def test_frame_schema_and_order(det_type, params):
    rng = np.random.default_rng(3)
    values = rng.normal(10, 1, 150)
    values[[5, 77]] = np.nan
    values[120] = 40
    frame = create_detector(det_type, params).detect(_ts(150), values)
    assert dict(frame.schema) == COLUMNS
    assert frame["timestamp"].to_numpy().astype("datetime64[ms]").tolist() == _ts(150).tolist()
    assert np.array_equal(frame["value"].to_numpy(), values, equal_nan=True)
    assert set(frame["status"]) <= {"ok", "missing_data", "insufficient_data"}
    for row in frame.iter_rows(named=True):
        meta = json.loads(row["detection_metadata"])
        assert list(meta) == sorted(meta)
        if row["status"] != "ok":
            assert meta["reason"] == row["status"] and row["confidence_lower"] is None and not row["is_anomaly"]
        if row["is_anomaly"]:
            assert row["direction"] == {"above": "up", "below": "down"}[meta["direction"]]
        else:
            assert row["direction"] is None and row["severity"] is None


def test_infinite_severity_is_inf_in_the_column_and_null_in_the_metadata():
    frame = create_detector("mad", {"window_size": 5, "min_samples": 3}).detect(_ts(7), [1, 1, 1, 1, 1, 1, 9.0])
    assert frame["severity"][6] == math.inf
    assert json.loads(frame["detection_metadata"][6])["severity"] is None


def test_classes_and_types():
    assert DETECTOR_TYPES == ("mad", "zscore", "iqr", "manual_bounds", "manual")
    assert isinstance(create_detector("mad", {}), MADDetector)
    assert isinstance(create_detector("zscore", {}), ZScoreDetector)
    assert isinstance(create_detector("iqr", {}), IQRDetector)
    assert isinstance(create_detector("manual", {"upper_bound": 1}), ManualBoundsDetector)
    det = create_detector("iqr", {"window_size": 50})
    assert det.params["threshold"] == 1.5 and det.params["min_samples_per_group"] == 4
    assert det.detector_params == '{"window_size":50}'


def test_inputs_may_be_lists_and_other_time_units():
    ts = np.arange(40).astype("datetime64[h]")
    frame = create_detector("mad", {"window_size": 10, "min_samples": 5}).detect(ts, list(np.sin(np.arange(40.0))))
    assert frame["timestamp"].dtype == pl.Datetime("ms") and frame.height == 40
    with pytest.raises(ValueError, match="differ in length"):
        create_detector("mad", {}).detect(ts, [1.0])


# --- calendar features ---------------------------------------------------------------

def test_builtin_features_match_the_calendar():
    from datetime import datetime, timezone
    rng = np.random.default_rng(5)
    ms = rng.integers(-2_000_000_000_000, 4_000_000_000_000, 500)
    feats = builtin_features(ms.astype("datetime64[ms]"), BUILTIN_FEATURES)
    for i, t in enumerate(ms.tolist()):
        dt = datetime.fromtimestamp(t / 1000, tz=timezone.utc)
        assert feats["hour"][i] == dt.hour and feats["day_of_week"][i] == dt.weekday()
        assert feats["day_of_month"][i] == dt.day and feats["month"][i] == dt.month
        assert feats["is_weekend"][i] == (dt.weekday() >= 5) and not feats["is_holiday"][i]
    assert feats["is_weekend"].dtype == bool and feats["hour"].dtype == np.int64


def test_builtin_features_reject_unknown_names():
    with pytest.raises(ValueError, match="Invalid seasonality column: 'week'"):
        builtin_features(_ts(3), ["hour", "week"])


def test_golden_seasonality_payloads_equal_derived_features():
    ts, _, seasonality = golden.input_series()
    derived = builtin_features(ts, ["hour", "day_of_week", "is_weekend"])
    for name in derived:
        assert [bool(v) if name == "is_weekend" else v for v in seasonality[name]] == derived[name].tolist()


def test_group_equality_follows_python_eq():
    codes = factorize(np.array([1, True, 1.0, 0, False, None, None, "1", float("nan"), float("nan")], dtype=object))
    assert codes[0] == codes[1] == codes[2] and codes[3] == codes[4] and codes[5] == codes[6]
    assert len({codes[0], codes[3], codes[5], codes[7], codes[8], codes[9]}) == 6  # NaN equals nothing
    combined = group_codes({"a": np.array([1, 1, 2, 2]), "b": np.array(["x", "y", "x", "x"])}, ["a", "b"])
    assert combined[2] == combined[3] and len(set(combined.tolist())) == 3
    assert group_codes({"a": np.array([1])}, ["a", "missing"]) is None
    assert group_codes({"a": np.array([1])}, []) is None


# --- JSON spelling ---------------------------------------------------------------------

def test_float_spelling_matches_polars():
    rng = np.random.default_rng(11)
    values = rng.normal(size=5000) * 10.0 ** rng.integers(-320, 308, 5000)
    values = np.concatenate([values[np.isfinite(values)], [0.0, -0.0, 1e-5, 1e16, 1e15, 5e-324, 0.1, 1.0]])
    spelled = pl.Series(values).cast(pl.String).to_list()
    assert [format_float(v) for v in values] == spelled
    assert format_float(float("inf")) == "null" and format_float(float("nan")) == "null"


def test_golden_float_tokens_round_trip():
    tokens = set()
    for cfg in golden.manifest():
        for row in golden.expected(cfg["name"])[::7]:
            text = row["metadata_text"]
            for piece in text.replace("{", ",").replace("}", ",").replace("[", ",").replace("]", ",").split(","):
                if ":" in piece and piece.split(":")[-1][:1] in "-0123456789":
                    tokens.add(piece.split(":")[-1])
    floats = [t for t in tokens if "." in t or "e" in t]
    assert len(floats) > 1000
    assert all(format_float(float(t)) == t for t in floats)


def test_dumps_is_compact_sorted_and_keeps_ints():
    assert dumps({"b": 1, "a": [1.0, None, True, "x"], "c": {"z": 1e-7, "y": math.inf}}) == \
        '{"a":[1.0,null,true,"x"],"b":1,"c":{"y":null,"z":1e-7}}'


# --- batching like the DETECT step (spec 5, 11.4) -------------------------------------

@pytest.mark.parametrize("name,tolerance", [("mad_plain", 0.0), ("iqr_hour", 0.0), ("zscore_sma", 1e-9),
                                            ("mad_exp_halflife_1d", 1e-9)])
def test_batches_with_context_match_one_call(name, tolerance):
    cfg = next(c for c in golden.manifest() if c["name"] == name)
    ts, values, seasonality = golden.input_series()
    det = create_detector(cfg["type"], cfg["params"])
    whole = det.detect(ts, values, seasonality)
    for start in range(0, len(ts), 250):
        lo = max(0, start - det.context_size)
        part = det.detect(ts[lo:start + 250], values[lo:start + 250],
                          {k: v[lo:start + 250] for k, v in seasonality.items()})
        part = part.slice(start - lo)
        ref = whole.slice(start, part.height)
        assert part["is_anomaly"].to_list() == ref["is_anomaly"].to_list()
        for col in ("confidence_lower", "confidence_upper"):
            a, b = part[col].to_numpy(), ref[col].to_numpy()
            assert np.allclose(a, b, rtol=tolerance, atol=0, equal_nan=True)


def test_random_detector_configs_never_crash():
    rng = random.Random(1)
    ts = _ts(300)
    values = np.random.default_rng(2).normal(50, 5, 300)
    values[rng.sample(range(300), 20)] = np.nan
    for _ in range(40):
        params = {"window_size": rng.choice([5, 30, 120]), "min_samples": 4,
                  "window_weights": rng.choice([None, "linear", "exponential"]),
                  "detrend": rng.choice([None, "linear"]), "smoothing": rng.choice([None, "ema", "sma"]),
                  "input_type": rng.choice(["values", "changes", "absolute_changes", "log_changes"]),
                  "seasonality_components": rng.choice([None, ["hour"], [["hour", "is_weekend"]], ["x"]])}
        frame = create_detector(rng.choice(["mad", "zscore", "iqr"]), params).detect(ts, values)
        assert frame.height == 300
