"""Our implementation of NAB's scoring, checked against NAB's published figures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import nab_scoring as nab  # noqa: E402


@pytest.fixture(scope="module")
def corpus():
    return nab.load_corpus(), nab.load_profiles()


def test_windowed_gaussian_scores_as_published(corpus):
    files, profiles = corpus
    published = json.loads((nab.DEFAULT_ROOT / "published_final_results.json").read_text())["windowedGaussian"]
    scores = nab.load_result_scores(files, nab.DEFAULT_ROOT / "results" / "windowedGaussian", "windowedGaussian")
    outcome = nab.score_all(files, scores, profiles)
    for name in nab.PROFILE_NAMES:
        assert outcome[name].normalized == pytest.approx(published[name], abs=0.1)
    assert round(outcome["standard"].normalized, 1) == 39.6
    assert round(outcome["reward_low_FP_rate"].normalized, 1) == 20.9
    assert round(outcome["reward_low_FN_rate"].normalized, 1) == 47.4


def test_null_and_perfect_detectors(corpus):
    files, profiles = corpus
    nothing = {f.name: np.zeros(len(f.values)) for f in files}
    assert all(o.normalized == 0.0 for o in nab.score_all(files, nothing, profiles).values())
    perfect = {f.name: np.zeros(len(f.values)) for f in files}
    for f in files:
        for lo, _ in f.windows:
            perfect[f.name][lo] = 1.0
    outcome = nab.score_all(files, perfect, profiles)
    assert all(o.normalized == pytest.approx(100.0) and o.false_alarms == 0 for o in outcome.values())


def test_a_late_detection_earns_less_and_a_false_positive_costs():
    profile = nab.Profile("standard", tp=1.0, fp=0.11, fn=1.0)
    data = nab.DataFile("x.csv", np.arange(1000).astype("datetime64[s]"), np.zeros(1000), [(400, 499)])
    assert data.probationary == 150

    def total(*rows):
        scores = np.zeros(1000)
        scores[list(rows)] = 1.0
        return nab.score_corpus([data], {"x.csv": scores}, profile).raw

    early, middle, late = total(400), total(450), total(499)
    assert early == pytest.approx(1.0) and early > middle > late > 0
    assert total(400, 300) == pytest.approx(1.0 - 0.11)          # before any window: the full cost
    assert -0.11 < total(400, 520) - 1.0 < 0                     # just after a window: less
    assert total(100) == -1.0                                     # probationary rows are not scored
    # the threshold sweep keeps only the points that help: a low-scored false positive is cut
    scores = np.zeros(1000)
    scores[450], scores[300] = 0.9, 0.5
    assert nab.score_corpus([data], {"x.csv": scores}, profile).threshold == 0.9
