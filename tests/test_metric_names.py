"""What people read names a metric as its file does (`orders-10min`), never by its safe key."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import dagster as dg

from detectkit_dagster.defs import build_definitions

from conftest import SIMPLE_METRIC, series

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def test_a_failed_run_and_its_error_alert_name_the_metric(project):
    project.source_table("src", series(datetime(2024, 1, 1), 10, timedelta(minutes=10)))
    project.metric("orders", SIMPLE_METRIC.format(name="orders-10min", table="missing_table"))
    project.write("profiles.yml", "alert_channels:\n  inbox: {type: outbox}\n")
    project.write("detectkit_project.yml", "name: shop\nerror_alerting: {enabled: true, channels: [inbox]}\n")
    defs = build_definitions(project.root)
    with dg.instance_for_test() as instance:
        result = dg.materialize([a for a in defs.assets if a.key.path[-1] == "datapoints"], instance=instance,
                                partition_key="2024-01-01", resources=defs.resources, run_config=QUIET,
                                raise_on_error=False)
        failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
        assert "loading of metric 'orders-10min' failed" in failure
        run_failure = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0]
        context = dg.build_run_status_sensor_context(
            sensor_name="detectkit_error_alerts", dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id), dagster_event=run_failure.dagster_event,
        ).for_run_failure()
        defs.resolve_sensor_def("detectkit_error_alerts")(context)
    (sent,) = list((project.root / "outbox").rglob("*.json"))
    record = json.loads(sent.read_text())
    assert record["event"]["metric"] == "orders-10min"
    assert record["title"].endswith("Pipeline error: orders-10min")
