"""`search_options`: the search also tries the detector options beyond the reference (spread
floors, minimum change, non-negative bounds, clamping, the autoreg detector) and recovery
hysteresis in the alert sweep; off by default, exact against detect() when on."""

import numpy as np
import polars as pl
import pytest

from detectkit_dagster.alerting import replay
from detectkit_dagster.autotune import TuneSettings, autotune, parse_labels, project_labels
from detectkit_dagster.autotune.alerts import AlertSweep
from detectkit_dagster.autotune.evaluate import OPTION_PARAMS, Candidate, Evaluator, Series, predictions
from detectkit_dagster.autotune.sample import seasonal_series
from detectkit_dagster.autotune.search import cv_folds, window_grid
from detectkit_dagster.config.alert import AlertConfig
from detectkit_dagster.config.metric import SEARCH_OPTIONS
from detectkit_dagster.config.project import load_metric
from detectkit_dagster.detection import BUILTIN_FEATURES, builtin_features, create_detector
from detectkit_dagster.errors import AutotuneError, ConfigError

FLOORS = {"min_spread", "min_relative_spread", "min_change", "min_relative_change"}
MINUTE = np.timedelta64(60, "s")


def stamp(ts, i: int) -> str:
    return str(ts[i].astype("datetime64[s]")).replace("T", " ")


class Gauge:
    """Three days of a gauge at 12 that reads 11 for single minutes now and then (twice in a
    row once in a while), with four real drops to 8 for 30 minutes, labeled."""

    drops = (1200, 2000, 3000, 3900)

    def __init__(self):
        n = 3 * 24 * 60
        self.ts = np.datetime64("2026-05-01", "ms") + np.arange(n) * MINUTE
        self.values = np.full(n, 12.0)
        self.values[np.arange(97, n, 173)] = 11.0
        self.values[np.arange(98, n, 331)] = 11.0
        self.real = np.zeros(n, dtype=bool)
        for start in self.drops:
            self.values[start:start + 30] = 8.0
            self.real[start:start + 30] = True
        self.incidents = [{"start": stamp(self.ts, d), "end": stamp(self.ts, d + 29)} for d in self.drops]

    def tune(self, settings):
        return autotune(self.ts, self.values, 60, incidents=self.incidents, settings=settings)

    def series(self) -> Series:
        return Series(self.ts, self.values, builtin_features(self.ts, BUILTIN_FEATURES), 60)

    def evaluator(self) -> Evaluator:
        s = self.series()
        truth = project_labels(parse_labels(self.incidents), s.timestamps, 60)
        return Evaluator(s, cv_folds(len(s), max(window_grid(len(s), 60, 5) + [100]), 5), truth, TuneSettings())


GAUGE = Gauge()


@pytest.fixture(scope="module")
def gauge_runs():
    return GAUGE.tune({}), GAUGE.tune({"search_options": True})


def detections(result, ts, values):
    detector = create_detector(result.detector_type, result.detector_params)
    frame = detector.detect(ts, values)
    return frame, frame.with_columns(detector_id=pl.lit(detector.detector_id), detector_name=pl.lit(detector.detector_name),
                                     detector_params=pl.lit(detector.detector_params))


def test_options_quiet_a_flat_integer_gauge_that_the_default_search_cannot(gauge_runs):
    default, tuned = gauge_runs
    # every config the default search tried flags the 11s: it has no way around a zero-spread window
    evaluate = GAUGE.evaluator()
    for candidate in default.candidates:
        flagged = evaluate.outcome(candidate["detector_type"], candidate["params"]).anomalous
        assert (flagged & ~GAUGE.real).any(), candidate
    assert all(not set(c["params"]) & set(OPTION_PARAMS) for c in default.candidates)

    assert set(tuned.detector_params) & FLOORS
    frame, rows = detections(tuned, GAUGE.ts, GAUGE.values)
    flagged = frame["is_anomaly"].to_numpy()
    assert not (flagged & ~GAUGE.real).any()
    events = replay(rows, frame.select("timestamp", "value"), AlertConfig(**tuned.alerting), 60,
                    GAUGE.ts[0].item(), GAUGE.ts[-1].item())
    alerts = np.searchsorted(GAUGE.ts, events.filter(pl.col("kind") == "anomaly")["timestamp"].to_numpy()
                             .astype("datetime64[ms]"))
    assert GAUGE.real[alerts].all()
    assert all(start in alerts for start in GAUGE.drops)  # each drop pages at its first minute
    assert tuned.score > default.score


def test_the_chosen_options_config_scores_the_same_from_a_plain_detector_run(gauge_runs):
    _, tuned = gauge_runs
    frame, _ = detections(tuned, GAUGE.ts, GAUGE.values)
    present = ~frame["confidence_lower"].is_null().to_numpy()
    outcome = type("Frame", (), {
        "processed": frame["processed_value"].to_numpy(), "lower": frame["confidence_lower"].to_numpy(),
        "upper": frame["confidence_upper"].to_numpy(), "has_lower": present, "has_upper": present,
        "anomalous": frame["is_anomaly"].to_numpy()})
    assert GAUGE.evaluator().fold_scores(predictions(outcome)) == list(tuned.per_fold) and tuned.per_fold


SAMPLE = seasonal_series(6000, incidents=8, magnitude=(12.0, 25.0), seed=4).head(2500)
SEASONAL = Series(SAMPLE.timestamps, SAMPLE.values, SAMPLE.seasonality, 600)


@pytest.mark.parametrize("detector_type, base, variants", [
    ("zscore", {"seasonality_components": ["hour"]},
     [{"min_relative_spread": 0.05}, {"min_change": 3.0}, {"non_negative": True}, {"stabilization": "clamp"},
      {"stabilization": "clamp", "min_spread": 4.0}]),
    ("mad", {"seasonality_components": ["hour"]}, [{"stabilization": "clamp"}, {"min_relative_change": 0.02}]),
    ("iqr", {}, [{"stabilization": "clamp", "min_spread": 1.0}]),
    ("autoreg", {}, [{}, {"stabilization": None}, {"min_relative_spread": 0.05}, {"min_change": 2.0}]),
])
def test_thresholds_and_options_flag_exactly_as_a_detector_run_from_one_statistics_pass(detector_type, base,
                                                                                         variants):
    evaluate = Evaluator(SEASONAL, cv_folds(len(SEASONAL), 144, 5), project_labels(None, SEASONAL.timestamps, 600),
                         TuneSettings())
    for variant in variants:
        for threshold in (2.5, 4.0):
            params = {"window_size": 144, "min_samples": 36, "threshold": threshold, **base, **variant}
            outcome = evaluate.outcome(detector_type, params)
            frame = create_detector(detector_type, params).detect(SEASONAL.timestamps, SEASONAL.values, SEASONAL.features)
            assert np.array_equal(outcome.anomalous, frame["is_anomaly"].to_numpy())
            present = ~frame["confidence_lower"].is_null().to_numpy()
            assert np.array_equal(outcome.has_lower, present)
            assert np.allclose(outcome.lower[present], frame["confidence_lower"].to_numpy()[present], rtol=1e-12)
            assert np.allclose(outcome.upper[present], frame["confidence_upper"].to_numpy()[present], rtol=1e-12)
    assert len(evaluate._statistics) == 1  # thresholds and options share one statistics pass


def test_each_option_is_searched_only_when_opted_into():
    sample = SAMPLE.head(2500)
    tried = {}
    for options in ([], ["spread_floor"], True):
        result = autotune(sample.timestamps, sample.values, 600, seasonality=sample.seasonality,
                          settings={"detector_types": ["zscore"], "search_options": options})
        params = [c["params"] for c in result.candidates]
        tried[str(options)] = ({name for p in params for name in p if name in OPTION_PARAMS},
                               {c["detector_type"] for c in result.candidates})
    assert tried["[]"] == (set(), {"zscore"})
    assert tried["['spread_floor']"] == ({"min_spread", "min_relative_spread"}, {"zscore"})
    assert tried["True"] == (set(OPTION_PARAMS), {"zscore", "autoreg"})  # the values never go below 0


def test_pinned_params_apply_to_the_types_that_have_them():
    sample = SAMPLE.head(2500)
    result = autotune(sample.timestamps, sample.values, 600, seasonality=sample.seasonality,
                      settings={"detector_types": ["mad"], "search_options": ["autoreg"],
                                "fixed_params": {"threshold": 4.2, "min_samples_per_group": 5, "lags": 3}})
    by_type = {}
    for c in result.candidates:
        by_type.setdefault(c["detector_type"], []).append(c["params"])
    assert all(p["threshold"] == 4.2 and p["min_samples_per_group"] == 5 and "lags" not in p for p in by_type["mad"])
    assert all(p["threshold"] == 4.2 and p["lags"] == 3 and "min_samples_per_group" not in p
               and "seasonality_components" not in p for p in by_type["autoreg"])
    if result.detector_type == "autoreg":
        assert result.seasonality is None


def aftershocks():
    """A metric that shifts for 30 points (the labeled incident) and then flares up for 7 points
    at a time, 10 calm points apart, for a while: with recovery at the first calm point every
    flare is a new alert."""
    rng = np.random.default_rng(3)
    n = 6000
    ts = np.datetime64("2025-01-06", "ms") + np.arange(n) * np.timedelta64(600, "s")
    values = 50 + rng.normal(0, 1, n)
    incidents = []
    for start in range(1500, n - 200, 700):
        values[start:start + 30] += 12
        for flare in range(start + 40, start + 120, 17):
            values[flare:flare + 7] += 12
        incidents.append({"start": stamp(ts, start), "end": stamp(ts, start + 29)})
    return ts, values, incidents


def test_the_recovery_option_waits_for_calm_so_one_incident_pages_once():
    ts, values, incidents = aftershocks()
    metric = {"name": "m", "alerting": [{"channels": ["x"], "consecutive_anomalies": 1, "alert_cooldown": "1d"}]}
    runs = [autotune(ts, values, 600, incidents=incidents, metric=metric, settings={
        "detector_types": ["mad"], "scoring_metric": "event_f1", "search_options": options,
        "fixed_params": {"window_size": 1000, "min_samples": 250}}) for options in ([], ["recovery"])]
    plain, hysteresis = runs
    assert "recovery_consecutive" not in plain.alerting
    assert hysteresis.alerting["recovery_consecutive"] > 1
    sweep = [d for d in hysteresis.decisions if d["stage"] == "window"][-1]
    assert sweep["message"].startswith(f"recovery_consecutive={hysteresis.alerting['recovery_consecutive']} (event_f1=")
    assert hysteresis.alert_block()["recovery_consecutive"] == hysteresis.alerting["recovery_consecutive"]


@pytest.mark.parametrize("rule, settings, base", [
    ({"recovery_consecutive": 12, "alert_cooldown": "1d"}, TuneSettings(options=frozenset({"recovery"})), None),
    ({"recovery_consecutive": 40, "alert_cooldown": "1d"}, TuneSettings(), AlertConfig(recovery_consecutive=40)),
])
def test_the_alert_sweep_replays_recovery_hysteresis_exactly(rule, settings, base):
    """The sweep's replay skips rows far from every anomaly: far enough for the longest wait for calm."""
    ts, values, incidents = aftershocks()
    s = Series(ts, values, {}, 600)
    truth = project_labels(parse_labels(incidents), ts, 600)
    params = {"window_size": 1000, "min_samples": 250, "threshold": 3.5}
    evaluate = Evaluator(s, cv_folds(len(s), 1000, 5), truth, settings)
    config = AlertConfig(notify_on_recovery=True, consecutive_anomalies=1, **rule)
    alerts, open_flags = AlertSweep(s, Candidate("mad", params, "", 0.0, (), 0.0), evaluate, truth, 1000, settings,
                                    base).alerts(config)
    frame = create_detector("mad", params).detect(ts, values)
    events = replay(frame.with_columns(detector_id=pl.lit("x"), detector_name=pl.lit("MADDetector"),
                                       detector_params=pl.lit("{}")),
                    frame.select("timestamp", "value"), config, 600, ts[0].item(), ts[-1].item())
    index = np.searchsorted(ts, events["timestamp"].to_numpy().astype("datetime64[ms]"))
    kinds = np.array(events["kind"].to_list())
    assert len(alerts) >= 4 and alerts.tolist() == index[kinds == "anomaly"].tolist()
    assert not open_flags[index[kinds == "recovery"]].any() and open_flags[alerts].all()


def test_the_setting_is_off_by_default_and_true_means_every_option():
    assert TuneSettings.from_block(None).options == frozenset()
    assert TuneSettings.from_block({"search_options": False}).options == frozenset()
    assert TuneSettings.from_block({"search_options": True}).options == set(SEARCH_OPTIONS)
    assert TuneSettings.from_block({"search_options": "autoreg"}).searched_types == ("iqr", "mad", "zscore", "autoreg")
    assert TuneSettings.from_block({"search_options": ["clamp", "clamp"]}).options == {"clamp"}


@pytest.mark.parametrize("block, message", [
    ({"search_options": ["floor"]}, "autotune.search_options[0]: Input should be 'spread_floor', 'min_change'"),
    ({"search_options": 3}, "autotune.search_options: Input should be a valid list"),
    ({"fixed_params": {"lags": 3}}, "fixed_params: unknown detector param 'lags'"),
    ({"fixed_params": {"min_samples": 5}, "search_options": ["autoreg"]},
     "fixed_params: autoreg detector: param 'min_samples' must be an integer >= 7"),
])
def test_invalid_option_settings_name_the_field(block, message):
    with pytest.raises(AutotuneError) as error:
        TuneSettings.from_block(block)
    assert message in str(error.value)


def test_a_metric_file_with_search_options_loads_and_a_bad_one_fails_at_load(tmp_path):
    path = tmp_path / "orders.yml"
    text = 'name: orders\ninterval: 10min\nloading_start_time: "2025-01-06 00:00:00"\nquery: SELECT 1\nautotune:\n  {}\n'
    path.write_text(text.format("search_options: [spread_floor, autoreg]\n  fixed_params: {lags: 3}"))
    assert load_metric(path, tmp_path).autotune.search_options == ["spread_floor", "autoreg"]
    path.write_text(text.format("search_options: [autoregressive]"))
    with pytest.raises(ConfigError) as error:
        load_metric(path, tmp_path)
    assert "autotune.search_options[0]" in str(error.value) and str(path) in str(error.value)


@pytest.mark.parametrize("labeled", [False, True])
def test_the_option_search_never_scores_below_the_default_search(labeled):
    incidents = SAMPLE.incidents if labeled else None
    runs = [autotune(SAMPLE.timestamps, SAMPLE.values, 600, incidents=incidents, seasonality=SAMPLE.seasonality,
                     settings={"search_options": options}) for options in (False, True)]
    default, options = runs
    assert options.score >= default.score
    assert {c["detector_id"] for c in default.candidates} <= {c["detector_id"] for c in options.candidates}
