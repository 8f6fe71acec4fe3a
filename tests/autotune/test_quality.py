"""Supervised tuning earns its keep: on held-out data it catches incidents better than the
default detector and than tuning without labels (event-level F1 of the alerts that would page)."""

import numpy as np
import polars as pl
import pytest

from detectkit_dagster.alerting import replay
from detectkit_dagster.autotune import autotune, event_f1, parse_labels, project_labels
from detectkit_dagster.autotune.sample import seasonal_series
from detectkit_dagster.config.alert import AlertConfig
from detectkit_dagster.detection import create_detector

SAMPLE = seasonal_series(20_000, incidents=24, magnitude=(10.0, 30.0), seed=1)
HALF = 10_000


def held_out_f1(detector_type: str, params: dict, alerting: dict) -> float:
    """Run the config over the whole series (detectors are causal), replay its alert rule, and
    score the alerts in the second half against the incidents there."""
    s = SAMPLE
    detector = create_detector(detector_type, params)
    frame = detector.detect(s.timestamps, s.values, s.seasonality)
    detections = frame.with_columns(detector_id=pl.lit(detector.detector_id),
                                    detector_name=pl.lit(detector.detector_name),
                                    detector_params=pl.lit(detector.detector_params))
    events = replay(detections, frame.select("timestamp", "value"), AlertConfig(**alerting), s.interval_seconds,
                    s.timestamps[HALF].item(), s.timestamps[-1].item())
    alerts = events.filter(pl.col("kind") == "anomaly")["timestamp"].to_numpy().astype("datetime64[ms]")
    truth = project_labels(parse_labels(s.incidents), s.timestamps, s.interval_seconds)
    return event_f1(truth.spans, np.searchsorted(s.timestamps, alerts), HALF, len(s.values))


@pytest.fixture(scope="module")
def training():
    return SAMPLE.head(HALF)


def test_supervised_tuning_beats_the_default_and_the_unsupervised_choice_on_held_out_incidents(training):
    assert len(training.incidents) == 10  # the other 14 incidents are only scored
    supervised = autotune(training.timestamps, training.values, 600, incidents=training.incidents,
                          settings={"scoring_metric": "event_f1"}, seasonality=training.seasonality)
    unsupervised = autotune(training.timestamps, training.values, 600, seasonality=training.seasonality)
    tuned = held_out_f1(supervised.detector_type, supervised.detector_params, supervised.alerting)
    default = held_out_f1("mad", {}, {})
    blind = held_out_f1(unsupervised.detector_type, unsupervised.detector_params, unsupervised.alerting)
    assert supervised.mode == "supervised" and unsupervised.mode == "unsupervised"
    assert tuned > blind > default
    assert tuned >= 0.8
