"""What people read names a metric as its file does (`orders-10min`), never by its safe key."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import dagster as dg

from detectkit_dagster.defs import build_definitions

from conftest import SIMPLE_METRIC, series
from support.runs import fail_and_alert


def test_a_failed_run_and_its_error_alert_name_the_metric(project):
    project.source_table("src", series(datetime(2024, 1, 1), 10, timedelta(minutes=10)))
    project.metric("orders", SIMPLE_METRIC.format(name="orders-10min", table="missing_table"))
    project.write("profiles.yml", "alert_channels:\n  inbox: {type: outbox}\n")
    project.write("detectkit_project.yml", "name: shop\nerror_alerting: {enabled: true, channels: [inbox]}\n")
    defs = build_definitions(project.root)
    with dg.instance_for_test() as instance:
        result = fail_and_alert(defs, instance)
        failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
        assert "loading of metric 'orders-10min' failed" in failure
    (sent,) = list((project.root / "outbox").rglob("*.json"))
    record = json.loads(sent.read_text())
    assert record["event"]["metric"] == "orders-10min"
    assert record["title"].endswith("Pipeline error: orders-10min")
