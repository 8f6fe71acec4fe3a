"""autotune(): the stages, the result, the fixed reference bugs, and exactness against detect()."""

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import yaml

from detectkit_dagster.alerting import replay
from detectkit_dagster.autotune import TuneSettings, autotune, parse_labels, project_labels
from detectkit_dagster.autotune.alerts import AlertSweep
from detectkit_dagster.autotune.evaluate import Candidate, Evaluator, Series, predictions
from detectkit_dagster.autotune.sample import seasonal_series
from detectkit_dagster.autotune.search import cv_folds, window_grid
from detectkit_dagster.config.alert import AlertConfig
from detectkit_dagster.config.metric import MetricConfig
from detectkit_dagster.detection import create_detector
from detectkit_dagster.errors import AutotuneError

SAMPLE = seasonal_series(6000, incidents=8, magnitude=(12.0, 25.0), seed=4)
LONG = SAMPLE.timestamps[0] + np.arange(8000) * np.timedelta64(600, "s")


@pytest.fixture(scope="module")
def supervised():
    return autotune(SAMPLE.timestamps, SAMPLE.values, 600, incidents=SAMPLE.incidents,
                    seasonality=SAMPLE.seasonality)


def _series(sample=SAMPLE) -> Series:
    return Series(sample.timestamps, sample.values, sample.seasonality, sample.interval_seconds)


def _frame_outcome(frame):
    """detect()'s output in the shape the evaluator scores."""
    lower, upper = frame["confidence_lower"].to_numpy(), frame["confidence_upper"].to_numpy()
    present = ~frame["confidence_lower"].is_null().to_numpy()
    return SimpleNamespace(processed=frame["processed_value"].to_numpy(), lower=lower, upper=upper,
                           has_lower=present, has_upper=present, anomalous=frame["is_anomaly"].to_numpy())


@pytest.mark.parametrize("detector_type, extra", [
    ("mad", {"seasonality_components": ["hour", "day_of_week"]}),
    ("zscore", {"window_weights": "exponential"}),
    ("iqr", {"seasonality_components": [["hour", "day_of_week"]], "min_samples_per_group": 4}),
    ("mad", {"detrend": "linear", "window_weights": "exponential", "half_life": 30}),
])
def test_every_threshold_flags_exactly_as_a_detector_run_from_one_statistics_pass(detector_type, extra):
    s = _series(SAMPLE.head(2500))
    evaluate = Evaluator(s, cv_folds(len(s), 144, 5), project_labels(None, s.timestamps, 600), TuneSettings())
    for threshold in TuneSettings().thresholds(detector_type):
        params = {"window_size": 144, "min_samples": 36, "threshold": threshold, **extra}
        outcome = evaluate.outcome(detector_type, params)
        frame = create_detector(detector_type, params).detect(s.timestamps, s.values, s.features)
        assert np.array_equal(outcome.anomalous, frame["is_anomaly"].to_numpy())
        expected = _frame_outcome(frame)
        assert np.array_equal(outcome.has_lower, expected.has_lower)
        assert np.array_equal(outcome.lower[outcome.has_lower], expected.lower[expected.has_lower], equal_nan=True)
        assert np.array_equal(outcome.upper[outcome.has_upper], expected.upper[expected.has_upper], equal_nan=True)
    assert len(evaluate._statistics) == 1  # one pass served every threshold


def test_an_explicit_half_life_equal_to_the_default_shares_the_statistics():
    s = _series(SAMPLE.head(2500))
    evaluate = Evaluator(s, cv_folds(len(s), 144, 5), project_labels(None, s.timestamps, 600), TuneSettings())
    default = {"window_size": 144, "min_samples": 36, "window_weights": "exponential"}  # half-life max(7.2, 18, 1)
    explicit = {**default, "half_life": 18}
    a, b = evaluate("mad", default), evaluate("mad", explicit)
    assert a.detector_id != b.detector_id and a.per_fold == b.per_fold and len(evaluate._statistics) == 1
    frame = create_detector("mad", explicit).detect(s.timestamps, s.values, s.features)
    assert np.array_equal(evaluate.outcome("mad", explicit).anomalous, frame["is_anomaly"].to_numpy())


def test_the_chosen_config_scores_the_same_from_a_plain_detector_run(supervised):
    s = _series()
    [detector] = supervised.detectors
    frame = create_detector(detector["type"], detector["params"]).detect(s.timestamps, s.values, s.features)
    windows = window_grid(len(s), 600, 5)
    evaluate = Evaluator(s, cv_folds(len(s), max(windows + [100]), 5),
                         project_labels(parse_labels(SAMPLE.incidents), s.timestamps, 600), TuneSettings())
    per_fold = evaluate.fold_scores(predictions(_frame_outcome(frame)))
    assert per_fold == pytest.approx(list(supervised.per_fold), abs=0) and supervised.per_fold


def test_the_result_describes_every_decision(supervised):
    r = supervised
    assert r.mode == "supervised" and r.scores["metric"] == "mcc" and len(r.scores["per_fold"]) >= 1
    assert r.scores["candidates_evaluated"] == len({c["detector_id"] for c in r.candidates}) >= 30
    stages = [d["stage"] for d in r.decisions]
    assert stages[:3] == ["labels", "seasonality", "detector_select"]
    assert stages.count("grid_search") == 3 and stages[-2:] == ["window", "window"]
    assert r.decisions[0]["message"].startswith("8 interval(s) + 0 point(s) → supervised mode")
    assert 1 <= r.alerting["consecutive_anomalies"] <= 5
    create_detector(r.detectors[0]["type"], r.detectors[0]["params"])  # loadable as is
    best = max(r.candidates, key=lambda c: c["score"])
    assert r.score == best["score"] and r.detector_id == best["detector_id"]


def test_the_yaml_header_walks_the_decisions_and_the_body_is_the_tuned_fields(supervised):
    text = supervised.yaml
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert f"(run_id: {supervised.run_id})" in header[1]
    assert any(line.startswith("# SEASONALITY : ") for line in header)
    assert sum(line.startswith("# GRID SEARCH : ") for line in header) == 3
    assert any(line.startswith("# WINDOW      : consecutive_anomalies=") for line in header)
    body = yaml.safe_load(text)
    assert body["detectors"] == [{"type": supervised.detector_type,
                                  "params": {**supervised.detector_params, "start_time": "2025-01-06 00:00:00"}}]
    assert body["alerting"] == [supervised.alerting]


def test_the_run_id_depends_on_inputs_and_outcome_only():
    again = [autotune(SAMPLE.timestamps[:3000], SAMPLE.values[:3000], 600, settings={"detector_types": ["zscore"]})
             for _ in range(2)]
    assert again[0].run_id == again[1].run_id and len(again[0].run_id) == 6
    shifted = autotune(SAMPLE.timestamps[1:3001], SAMPLE.values[1:3001], 600, settings={"detector_types": ["zscore"]})
    assert shifted.run_id != again[0].run_id  # another training window


def test_a_pinned_threshold_sticks():
    """Reference bug: fixed_params were overridden by the search ({threshold: 4.2} gave 2.5)."""
    r = autotune(SAMPLE.timestamps[:3000], SAMPLE.values[:3000], 600,
                 settings={"detector_types": ["mad"], "fixed_params": {"threshold": 4.2, "min_samples_per_group": 5}})
    assert r.detector_params["threshold"] == 4.2 and r.detector_params["min_samples_per_group"] == 5
    assert {c["params"]["threshold"] for c in r.candidates} == {4.2}


def test_a_pinned_window_is_the_only_window():
    r = autotune(SAMPLE.timestamps[:3000], SAMPLE.values[:3000], 600,
                 settings={"detector_types": ["zscore"], "fixed_params": {"window_size": 48}})
    assert {c["params"]["window_size"] for c in r.candidates} == {48}


def test_force_seasonality_as_a_bare_string():
    """Reference bug: `force_seasonality: hour` was rejected; it means [hour]."""
    r = autotune(SAMPLE.timestamps[:3000], SAMPLE.values[:3000], 600,
                 settings={"force_seasonality": "hour", "detector_types": ["zscore"]})
    assert r.seasonality == ["hour"]
    assert r.decisions[1]["message"] == "forced seasonality hour (search skipped)"
    assert all(c["params"]["seasonality_components"] == ["hour"] for c in r.candidates)


def test_the_alert_sweep_scores_only_what_cross_validation_scores():
    """Reference bug: the alert sweep also scored the warm-up that CV never scores."""
    sample = SAMPLE.head(3000)
    warm_up = [{"start": "2025-01-06 03:00:00", "end": "2025-01-06 05:00:00"}]  # inside the first 144 points
    runs = [autotune(sample.timestamps, sample.values, 600, incidents=labels, seasonality=sample.seasonality,
                     settings={"detector_types": ["mad"]})
            for labels in (sample.incidents, sample.incidents + warm_up)]
    assert runs[1].labels_summary["positive_grid_points"] > runs[0].labels_summary["positive_grid_points"]
    sweeps = [[d["fields"] for d in r.decisions if d["stage"] == "window"] for r in runs]
    assert sweeps[0] == sweeps[1] and runs[0].alerting == runs[1].alerting


def test_a_flat_noisy_series_keeps_seasonality_empty():
    rng = np.random.default_rng(5)
    r = autotune(LONG, 50 + rng.normal(0, 2, 8000), 600, settings={"detector_types": ["zscore"]})
    assert r.seasonality is None and "chose none" in r.decisions[1]["message"]
    assert "seasonality_components" not in r.detector_params


def test_a_strong_daily_cycle_picks_hour():
    rng = np.random.default_rng(6)
    t = np.arange(8000)
    values = 100 + 30 * np.sin(2 * np.pi * t / 144) + rng.normal(0, 2, 8000)
    r = autotune(LONG, values, 600, settings={"detector_types": ["zscore"]})
    assert r.seasonality[0] == "hour" and r.decisions[1]["message"].startswith("chose hour")


def test_max_history_keeps_the_most_recent_points():
    r = autotune(SAMPLE.timestamps[:4000], SAMPLE.values[:4000], 600,
                 settings={"max_history": 2500, "detector_types": ["zscore"]})
    assert r.n_points == 2500 and r.training_start == SAMPLE.timestamps[1500].item()


def test_with_the_original_metric_the_yaml_is_a_valid_tuned_metric():
    original = {
        "name": "orders", "interval": "10min", "loading_start_time": "2024-01-01 00:00:00",
        "query": "SELECT ts, v FROM t\nWHERE ts >= '{{ dtk_start_time }}'", "tags": ["shop"],
        "detectors": [{"type": "mad", "params": {}}],
        "alerting": [{"channels": ["ops"], "consecutive_anomalies": 4, "alert_cooldown": "1h"}, {"channels": ["x"]}],
        "autotune": {"folds": 3},
    }
    r = autotune(SAMPLE.timestamps[:3000], SAMPLE.values[:3000], 600, incidents=SAMPLE.head(3000).incidents,
                 settings={"detector_types": ["zscore"]}, metric=original, source="metrics/orders.yml")
    body = yaml.safe_load(r.yaml)
    assert body["name"] == f"orders__tuned_{r.run_id}" == r.tuned_name
    assert body["query"] == original["query"] and body["tags"] == ["shop"] and body["interval"] == "10min"
    assert body["loading_start_time"] == "2025-01-06 00:00:00" and "autotune" not in body
    assert body["alerting"] == [{"channels": ["ops"], "alert_cooldown": "1h", "min_detectors": 1,
                                 **r.alerting, "enabled": False}]
    assert "# Generated from: metrics/orders.yml" in r.yaml
    MetricConfig.model_validate(body)


@pytest.mark.parametrize("call, message", [
    (lambda: autotune(SAMPLE.timestamps[:100], SAMPLE.values[:100], 600),
     "not enough datapoints (100) for 5-fold cross-validation with a 100-point context window"),
    (lambda: autotune(SAMPLE.timestamps[::-1], SAMPLE.values, 600), "timestamps must be strictly ascending"),
    (lambda: autotune(SAMPLE.timestamps, SAMPLE.values, 3600), "timestamps are not on a regular 1h grid"),
    (lambda: autotune(SAMPLE.timestamps, SAMPLE.values[:10], 600), "timestamps and values must be 1-d arrays"),
    (lambda: autotune(SAMPLE.timestamps, SAMPLE.values, 600, settings={"folds": 1}), "autotune.folds"),
    (lambda: autotune(SAMPLE.timestamps, SAMPLE.values, 600, incidents=[{"start": "x", "end": "y"}]),
     "incidents[0].start: 'x' is not a time"),
    (lambda: autotune(SAMPLE.timestamps, np.full(len(SAMPLE.values), np.nan), 600),
     "no datapoints with a value to tune on"),
    (lambda: autotune(SAMPLE.timestamps, SAMPLE.values, 600, settings={"fixed_params": {"min_samples": 5000}}),
     "no viable detector candidate found for this data"),
])
def test_bad_input_gets_one_clear_error(call, message):
    with pytest.raises(AutotuneError) as error:
        call()
    assert message in str(error.value)


@pytest.mark.parametrize("rule", [
    {"consecutive_anomalies": 2},
    {"consecutive_anomalies": 3, "alert_cooldown": "2h", "direction": "down"},
    {"consecutive_anomalies": 4, "anomaly_window": "2h", "min_anomaly_share": 0.5, "cooldown_reset_on_recovery": False,
     "alert_cooldown": "1h"},
])
def test_the_alert_sweep_replays_exactly_what_a_full_replay_of_the_detections_gives(rule):
    s = _series(SAMPLE.head(3000))
    params = {"window_size": 144, "min_samples": 36, "threshold": 1.8, "seasonality_components": ["hour"]}
    truth = project_labels(parse_labels(SAMPLE.head(3000).incidents), s.timestamps, 600)
    evaluate = Evaluator(s, cv_folds(len(s), 144, 5), truth, TuneSettings())
    winner = Candidate("mad", params, "", 0.0, (), 0.0)
    config = AlertConfig(notify_on_recovery=True, **rule)
    alerts, open_flags = AlertSweep(s, winner, evaluate, truth, 144, TuneSettings()).alerts(config)

    detector = create_detector("mad", params)
    frame = detector.detect(s.timestamps, s.values, s.features)
    events = replay(frame.with_columns(detector_id=pl.lit("x"), detector_name=pl.lit("MADDetector"),
                                       detector_params=pl.lit("{}")),
                    frame.select("timestamp", "value"), config, 600, s.timestamps[0].item(), s.timestamps[-1].item())
    index = np.searchsorted(s.timestamps, events["timestamp"].to_numpy().astype("datetime64[ms]"))
    kinds = np.array(events["kind"].to_list())
    assert len(alerts) >= 4 and alerts.tolist() == index[kinds == "anomaly"].tolist()
    recoveries = index[kinds == "recovery"]
    assert not open_flags[recoveries].any() and open_flags[alerts].all()
