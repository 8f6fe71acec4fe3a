"""A fresh install monitors: the newest partition loads on cron and everything downstream follows."""

from datetime import datetime, timedelta

import dagster as dg

from detectkit_dagster.defs import build_definitions

from conftest import SIMPLE_METRIC, series

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def requested(result) -> dict:
    return {key.path[-1]: keys for key, keys in
            ((r.key, result.get_requested_partitions(r.key)) for r in result.results) if keys}


def test_newest_partition_of_every_asset_is_requested_on_cron(project):
    start = datetime(2024, 1, 1)
    project.source_table("src", series(start, 3 * 144, timedelta(minutes=10)))
    project.metric("orders", SIMPLE_METRIC.format(name="orders", table="src") + (
        "alerting:\n  channels: []\n  consecutive_anomalies: 1\n"))
    defs = build_definitions(project.root)
    sensor = defs.resolve_sensor_def("detectkit_automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

    with dg.instance_for_test() as instance:
        at = datetime(2024, 1, 3, 12, 0, 30)
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at)
        second = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=at + timedelta(minutes=10, seconds=5), cursor=first.cursor)
        asked = requested(second)
    # One tick asks for the newest partition of the whole chain; the sensor runs it as one run.
    assert asked == {table: {"2024-01-03"} for table in ("datapoints", "detections", "alerts", "report")}, asked


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
    # The lookback partitions 2024-01-01/02 were never loaded: detections still run.
    assert requested(second).get("detections") == {"2024-01-03"}
