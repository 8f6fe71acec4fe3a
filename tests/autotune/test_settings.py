"""The `autotune:` block: every option validated at load with a clear error, the engine's view of it."""

import pytest

from detectkit_dagster.autotune import TuneSettings
from detectkit_dagster.config.metric import AutotuneConfig
from detectkit_dagster.config.project import load_metric
from detectkit_dagster.errors import AutotuneError, ConfigError

METRIC = """\
name: orders
interval: 10min
loading_start_time: "2025-01-06 00:00:00"
query: SELECT 1
autotune:
{block}
"""


def test_defaults_are_the_references():
    s = TuneSettings.from_block(None)
    assert (s.metric, s.beta, s.folds, s.stability_lambda) == ("mcc", 1.0, 5, 0.5)
    assert s.detector_types == ("iqr", "mad", "zscore") and s.fixed_params == {} and s.max_history is None


def test_every_option_is_read():
    s = TuneSettings.from_block({
        "detector_types": ["zscore", "mad"], "scoring_metric": "f_beta", "beta": 2.0, "folds": 3,
        "stability_lambda": 0.0, "seasonality_candidates": ["hour"], "force_seasonality": [["hour", "day_of_week"]],
        "fixed_params": {"min_samples_per_group": 5}, "max_history": 5000, "labels_file": "x.yml"})
    assert s.detector_types == ("mad", "zscore") and s.metric == "f_beta" and s.beta == 2.0 and s.folds == 3
    assert s.seasonality_candidates == ("hour",) and s.force_seasonality == (["hour", "day_of_week"],)
    assert s.fixed_params == {"min_samples_per_group": 5} and s.max_history == 5000
    assert TuneSettings.from_block({"scoring_metric": "f1"}, scoring="event_f1").metric == "event_f1"


def test_force_seasonality_accepts_a_bare_column_name():
    """Reference bug: `force_seasonality: hour` was rejected ("Input should be a valid list")."""
    assert TuneSettings.from_block({"force_seasonality": "hour"}).force_seasonality == ("hour",)
    assert AutotuneConfig.model_validate({"force_seasonality": "hour"}).force_seasonality == ["hour"]


@pytest.mark.parametrize("block, message", [
    ({"folds": 1}, "autotune.folds: Input should be greater than or equal to 2"),
    ({"beta": 0}, "autotune.beta: Input should be greater than 0"),
    ({"stability_lambda": -1}, "autotune.stability_lambda: Input should be greater than or equal to 0"),
    ({"max_history": 0}, "autotune.max_history: Input should be greater than or equal to 1"),
    ({"detector_types": []}, "autotune.detector_types: List should have at least 1 item"),
    ({"detector_types": ["prophet"]}, "autotune.detector_types[0]: Input should be 'mad', 'zscore' or 'iqr'"),
    ({"scoring_metric": "accuracy"}, "autotune.scoring_metric: Input should be 'mcc'"),
    ({"seasonality_candidates": ["weekday"]}, "autotune.seasonality_candidates[0]: Input should be"),
    ({"force_seasonality": ["weekday"]}, "autotune.force_seasonality"),
    ({"fold": 3}, "autotune.fold: unknown field (did you mean 'folds'?)"),
    ({"fixed_params": {"treshold": 3}}, "fixed_params: unknown detector param 'treshold'"),
    ({"fixed_params": {"threshold": -1}}, "param 'threshold' must be a number > 0, got -1"),
    ({"labels_file": "a.yml", "incidents": [{"at": "2025-01-06"}]}, "labels_file and incidents are mutually exclusive"),
    ({"incidents": [{"start": "2025-01-07", "end": "2025-01-06"}]}, "incidents: incidents[0]: Incident start"),
    ({"incidents": [{"at": "2025-01-06"}], "incidents_timezone": "Nowhere"}, "is not an IANA time zone"),
])
def test_invalid_settings_name_the_field(block, message):
    with pytest.raises(AutotuneError) as error:
        TuneSettings.from_block(block)
    assert message in str(error.value)


def test_a_metric_file_with_a_bad_block_fails_at_load(tmp_path):
    path = tmp_path / "orders.yml"
    path.write_text(METRIC.format(block="  folds: 1"))
    with pytest.raises(ConfigError) as error:
        load_metric(path, tmp_path)
    assert "autotune.folds" in str(error.value) and str(path) in str(error.value)
    path.write_text(METRIC.format(block="  force_seasonality: hour\n  fixed_params: {threshold: 4.2}"))
    assert load_metric(path, tmp_path).autotune.force_seasonality == ["hour"]
