"""The NAB benchmark's own path (``bench_nab.evaluate``): the recommended configuration, loaded as
a metric, detected and replayed over the whole corpus, keeps the score it is recommended for."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_nab  # noqa: E402
import nab_scoring as nab  # noqa: E402
from detectkit_dagster.detection import recommended_config  # noqa: E402


def test_the_recommended_configuration_scores_50_on_nab_by_its_alert_onsets():
    files, profiles = nab.load_corpus(), nab.load_profiles()
    # in this process: a worker forked from the suite, which runs threads, can deadlock
    onsets = bench_nab.evaluate(recommended_config, files, profiles)["onsets"]
    assert onsets["standard"].normalized >= 50
    # above the windowed Gaussian on the other profiles too (20.9 and 47.4)
    assert onsets["reward_low_FP_rate"].normalized > 20.9
    assert onsets["reward_low_FN_rate"].normalized > 47.4
    windows = sum(len(f.windows) for f in files)
    assert onsets["standard"].detected > windows / 2
