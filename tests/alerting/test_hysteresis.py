"""Recovery hysteresis (`recovery_consecutive`) and the detectors a recovery names."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).parent))

import json
import random

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_properties import STEP, alert_config, frames, t
from detectkit_dagster.alerting import ReplayState, replay, replay_with_state
from detectkit_dagster.channels import message_for_event
from detectkit_dagster.config.alert import AlertConfig


def flapping(n: int = 40, plan=None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Detector 'a' (mad) flaps through one incident; 'z' (zscore, the largest id) never fires."""
    anomalous = plan or {5, 6, 7, 9, 10, 12, 14}
    rows = []
    for i in range(n):
        for det_id, name in (("a", "mad"), ("z", "zscore")):
            flagged = det_id == "a" and i in anomalous
            rows.append({"timestamp": t(i), "detector_id": det_id, "detector_name": name, "is_anomaly": flagged,
                         "direction": "up" if flagged else None, "severity": 4.0 if flagged else None,
                         "value": 150.0 if flagged else 100.0, "confidence_lower": 90.0, "confidence_upper": 110.0})
    det = pl.DataFrame(rows).with_columns(pl.col("timestamp").cast(pl.Datetime("ms")))
    dp = pl.DataFrame({"timestamp": [t(i) for i in range(n)], "value": [100.0] * n}).with_columns(
        pl.col("timestamp").cast(pl.Datetime("ms")))
    return det, dp


RULE = {"channels": ["ops"], "consecutive_anomalies": 1, "alert_cooldown": "6h", "notify_on_recovery": True}


def kinds(events: pl.DataFrame) -> list[tuple[str, int]]:
    return [(k, int((ts - t(0)).total_seconds() // STEP)) for k, ts in events.select("kind", "timestamp").rows()]


def test_flapping_incident_gives_one_alert_and_one_recovery():
    det, dp = flapping()
    plain = replay(det, dp, RULE, STEP, t(0), t(39))
    assert kinds(plain) == [("anomaly", 5), ("recovery", 8), ("anomaly", 9), ("recovery", 11), ("anomaly", 12),
                            ("recovery", 13), ("anomaly", 14), ("recovery", 15)]
    calm = replay(det, dp, RULE | {"recovery_consecutive": 4}, STEP, t(0), t(39))
    assert kinds(calm) == [("anomaly", 5), ("recovery", 18)]  # 15, 16, 17, 18 calm


def test_cooldown_reset_waits_for_the_confirmed_recovery():
    det, dp = flapping(plan={5, 6, 9, 20})
    rule = RULE | {"recovery_consecutive": 3, "alert_cooldown": "2h"}
    # 9 is inside the cooldown and before 3 calm points: no alert; 20 comes after the recovery at 12
    assert kinds(replay(det, dp, rule, STEP, t(0), t(39))) == [
        ("anomaly", 5), ("recovery", 12), ("anomaly", 20), ("recovery", 23)]


def test_recovery_names_the_detectors_that_fired():
    det, dp = flapping()
    events = replay(det, dp, RULE | {"recovery_consecutive": 4}, STEP, t(0), t(39))
    recovery = events.filter(pl.col("kind") == "recovery").row(0, named=True)
    assert recovery["detector"] == "zscore"          # detectkit's pick: the last row at that time
    assert recovery["incident_detectors"] == "mad"   # what actually fired
    alert = AlertConfig(**(RULE | {"recovery_consecutive": 4}))
    message = message_for_event(recovery, project=None, metric="latency", description=None,
                                interval_seconds=STEP, alert=alert, help_url=None)
    assert message.detector_name == "mad"


def test_incident_detectors_collects_every_detector_that_kept_it_alive():
    det, dp = flapping()
    # 'z' joins the incident at point 10 (while the alert awaits its recovery)
    det = det.with_columns(
        is_anomaly=pl.when((pl.col("detector_id") == "z") & (pl.col("timestamp") == t(10))).then(True)
        .otherwise(pl.col("is_anomaly")),
        direction=pl.when((pl.col("detector_id") == "z") & (pl.col("timestamp") == t(10))).then(pl.lit("up"))
        .otherwise(pl.col("direction")),
    )
    events = replay(det, dp, RULE | {"recovery_consecutive": 4}, STEP, t(0), t(39))
    assert events.filter(pl.col("kind") == "recovery")["incident_detectors"].to_list() == ["mad, zscore"]


def test_config_id_changes_only_when_set():
    base = AlertConfig(channels=["ops"])
    assert AlertConfig(channels=["ops"], recovery_consecutive=1).config_id == base.config_id
    assert AlertConfig(channels=["ops"], recovery_consecutive=6).config_id != base.config_id
    assert "recovered after 6 calm points" in AlertConfig(recovery_consecutive=6).rule_text()
    with pytest.raises(ValueError, match="recovery_consecutive"):
        AlertConfig(recovery_consecutive=0)


hysteresis_rules = st.builds(
    lambda policy, m, c, cooldown, reset, notify, rec: alert_config(policy, m, c, cooldown, reset, notify, False, None)
    .model_copy(update={"recovery_consecutive": rec}),
    policy=st.sampled_from(["same", "any", "up", "down"]), m=st.integers(1, 2), c=st.integers(1, 3),
    cooldown=st.sampled_from([None, "20min", "1h"]), reset=st.booleans(), notify=st.booleans(),
    rec=st.integers(2, 5),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alert=hysteresis_rules, seed=st.integers(0, 2**32), n=st.integers(2, 48),
       cuts=st.lists(st.integers(1, 47), max_size=5))
def test_piecewise_replay_with_hysteresis_equals_one_replay(alert, seed, n, cuts):
    det, dp = frames(n, random.Random(seed), well_formed=False, tail=2)
    end = n + 1
    whole = replay(det, dp, alert, STEP, t(0), t(end))
    pieces, state, first = [], None, 0
    for stop in sorted({c for c in cuts if c <= end} | {end + 1}):
        events, state = replay_with_state(det, dp, alert, STEP, t(first), t(stop - 1), state)
        state = ReplayState.from_dict(json.loads(json.dumps(state.to_dict())))
        pieces.append(events)
        first = stop
    assert pl.concat(pieces).equals(whole)
