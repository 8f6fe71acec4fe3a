"""The fast replay against the slow one, on random detections, for every kind of rule."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).parent))  # the §13 data set and the slow replay live next to the tests

import itertools
import json
import math
import random
from datetime import datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slow_replay import comparable, slow_replay
from detectkit_dagster.alerting import ReplayState, replay, replay_with_state
from detectkit_dagster.config.alert import AlertConfig

STEP = 600
T0 = datetime(2024, 3, 1)
# Names do not follow id order, and two detectors share a name: tie-breaks get exercised.
DETECTORS = (("a", "zscore"), ("b", "mad"), ("c", "mad"))
# Cell codes: 0 normal, 1 up, 2 down, 3 anomalous without direction, 4 no row.
CELL_WEIGHTS = (40, 25, 20, 5, 10)
SEVERITIES = (None, 1.0, 3.0, 3.0, 5.0)
BOUNDS = ((90.0, 110.0), (90.0, 110.0), (None, 120.0), (95.0, None))


def t(i: int) -> datetime:
    return T0 + timedelta(seconds=STEP * i)


def frames(n: int, rng: random.Random, *, well_formed: bool, n_detectors: int = 3, tail: int = 0):
    """Detections and datapoints for points 0..n-1 (+ `tail` datapoint-only points unless well formed)."""
    rows, points = [], []
    for i in range(n):
        gap = not well_formed and rng.random() < 0.08  # no detection rows at all at this point
        for det_id, name in DETECTORS[:n_detectors]:
            code = rng.choices(range(5), CELL_WEIGHTS)[0]
            if gap or (code == 4 and not well_formed):
                continue
            code = 0 if code == 4 else code
            lo, hi = rng.choice(BOUNDS)
            rows.append({
                "timestamp": t(i), "detector_id": det_id, "detector_name": name, "is_anomaly": code > 0,
                "direction": {1: "up", 2: "down"}.get(code), "severity": rng.choice(SEVERITIES) if code else None,
                "value": 100.0 + i, "confidence_lower": lo, "confidence_upper": hi,
                "detector_params": None if name == "zscore" else f'{{"threshold":{det_id!r}}}',
            })
        if well_formed or rng.random() < 0.9:
            points.append((t(i), math.nan if rng.random() < 0.1 else 100.0 + i))
    points += [(t(i), 100.0 + i) for i in range(n, n + tail)]
    det = pl.DataFrame(rows, schema={
        "timestamp": pl.Datetime("ms"), "detector_id": pl.String, "detector_name": pl.String,
        "is_anomaly": pl.Boolean, "direction": pl.String, "severity": pl.Float64, "value": pl.Float64,
        "confidence_lower": pl.Float64, "confidence_upper": pl.Float64, "detector_params": pl.String,
    })
    dp = pl.DataFrame(points, schema={"timestamp": pl.Datetime("ms"), "value": pl.Float64}, orient="row")
    return det, dp


def alert_config(policy, m, c, cooldown, reset, notify, no_data, fraction) -> AlertConfig:
    block = {
        "channels": ["ops"], "direction": policy, "min_detectors": m, "consecutive_anomalies": c,
        "alert_cooldown": cooldown, "cooldown_reset_on_recovery": reset, "notify_on_recovery": notify,
        "no_data_alert": no_data,
    }
    if fraction:
        block |= {"anomaly_window": fraction[0], "min_anomaly_share": fraction[1]}
    return AlertConfig(**block)


def fast(det, dp, alert, start, end, state=None):
    return replay(det, dp, alert, STEP, start, end, state).to_dicts()


def ours_slow(det, dp, alert, start, end):
    return slow_replay(det, dict(dp.rows()), alert, STEP, start, end)


configs = st.builds(
    alert_config,
    policy=st.sampled_from(["same", "any", "up", "down"]),
    m=st.integers(1, 3),
    c=st.integers(1, 5),
    cooldown=st.sampled_from([None, 600, "20min", 900, "1h"]),
    reset=st.booleans(),
    notify=st.booleans(),
    no_data=st.booleans(),
    fraction=st.one_of(st.none(), st.tuples(
        st.sampled_from([1200, 1800, 2400, 3600, 3900]), st.sampled_from([0.2, 1 / 3, 0.5, 0.75, 1.0]),
    )),
)
FAST_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST_SETTINGS
@given(alert=configs, seed=st.integers(0, 2**32), n=st.integers(1, 36), history=st.integers(0, 6),
       tail=st.integers(0, 3), n_detectors=st.integers(1, 3))
def test_fast_equals_slow_on_random_detections(alert, seed, n, history, tail, n_detectors):
    rng = random.Random(seed)
    det, dp = frames(n + history, rng, well_formed=False, n_detectors=n_detectors, tail=tail)
    start, end = t(history), t(n + history + tail)
    assert comparable(fast(det, dp, alert, start, end)) == comparable(ours_slow(det, dp, alert, start, end))


def test_fast_equals_slow_for_every_combination():
    """Every combination of the rule's switches, each on its own random data with gaps."""
    rng = random.Random(20240301)
    grid = itertools.product(
        ["same", "any", "up", "down"], [1, 2, 3], [1, 2, 3, 4, 5], [None, "20min"], [True, False],
        [True, False], [True, False], [None, (2400, 0.5)],
    )
    for combo in grid:
        alert = alert_config(*combo)
        det, dp = frames(20, rng, well_formed=False, tail=1)
        start, end = t(2), t(21)
        assert comparable(fast(det, dp, alert, start, end)) == comparable(ours_slow(det, dp, alert, start, end)), combo


def reference_faithful(det, dp, alert, start, end):
    value_at = {ts: None if math.isnan(v) else v for ts, v in dp.rows()}  # as detectkit's report builder
    return slow_replay(det, value_at, alert, STEP, start, end, mode="reference")


@FAST_SETTINGS
@given(alert=configs, seed=st.integers(0, 2**32), n=st.integers(1, 36), history=st.integers(0, 6))
def test_equals_reference_on_well_formed_data(alert, seed, n, history):
    """No gaps, no stale tail, notify on whenever a cooldown reset is used: detectkit's events."""
    if alert.cooldown_seconds and alert.cooldown_reset_on_recovery:
        alert = alert.model_copy(update={"notify_on_recovery": True})
    det, dp = frames(n + history, random.Random(seed), well_formed=True)
    start, end = t(history), t(n + history - 1)
    assert comparable(fast(det, dp, alert, start, end)) == comparable(reference_faithful(det, dp, alert, start, end))


def test_deviation4_is_the_only_difference_without_notify():
    """With a cooldown reset but notify off, the reference never resets (D3); we do."""
    det, dp = frames(40, random.Random(3), well_formed=True)
    alert = alert_config("same", 1, 1, "1h", True, False, False, None)
    ours = comparable(fast(det, dp, alert, t(0), t(39)))
    assert ours == comparable(ours_slow(det, dp, alert, t(0), t(39)))
    assert ours != comparable(reference_faithful(det, dp, alert, t(0), t(39)))


# -- piece by piece ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alert=configs, seed=st.integers(0, 2**32), n=st.integers(2, 48),
       cuts=st.lists(st.integers(1, 47), max_size=5), own_rows_only=st.lists(st.booleans(), min_size=6, max_size=6))
def test_piecewise_replay_with_carried_state_equals_one_replay(alert, seed, n, cuts, own_rows_only):
    det, dp = frames(n, random.Random(seed), well_formed=False, tail=2)
    end = n + 1
    whole = replay(det, dp, alert, STEP, t(0), t(end))

    bounds = sorted({c for c in cuts if c <= end} | {end + 1})
    pieces, state, first = [], None, 0
    for k, stop in enumerate(bounds):
        lo, hi = t(first), t(stop - 1)
        piece_det, piece_dp = det, dp
        if own_rows_only[k % 6]:  # only this piece's rows (the first piece also gets nothing earlier)
            piece_det = det.filter(pl.col("timestamp").is_between(lo, hi))
            piece_dp = dp.filter(pl.col("timestamp").is_between(lo, hi))
        events, state = replay_with_state(piece_det, piece_dp, alert, STEP, lo, hi, state)
        state = ReplayState.from_dict(json.loads(json.dumps(state.to_dict())))  # persisted and read back
        pieces.append(events)
        first = stop
    assert pl.concat(pieces).equals(whole)


def test_state_with_history_rows_before_the_piece_is_not_double_counted():
    det, dp = frames(30, random.Random(11), well_formed=True)
    alert = alert_config("same", 1, 3, None, True, True, True, (3600, 0.5))
    _, state = replay_with_state(det, dp, alert, STEP, t(0), t(14))
    again = replay(det, dp, alert, STEP, t(15), t(29), state)  # all rows again, history included
    assert again.equals(replay(det, dp, alert, STEP, t(0), t(29)).filter(pl.col("timestamp") >= t(15)))


def test_warm_up_is_not_exact_under_a_long_incident_with_cooldown():
    """Why the carried state is the exact approach: a long anomaly under a 1h cooldown alerts
    every 6 points counted from its true start; a replay warmed up from a later point does not."""
    n = 60
    det = pl.DataFrame({
        "timestamp": [t(i) for i in range(n)], "detector_id": ["a"] * n, "detector_name": ["mad"] * n,
        "is_anomaly": [True] * n, "direction": ["up"] * n, "severity": [3.0] * n,
    }).with_columns(pl.col("timestamp").cast(pl.Datetime("ms")))
    dp = pl.DataFrame({"timestamp": [t(i) for i in range(n)], "value": [1.0] * n}).with_columns(
        pl.col("timestamp").cast(pl.Datetime("ms")))
    alert = {"channels": ["ops"], "alert_cooldown": "1h"}
    partition = (t(40), t(59))
    exact = replay(det, dp, alert, STEP, t(0), t(59)).filter(pl.col("timestamp") >= partition[0])
    _, state = replay_with_state(det, dp, alert, STEP, t(0), t(39))
    assert replay(det, dp, alert, STEP, *partition, state).equals(exact)
    warmed = replay(det, dp, alert, STEP, t(37), t(59)).filter(pl.col("timestamp") >= partition[0])
    assert not warmed.equals(exact)
