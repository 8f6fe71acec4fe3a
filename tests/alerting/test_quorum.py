"""Spec §13.3 quorum edge cases, on the rule functions and through a replay."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from detectkit_dagster.alerting import replay
from detectkit_dagster.alerting.quorum import Anomaly, observed_direction, primary, quorum, same_side


def a(name, direction, severity=3.0, det_id=None):
    return Anomaly(det_id or name, name, "{}", direction, severity, None, None)


def test_same_tie_breaks():
    assert same_side([a("mad", "up"), a("zscore", "down")], 1) == "down"  # equal severity: greater name
    assert same_side([a("zz", "up"), a("aa", "down")], 1) == "up"
    assert same_side([a("mad", "up", 3.0), a("zscore", "down", 4.0)], 1) == "down"  # more severe
    assert same_side([a("x", "up"), a("y", "up"), a("z", "down", 9.0)], 1) == "up"  # count wins
    assert same_side([a("m", "up", 3.0, "1"), a("m", "down", 3.0, "2")], 1) == "up"  # identical peaks


def test_direction_none_counts_only_under_any():
    anomalies = [a("mad", None)]
    assert quorum(anomalies, "same", 1) is None
    assert quorum(anomalies, "up", 1) is None
    q = quorum(anomalies, "any", 1)
    assert q is not None and observed_direction(q) is None


def test_any_up_plus_down_is_mixed():
    q = quorum([a("a", "up"), a("b", "down")], "any", 2)
    assert observed_direction(q) == "mixed" and len(q.members) == 2


def test_lock_and_policy_sides():
    anomalies = [a("a", "up"), a("b", "down"), a("c", "down")]
    assert quorum(anomalies, "same", 1, lock="up").members == (anomalies[0],)
    assert quorum(anomalies, "up", 2) is None
    assert quorum(anomalies, "down", 2).side == "down"


def test_primary_record_tie():
    members = (a("zscore", "up", 2.0, "b"), a("mad", "up", 2.0, "z"), a("mad", "up", 2.0, "a"))
    chosen = primary(members)
    assert (chosen.detector_name, chosen.detector_id) == ("mad", "a")
    assert primary((a("x", "up", float("nan")), a("y", "up", 0.5))).detector_name == "y"  # NaN ranks as 0


def test_quorum_through_replay_any_min_two():
    ts = datetime(2024, 1, 1)
    det = pl.DataFrame({
        "timestamp": [ts, ts], "detector_id": ["a", "b"], "detector_name": ["a", "b"], "is_anomaly": [True, True],
        "direction": ["up", "down"], "severity": [1.0, 2.0], "value": [5.0, 5.0],
    }).with_columns(pl.col("timestamp").cast(pl.Datetime("ms")))
    dp = pl.DataFrame({"timestamp": [ts], "value": [5.0]}).with_columns(pl.col("timestamp").cast(pl.Datetime("ms")))
    event = replay(det, dp, {"direction": "any", "min_detectors": 2, "consecutive_anomalies": 1}, 600, ts, ts).row(
        0, named=True)
    assert (event["direction"], event["detector"], event["detectors"], event["severity"]) == (
        "mixed", "2 detectors", "a,b", 2.0)
    assert event["detector_params"] == "a: {}; b: {}"  # params default to {} as in the reference
    assert (event["confidence_lower"], event["confidence_upper"]) == (None, None)  # table had no band columns
