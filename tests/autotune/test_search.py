"""The search's building blocks: window grid, folds, trend and level-shift tests."""

import numpy as np

from detectkit_dagster.autotune.search import cv_folds, level_shift, min_samples_for, trend_present, window_grid


def test_window_grid_is_100_points_a_day_and_a_week_within_the_cap():
    assert window_grid(20_000, 600, 5) == [100, 144, 1008]
    assert window_grid(20_000, 3600, 5) == [24, 100, 168]
    assert window_grid(20_000, 60, 5) == [100, 1440]  # a week (10080) is over the cap of 3333
    assert window_grid(300, 600, 5) == [50]            # nothing fits: min(cap, 100)
    assert window_grid(20_000, 600, 5, fixed=48) == [48]


def test_folds_walk_forward_after_the_warm_up_and_the_last_absorbs_the_rest():
    assert cv_folds(1000, 100, 4) == [(100, 325), (325, 550), (550, 775), (775, 1000)]
    assert cv_folds(103, 100, 5) == [(100, 101), (101, 102), (102, 103)]
    assert cv_folds(100, 100, 5) == []


def test_min_samples_is_a_quarter_window_above_the_floor():
    assert min_samples_for(1008, 2) == 252 and min_samples_for(10, 4) == 4 and min_samples_for(3, 4) == 3


def test_trend_compares_the_halves_against_the_spread():
    rng = np.random.default_rng(0)
    flat = rng.normal(0, 1, 2000)
    assert not trend_present(flat)
    growth = flat + np.r_[np.zeros(1000), np.linspace(0, 20, 1000)]  # flat, then growing
    assert trend_present(growth)
    assert not trend_present(flat + np.linspace(0, 20, 2000))  # a steady ramp reads as spread, as in the reference
    assert trend_present(np.r_[np.zeros(15), np.ones(5)])  # MAD 0: any change is a trend
    assert not trend_present(np.array([1.0, np.nan, 2.0]))


def test_level_shift_finds_where_the_level_moved():
    rng = np.random.default_rng(1)
    values = rng.normal(0, 1, 3000)
    values[2000:] += 8
    split, sigmas = level_shift(values)
    assert abs(split - 2000) <= 3000 // 24 and sigmas > 3
    assert level_shift(rng.normal(0, 1, 3000)) is None
    assert level_shift(np.ones(20)) is None  # too short to say
