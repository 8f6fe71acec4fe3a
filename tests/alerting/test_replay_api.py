"""The replay API around the engine: schema, state, blocks, dispatch marking, bad input."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).parent))  # the §13 data set and the slow replay live next to the tests

import json
from datetime import datetime, timedelta

import polars as pl
import pytest

import alerting_examples as X
from detectkit_dagster.alerting import (
    EVENT_SCHEMA, ReplayState, event_id, mark_delivery, replay, replay_blocks, replay_blocks_with_state,
    replay_with_state,
)
from detectkit_dagster.config.alert import AlertConfig


def test_empty_result_has_the_full_schema():
    events = replay(X.detections().clear(), X.datapoints().clear(), X.CONFIGS["A"], X.STEP, X.START, X.END)
    assert events.schema == pl.Schema(EVENT_SCHEMA) and events.is_empty()
    assert replay(pl.DataFrame(), pl.DataFrame(), X.CONFIGS["A"], X.STEP, X.START, X.END).is_empty()
    assert replay(X.detections(), X.datapoints(), X.CONFIGS["A"], X.STEP, X.END, X.START).schema == pl.Schema(EVENT_SCHEMA)
    assert replay(X.detections(), X.datapoints(), X.CONFIGS["A"], X.STEP, X.START, X.END).schema == pl.Schema(EVENT_SCHEMA)


def test_event_id_is_stable_and_distinct():
    assert event_id("1dd2830aebe92b95", "anomaly", 0) == event_id("1dd2830aebe92b95", "anomaly", 0)
    ids = {event_id("1dd2830aebe92b95", kind, 0) for kind in ("anomaly", "recovery", "no_data")}
    assert len(ids) == 3 and all(len(i) == 16 for i in ids)
    events = replay(X.detections(), X.datapoints(), X.CONFIGS["A"], X.STEP, X.START, X.END)
    row = events.row(0, named=True)
    assert row["event_id"] == event_id(row["config_id"], row["kind"], row["timestamp"])


def test_alert_accepts_model_or_dict_and_rejects_bad_blocks():
    as_dict = replay(X.detections(), X.datapoints(), X.CONFIGS["C"], X.STEP, X.START, X.END)
    as_model = replay(X.detections(), X.datapoints(), AlertConfig(**X.CONFIGS["C"]), X.STEP, X.START, X.END)
    assert as_dict.equals(as_model)
    with pytest.raises(ValueError, match="direction"):
        replay(X.detections(), X.datapoints(), {"direction": "sideways"}, X.STEP, X.START, X.END)
    with pytest.raises(ValueError, match="at least 2 intervals"):
        replay(X.detections(), X.datapoints(), {"anomaly_window": "10min", "min_anomaly_share": 0.5},
               X.STEP, X.START, X.END)


def test_state_round_trips_through_json():
    alert = X.CONFIGS["F"] | {"anomaly_window": "1h", "min_anomaly_share": 0.5}
    _, state = replay_with_state(X.detections(), X.datapoints(), alert, X.STEP, X.START, X.t(20))
    assert state.as_of == X.t(20) and state.last_alert is not None and state.window
    assert ReplayState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_state_guards():
    _, state = replay_with_state(X.detections(), X.datapoints(), X.CONFIGS["B"], X.STEP, X.START, X.t(10))
    with pytest.raises(ValueError, match="already covers"):
        replay(X.detections(), X.datapoints(), X.CONFIGS["B"], X.STEP, X.t(10), X.END, state)
    with pytest.raises(ValueError, match="belongs to alert config"):
        replay(X.detections(), X.datapoints(), X.CONFIGS["C"], X.STEP, X.t(11), X.END, state)
    with pytest.raises(ValueError, match="version"):
        ReplayState.from_dict(state.to_dict() | {"version": 99})


def test_blocks_are_concatenated_in_time_then_block_order():
    alerts = [X.CONFIGS["G"], X.CONFIGS["C"]]
    events = replay_blocks(X.detections(), X.datapoints(), alerts, X.STEP, X.START, X.END)
    assert events.columns == ["alert_index", *EVENT_SCHEMA]
    assert events.select("timestamp", "alert_index").rows() == sorted(events.select("timestamp", "alert_index").rows())
    for index, alert in enumerate(alerts):
        alone = replay(X.detections(), X.datapoints(), alert, X.STEP, X.START, X.END)
        assert events.filter(pl.col("alert_index") == index).drop("alert_index").equals(alone)
    _, states = replay_blocks_with_state(X.detections(), X.datapoints(), alerts, X.STEP, X.START, X.END)
    assert [s.config_id for s in states] == [AlertConfig(**a).config_id for a in alerts]
    empty = replay_blocks(X.detections(), X.datapoints(), [], X.STEP, X.START, X.END)
    assert empty.columns == ["alert_index", *EVENT_SCHEMA] and empty.is_empty()


def test_bad_input_is_named():
    off_grid = X.detections().with_columns(pl.col("timestamp") + timedelta(seconds=30))
    with pytest.raises(ValueError, match="not on the 10min grid"):
        replay(off_grid, X.datapoints(), X.CONFIGS["A"], X.STEP, X.START, X.END)
    doubled = pl.concat([X.detections(), X.detections().head(1)])
    with pytest.raises(ValueError, match="has two rows"):
        replay(doubled, X.datapoints(), X.CONFIGS["A"], X.STEP, X.START, X.END)
    with pytest.raises(ValueError, match="lack column"):
        replay(X.detections().drop("is_anomaly"), X.datapoints(), X.CONFIGS["A"], X.STEP, X.START, X.END)


def test_tz_aware_and_other_units_are_read_as_utc_ms():
    det = X.detections().with_columns(pl.col("timestamp").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
                                      .dt.convert_time_zone("Europe/Berlin"))
    assert replay(det, X.datapoints(), X.CONFIGS["B"], X.STEP, X.START, X.END).equals(
        replay(X.detections(), X.datapoints(), X.CONFIGS["B"], X.STEP, X.START, X.END))


# -- dispatch marking -----------------------------------------------------------------------------


def events_of(config="E"):
    return replay(X.detections(), X.datapoints(), X.CONFIGS[config], X.STEP, X.START, X.END)


def test_active_block_events_are_sendable():
    marked = mark_delivery(events_of(), X.CONFIGS["E"], now=X.END)
    assert marked.columns[-2:] == ["sendable", "hold_reason"]
    assert marked["sendable"].all() and marked["hold_reason"].null_count() == len(marked)


@pytest.mark.parametrize("change, reason", [
    ({"enabled": False}, "alert block disabled"),
    ({"channels": []}, "no channels"),
    ({"enabled": False, "channels": []}, "alert block disabled"),
])
def test_inactive_blocks_are_held(change, reason):
    marked = mark_delivery(events_of(), X.CONFIGS["E"] | change, now=X.END)
    assert not marked["sendable"].any() and set(marked["hold_reason"]) == {reason}


def test_suppression_holds_events_before_the_deadline():
    alert = X.CONFIGS["E"] | {"suppress_until": "2024-01-01 02:00"}
    later = mark_delivery(events_of(), alert, now=datetime(2024, 1, 2))
    held = later.filter(~pl.col("sendable"))
    assert (held["timestamp"] < datetime(2024, 1, 1, 2)).all()
    assert set(held["hold_reason"]) == {"suppressed until 2024-01-01 02:00:00"}
    assert later.filter(pl.col("sendable"))["timestamp"].min() >= datetime(2024, 1, 1, 2)
    during = mark_delivery(events_of(), X.CONFIGS["E"] | {"suppress_until": "2030-01-01"}, now=X.END)
    assert not during["sendable"].any()


def test_max_age_holds_backfilled_history():
    marked = mark_delivery(events_of(), X.CONFIGS["E"], now=X.END, max_age=timedelta(hours=1))
    assert set(marked.filter(~pl.col("sendable"))["hold_reason"]) == {"older than 1h"}
    assert (marked.filter(pl.col("sendable"))["timestamp"] >= X.END - timedelta(hours=1)).all()
