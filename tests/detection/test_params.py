"""Every invalid detector param fails at construction with one clear ValueError."""

import math

import pytest

from detectkit_dagster.detection import DETECTOR_TYPES, create_detector

BAD_WINDOWED = [
    ("threshold", 0), ("threshold", -1.5), ("threshold", "3"), ("threshold", True), ("threshold", math.nan),
    ("window_size", 0), ("window_size", 100.0), ("window_size", "100"), ("window_size", True), ("window_size", None),
    ("min_samples", 0), ("min_samples", 101), ("min_samples", 30.0),
    ("min_samples_per_group", 0), ("min_samples_per_group", 2.5),
    ("input_type", "Values"), ("input_type", "diff"), ("input_type", None),
    ("smoothing", "ewma"), ("smoothing", "EMA"),
    ("smoothing_alpha", 0), ("smoothing_alpha", 1.5), ("smoothing_alpha", "0.3"), ("smoothing_alpha", None),
    ("smoothing_window", 0), ("smoothing_window", 2.0),
    ("window_weights", "exp"), ("window_weights", "Linear"),
    ("half_life", 0), ("half_life", 1.5), ("half_life", "1w"), ("half_life", "12"), ("half_life", True),
    ("weight_decay", 1), ("weight_decay", 0), ("weight_decay", 1.5), ("weight_decay", "0.9"),
    ("detrend", "quadratic"), ("detrend", True),
    ("seasonality_components", "hour"), ("seasonality_components", [1]),
    ("seasonality_components", [["hour", 2]]), ("seasonality_components", {"hour": 1}),
]


@pytest.mark.parametrize("det_type", ["mad", "zscore", "iqr"])
@pytest.mark.parametrize("name,value", BAD_WINDOWED, ids=[f"{n}={v!r}" for n, v in BAD_WINDOWED])
def test_bad_windowed_param(det_type, name, value):
    with pytest.raises(ValueError) as err:
        create_detector(det_type, {name: value})
    message = str(err.value)
    assert f"'{name}'" in message and det_type in message
    assert repr(value) in message or name == "min_samples"


@pytest.mark.parametrize("det_type,name,value,allowed", [
    ("mad", "min_samples", 0, ">= 1"), ("zscore", "min_samples", 1, ">= 2"), ("iqr", "min_samples", 3, ">= 4"),
    ("iqr", "min_samples_per_group", 3, ">= 4"), ("zscore", "min_samples_per_group", 0, ">= 1"),
])
def test_class_specific_floors(det_type, name, value, allowed):
    with pytest.raises(ValueError, match=allowed):
        create_detector(det_type, {name: value})


def test_min_samples_above_window():
    with pytest.raises(ValueError, match=r"'min_samples' must be <= window_size \(20\), got 30"):
        create_detector("mad", {"window_size": 20})


def test_message_format():
    with pytest.raises(ValueError) as err:
        create_detector("mad", {"window_size": 0})
    assert str(err.value) == "mad detector: param 'window_size' must be an integer >= 1, got 0"


def test_unknown_param_suggests_the_near_miss():
    with pytest.raises(ValueError) as err:
        create_detector("mad", {"treshold": 3})
    message = str(err.value)
    assert message.startswith("mad detector: unknown param 'treshold'; did you mean 'threshold'? Allowed: ")
    assert "window_size" in message


def test_half_life_and_weight_decay_are_exclusive():
    with pytest.raises(ValueError, match="'half_life' and 'weight_decay' are mutually exclusive"):
        create_detector("mad", {"window_weights": "exponential", "half_life": 10, "weight_decay": 0.9})


def test_inactive_params_are_still_validated():
    with pytest.raises(ValueError, match="smoothing_alpha"):
        create_detector("mad", {"smoothing_alpha": 2})


@pytest.mark.parametrize("params,name", [
    ({}, "lower_bound"), ({"lower_bound": None, "upper_bound": None}, "lower_bound"),
    ({"lower_bound": 10, "upper_bound": 10}, "lower_bound"), ({"lower_bound": 20.0, "upper_bound": 10.0}, "lower_bound"),
    ({"upper_bound": "90"}, "upper_bound"), ({"upper_bound": True}, "upper_bound"),
    ({"lower_bound": math.nan}, "lower_bound"),
    ({"upper_bound": 90, "input_type": "pct"}, "input_type"),
    ({"upper_bound": 90, "window_size": 10}, "window_size"),
])
def test_bad_manual_params(params, name):
    with pytest.raises(ValueError) as err:
        create_detector("manual_bounds", params)
    assert f"'{name}'" in str(err.value) and "manual_bounds" in str(err.value)


@pytest.mark.parametrize("det_type", ["prophet", "timesfm"])
def test_unimplemented_types(det_type):
    with pytest.raises(ValueError, match="not supported by this project"):
        create_detector(det_type, {})


def test_unknown_type():
    with pytest.raises(ValueError, match=r"Unknown detector type 'zcore'; did you mean 'zscore'\?"):
        create_detector("zcore", {})
    with pytest.raises(ValueError, match="Supported types: iqr, mad, manual, manual_bounds, zscore"):
        create_detector("foo", {})


@pytest.mark.parametrize("params,name", [
    ({"start_time": 20240101}, "start_time"), ({"start_time": "yesterday"}, "start_time"),
    ({"batch_size": -1}, "batch_size"), ({"batch_size": 10.0}, "batch_size"),
])
def test_bad_execution_params(params, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        create_detector("mad", params)


def test_valid_params_keep_their_types_and_defaults():
    det = create_detector("zscore", {"threshold": 2, "window_size": 50, "min_samples": 10})
    assert det.params["threshold"] == 2 and isinstance(det.params["threshold"], int)
    assert det.params["min_samples_per_group"] == 3 and det.params["smoothing_alpha"] == 0.3
    assert det.detector_params == '{"min_samples":10,"threshold":2,"window_size":50}'
    assert create_detector("MAD", {}).detector_name == "MADDetector"
    assert set(DETECTOR_TYPES) == {"mad", "zscore", "iqr", "manual_bounds", "manual"}
