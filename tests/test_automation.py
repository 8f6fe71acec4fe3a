"""Automation without anyone clicking: the newest partition on cron (and at once when missing),
the previous partition once more when its last interval is complete, downstream in the same tick."""

from datetime import datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from detectkit_dagster.defs import build_definitions
from detectkit_dagster.defs import datapoints as datapoints_module
from detectkit_dagster.storage import DuckDBMetricStore

from conftest import SIMPLE_METRIC, series

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
TABLES = ("datapoints", "detections", "alerts", "report")


def requested(result) -> dict:
    return {key.path[-1]: keys for key, keys in
            ((r.key, result.get_requested_partitions(r.key)) for r in result.results) if keys}


class Clock:
    """Evaluates the automation at given times and runs what it requests, with the asset's
    notion of "now" at that time (the data that is complete then). Like the sensor, it
    evaluates every half minute for a while after each tick."""

    def __init__(self, defs, instance, monkeypatch):
        self.defs, self.instance, self.monkeypatch = defs, instance, monkeypatch
        self.cursor = None
        self.log: list[tuple[datetime, dict]] = []

    def tick(self, at: datetime) -> dict:
        asked = self._evaluate(at)
        for later in (30, 60):
            self._evaluate(at + timedelta(seconds=later))
        return asked

    def _evaluate(self, at: datetime) -> dict:
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, evaluation_time=at, cursor=self.cursor)
        self.cursor = result.cursor
        asked = requested(result)
        self.log.append((at, asked))
        self.monkeypatch.setattr(datapoints_module, "utc_now", lambda: at)
        for key in sorted(set().union(*asked.values())) if asked else ():
            tables = [t for t, keys in asked.items() if key in keys]
            assets = [a for a in self.defs.assets if a.key.path[-1] in tables]
            run = dg.materialize(assets, instance=self.instance, partition_key=key,
                                 resources=self.defs.resources, run_config=QUIET)
            assert run.success
        return asked


def test_a_fresh_install_loads_at_once_then_the_chain_follows_on_every_cron_tick(project, monkeypatch):
    start = datetime(2024, 1, 1)
    project.source_table("src", series(start, 3 * 144, timedelta(minutes=10)))
    project.metric("orders", SIMPLE_METRIC.format(name="orders", table="src") + (
        "alerting:\n  channels: []\n  consecutive_anomalies: 1\n"))
    defs = build_definitions(project.root)
    sensor = defs.resolve_sensor_def("detectkit_automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 60  # a tenth of the 10-minute interval

    with dg.instance_for_test() as instance:
        clock = Clock(defs, instance, monkeypatch)
        at = datetime(2024, 1, 3, 12, 3, 30)
        # Never materialized: the newest partition is requested at once, not at the next cron tick,
        # and what depends on it at the next evaluation.
        clock.tick(at)
        assert [asked for _, asked in clock.log] == [
            {"datapoints": {"2024-01-03"}}, {t: {"2024-01-03"} for t in TABLES[1:]}, {}]
        assert clock.tick(at + timedelta(minutes=2)) == {}
        # Each cron tick asks for the newest partition of the whole chain: the sensor runs it as one run.
        assert clock.tick(at + timedelta(minutes=7)) == {t: {"2024-01-03"} for t in TABLES}


def test_the_previous_day_is_closed_once_after_its_last_interval(project, monkeypatch):
    start = datetime(2024, 1, 1)
    project.source_table("src", series(start, 4 * 144, timedelta(minutes=10)))
    project.metric("orders", SIMPLE_METRIC.format(name="orders", table="src"))
    defs = build_definitions(project.root)
    with dg.instance_for_test() as instance:
        clock = Clock(defs, instance, monkeypatch)
        for minute in range(0, 31, 10):  # 23:50 .. 00:20 across the day boundary
            clock.tick(datetime(2024, 1, 2, 23, 50, 30) + timedelta(minutes=minute))
    asked_for_day = [(at, asked) for at, asked in clock.log if "2024-01-02" in asked.get("datapoints", ())]
    # 23:50 (first evaluation: the newest partition is missing) and 00:00, once, after the boundary.
    assert [at.strftime("%H:%M") for at, _ in asked_for_day] == ["23:50", "00:00"]
    closing = next(asked for at, asked in asked_for_day if at.hour == 0)
    assert closing == {t: {"2024-01-02", "2024-01-03"} for t in TABLES}, closing  # with the new day, one tick
    stored = DuckDBMetricStore(project.storage_dir, "orders").read_range("datapoints")
    day = stored.filter(pl.col("timestamp").dt.date() == datetime(2024, 1, 2).date())
    assert day.height == 144 and not day["value"].is_nan().any()  # 23:50 too


@pytest.mark.parametrize("delay, closes_at", [(None, "00:00"), ("25min", "00:30")])
def test_a_monthly_partition_of_a_daily_metric_is_closed_after_its_last_day(project, monkeypatch, delay, closes_at):
    start = datetime(2024, 1, 1)
    project.source_table("src", series(start, 40, timedelta(days=1)))
    text = SIMPLE_METRIC.format(name="signups", table="src").replace("interval: 10min", "interval: 1d")
    text = text.replace("window_size: 30, min_samples: 10", "window_size: 7, min_samples: 3")
    text += "dagster: {partitions: monthly}\n" + (f"loading_delay: {delay}\n" if delay else "")
    project.metric("signups", text)
    defs = build_definitions(project.root)
    with dg.instance_for_test() as instance:
        clock = Clock(defs, instance, monkeypatch)
        for minute in range(0, 51, 10):
            clock.tick(datetime(2024, 1, 31, 23, 50, 30) + timedelta(minutes=minute))
    january = [at.strftime("%H:%M") for at, asked in clock.log if "2024-01-01" in asked.get("datapoints", ())]
    assert january == ["23:50", closes_at]
    stored = DuckDBMetricStore(project.storage_dir, "signups").read_range("datapoints")
    assert stored.filter(pl.col("timestamp").dt.month() == 1).height == 31  # January 31 included


def test_downstream_follows_a_manual_reload(project):
    start = datetime(2024, 1, 1)
    project.source_table("src", series(start, 3 * 144, timedelta(minutes=10)))
    project.metric("orders", SIMPLE_METRIC.format(name="orders", table="src"))
    defs = build_definitions(project.root)
    with dg.instance_for_test() as instance:
        at = datetime(2024, 1, 3, 12, 5)
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at)
        dg.materialize([a for a in defs.assets if a.key.path[-1] == "datapoints"], instance=instance,
                       partition_key="2024-01-03", resources=defs.resources, run_config=QUIET)
        second = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=at + timedelta(minutes=1), cursor=first.cursor)
    # The context partitions 2024-01-01/02 were never loaded: detections still run.
    assert requested(second).get("detections") == {"2024-01-03"}


def test_merges_into_a_project_with_its_own_automation_sensor(project):
    project.source_table("src", series(datetime(2024, 1, 1), 10, timedelta(minutes=10)))
    project.metric("orders", SIMPLE_METRIC.format(name="orders", table="src"))

    @dg.asset(automation_condition=dg.AutomationCondition.eager())
    def their_table():
        return 1

    theirs = dg.Definitions(assets=[their_table], sensors=[
        dg.AutomationConditionSensorDefinition("their_automation", target=dg.AssetSelection.assets(their_table))])
    merged = dg.Definitions.merge(theirs, build_definitions(project.root))
    repository = merged.get_repository_def()
    assert {s.name for s in repository.sensor_defs} >= {"their_automation", "detectkit_automation"}
    assert merged.resolve_sensor_def("detectkit_automation").asset_selection.resolve(
        repository.asset_graph) == {dg.AssetKey(["orders", t]) for t in (*TABLES, "autotune")}


def test_one_metrics_broken_source_does_not_hold_back_the_others_in_a_shared_run(project):
    project.source_table("src", series(datetime(2024, 1, 1), 2 * 144, timedelta(minutes=10)))
    project.metric("orders", SIMPLE_METRIC.format(name="orders", table="src") + (
        "alerting:\n  channels: []\n  consecutive_anomalies: 1\n"))
    project.metric("broken", SIMPLE_METRIC.format(name="broken", table="no_such_table"))
    defs = build_definitions(project.root)
    assets = [a for a in defs.assets if a.key.path[-1] in TABLES]
    with dg.instance_for_test() as instance:
        run = dg.materialize(assets, instance=instance, partition_key="2024-01-02", resources=defs.resources,
                             run_config=QUIET, raise_on_error=False)
        done = {e.asset_key.to_user_string() for e in run.get_asset_materialization_events()}
        checks = {(e.asset_key.to_user_string(), e.check_name) for e in run.get_asset_check_evaluations()}
    assert not run.success  # the run says a metric failed ...
    failed = [e.step_key for e in run.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert len(failed) == 1 and "broken" in failed[0]
    assert done == {f"orders/{t}" for t in TABLES}  # ... and the other one is whole, checks included
    assert {("orders/alerts", "no_anomaly_alert"), ("orders/datapoints", "complete")} <= checks
    assert not any(key.startswith("broken/") for key in done)
