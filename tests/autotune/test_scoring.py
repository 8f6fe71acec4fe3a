"""Scoring: the point metrics against brute force, event-level F1, the objective, the aggregate."""

import itertools

import numpy as np
import pytest

from detectkit_dagster.autotune import scoring


def test_confusion_metrics_on_a_hand_counted_case():
    y_true = np.array([1, 1, 1, 0, 0, 0, 0, 0], bool)
    y_pred = np.array([1, 1, 0, 1, 0, 0, 0, 0], bool)  # tp 2, fn 1, fp 1, tn 4
    assert scoring.confusion(y_true, y_pred) == (2, 1, 4, 1)
    assert scoring.mcc(y_true, y_pred) == pytest.approx((2 * 4 - 1 * 1) / np.sqrt(3 * 3 * 5 * 5))
    assert scoring.f_beta(y_true, y_pred) == pytest.approx(2 / 3)
    assert scoring.f_beta(y_true, y_pred, 2.0) == pytest.approx(5 * 2 / (5 * 2 + 4 * 1 + 1))
    assert scoring.balanced_accuracy(y_true, y_pred) == pytest.approx(0.5 * (2 / 3 + 4 / 5))
    assert scoring.mcc(y_true, np.zeros(8, bool)) == 0.0  # undefined -> 0


def test_roc_auc_equals_the_pairwise_probability_with_ties_as_half():
    rng = np.random.default_rng(3)
    y_true = rng.random(60) < 0.3
    y_score = rng.integers(0, 6, 60).astype(float)  # many ties
    pairs = [(p, n) for p, n in itertools.product(y_score[y_true], y_score[~y_true])]
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert scoring.roc_auc(y_true, y_score) == pytest.approx(expected)
    assert scoring.roc_auc(np.zeros(5, bool), np.arange(5.0)) == 0.5


def test_average_precision_takes_equal_scores_as_one_block():
    y_true = np.array([1, 0, 1, 0, 0], bool)
    y_score = np.array([0.9, 0.9, 0.5, 0.1, 0.1])
    # block {0.9}: 1 of 2 relevant -> recall 0.5 at precision 0.5; then 0.5: recall 1 at precision 2/3
    assert scoring.pr_auc(y_true, y_score) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert scoring.pr_auc(np.zeros(3, bool), np.ones(3)) == 0.0


def test_event_f1_counts_incidents_and_false_alarms():
    spans = [(10, 14), (40, 40), (70, 75)]
    # one alert inside the first incident, one 3 points after the point incident, one false alarm
    assert scoring.event_f1(spans, np.array([12, 13, 43, 90]), 0, 100) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert scoring.event_f1(spans, np.array([40 + scoring.EVENT_SLACK + 1]), 0, 100) == 0.0
    # incidents outside the range do not count; none left -> None
    assert scoring.event_f1(spans, np.array([12]), 0, 30) == 1.0
    assert scoring.event_f1(spans, np.array([12]), 80, 100) is None


def test_onsets_are_where_runs_of_flags_start():
    flags = np.array([0, 1, 1, 0, 1, 0, 0, 1], bool)
    assert scoring.onsets(flags).tolist() == [1, 4, 7]


def test_unsupervised_objective_rewards_few_flags_a_snug_band_and_separation():
    quiet = np.zeros(100, bool)
    assert scoring.unsupervised_objective(quiet, np.zeros(100)) == pytest.approx(0.4)  # a band that flags nothing
    flags = np.zeros(100, bool)
    flags[:1] = True
    distance = np.full(100, 0.8)
    distance[0] = 3.0
    expected = 0.4 * 1 + 0.3 * 0.8 + 0.3 * (3.0 - 0.8) / (3.0 + 0.8)
    assert scoring.unsupervised_objective(flags, distance) == pytest.approx(expected)
    flags[:5] = True  # 5% flagged, five times the budget
    assert scoring.unsupervised_objective(flags, distance) < expected


def test_aggregate_is_the_mean_minus_the_downside_deviation():
    # the reference's measured run: mean 0.7102, downside 0.1033, aggregate 0.659
    score, penalty = scoring.aggregate([0.4996, 0.6227, 0.6737, 0.8892, 0.8658], 0.5)
    assert penalty == pytest.approx(0.5 * 0.1033, abs=1e-4)
    assert score == pytest.approx(0.659, abs=1e-3)
    assert scoring.aggregate([0.5, 0.5], 0.5) == (0.5, 0.0)
    assert scoring.aggregate([], 0.5) == (0.0, 0.0)
