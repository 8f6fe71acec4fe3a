"""Automation without anyone clicking: the newest partition on cron (and at once when missing),
the previous partition once more when its last interval is complete, downstream in the same tick."""

from datetime import datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from detectkit_dagster.defs import build_definitions
from detectkit_dagster.defs import automation as automation_module
from detectkit_dagster.defs import datapoints as datapoints_module
from detectkit_dagster.storage import DuckDBMetricStore

from conftest import SIMPLE_METRIC, series

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
TABLES = ("datapoints", "detections", "alerts", "report")


def requested(requests) -> dict:
    """{table: partition keys} of the runs a sensor evaluation requested."""
    asked: dict = {}
    for request in requests:
        for key in request.asset_selection:
            asked.setdefault(key.path[-1], set()).add(request.partition_key)
    return asked


class Clock:
    """Evaluates the automation sensor at given times and runs what it requests, with the asset's
    notion of "now" at that time (the data that is complete then). Like the daemon, it
    evaluates every half minute for a while after each tick."""

    def __init__(self, defs, instance, monkeypatch):
        self.defs, self.instance, self.monkeypatch = defs, instance, monkeypatch
        self.sensor = defs.resolve_sensor_def("detectkit_automation")
        self.cursor = None
        self.log: list[tuple[datetime, dict]] = []
        self.runs: list[dg.RunRequest] = []

    def tick(self, at: datetime) -> dict:
        asked = self.evaluate(at)
        for later in (30, 60):
            self.evaluate(at + timedelta(seconds=later))
        return asked

    def evaluate(self, at: datetime, run: bool = True) -> dict:
        for module in (datapoints_module, automation_module):
            self.monkeypatch.setattr(module, "utc_now", lambda: at)
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, definitions=self.defs)
        result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        self.runs += result.run_requests
        asked = requested(result.run_requests)
        self.log.append((at, asked))
        for request in result.run_requests if run else ():
            job = self.defs.resolve_job_def(request.job_name)
            outcome = job.execute_in_process(
                instance=self.instance, partition_key=request.partition_key, run_config=QUIET,
                asset_selection=list(request.asset_selection), tags=request.tags, raise_on_error=False)
            assert outcome.success
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
        # Never seen: the newest partition of the whole chain is requested at once, not at the
        # next cron tick, with its checks, as one run.
        clock.tick(at)
        assert [asked for _, asked in clock.log] == [{t: {"2024-01-03"} for t in TABLES}, {}, {}]
        first = clock.runs[0]
        assert first.job_name == "detectkit_refresh_daily"
        assert {(c.asset_key.path[-1], c.name) for c in first.asset_check_keys} == {
            ("datapoints", "complete"), ("alerts", "no_anomaly_alert")}
        assert clock.tick(at + timedelta(minutes=2)) == {}
        # Each cron tick asks for the newest partition of the whole chain.
        assert clock.tick(at + timedelta(minutes=7)) == {t: {"2024-01-03"} for t in TABLES}
        assert len({run.run_key for run in clock.runs}) == 2  # the daemon launches each tick's run


def test_due_metrics_of_one_partition_share_one_run(project, monkeypatch):
    project.source_table("src", series(datetime(2024, 1, 1), 3 * 144, timedelta(minutes=10)))
    for name in ("orders", "refunds", "signups"):
        project.metric(name, SIMPLE_METRIC.format(name=name, table="src"))
    defs = build_definitions(project.root)
    with dg.instance_for_test() as instance:
        clock = Clock(defs, instance, monkeypatch)
        clock.evaluate(datetime(2024, 1, 3, 12, 3), run=False)
        handled = clock.cursor
        clock.evaluate(datetime(2024, 1, 3, 12, 10, 30), run=False)
        clock.cursor = handled  # a tick whose cursor was lost is evaluated again ...
        clock.evaluate(datetime(2024, 1, 3, 12, 11), run=False)
    assert clock.runs[1].run_key == clock.runs[2].run_key  # ... and the daemon launches its run once
    clock.runs.pop()
    assert len(clock.runs) == 2
    for request in clock.runs:
        assert {key.path[0] for key in request.asset_selection} == {"orders", "refunds", "signups"}
        assert len(request.asset_selection) == 3 * len(TABLES)


def test_a_metric_with_a_run_in_progress_waits_for_it(project, monkeypatch):
    project.source_table("src", series(datetime(2024, 1, 1), 3 * 144, timedelta(minutes=10)))
    for name in ("orders", "refunds"):
        project.metric(name, SIMPLE_METRIC.format(name=name, table="src"))
    defs = build_definitions(project.root)
    job = defs.resolve_job_def("detectkit_refresh_daily")
    with dg.instance_for_test() as instance:
        clock = Clock(defs, instance, monkeypatch)
        clock.evaluate(datetime(2024, 1, 3, 12, 3), run=False)
        backfill = instance.create_run_for_job(
            job, asset_selection=frozenset({dg.AssetKey(["orders", "datapoints"])}), status=dg.DagsterRunStatus.STARTED)
        assert clock.evaluate(datetime(2024, 1, 3, 12, 10, 30), run=False) == {
            t: {"2024-01-03"} for t in TABLES}
        assert {key.path[0] for key in clock.runs[-1].asset_selection} == {"refunds"}
        instance.report_run_canceled(backfill)
        # The tick it missed is still due once the run has ended; the other metric's is handled.
        assert clock.evaluate(datetime(2024, 1, 3, 12, 11), run=False) == {t: {"2024-01-03"} for t in TABLES}
        assert {key.path[0] for key in clock.runs[-1].asset_selection} == {"orders"}
        assert clock.evaluate(datetime(2024, 1, 3, 12, 11, 30), run=False) == {}


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


def test_downstream_follows_a_manual_reload_once(project, monkeypatch):
    start = datetime(2024, 1, 1)
    project.source_table("src", series(start, 3 * 144, timedelta(minutes=10)))
    project.metric("orders", SIMPLE_METRIC.format(name="orders", table="src"))
    defs = build_definitions(project.root)
    with dg.instance_for_test() as instance:
        clock = Clock(defs, instance, monkeypatch)
        at = datetime(2024, 1, 3, 12, 5)
        clock.evaluate(at, run=False)
        dg.materialize([a for a in defs.assets if a.key.path[-1] == "datapoints"], instance=instance,
                       partition_key="2024-01-02", resources=defs.resources, run_config=QUIET)
        # The context partition 2024-01-01 was never loaded: detections still run.
        assert clock.evaluate(at + timedelta(minutes=1)) == {t: {"2024-01-02"} for t in TABLES[1:]}
        assert clock.evaluate(at + timedelta(minutes=2)) == {}


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
    targets = [t.job_name for t in merged.resolve_sensor_def("detectkit_automation").targets]
    assert targets == ["detectkit_refresh_daily"]
    assert merged.resolve_job_def(targets[0]).asset_layer.selected_asset_keys == {
        dg.AssetKey(["orders", t]) for t in TABLES}


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
