"""Alert dispatch end to end: fresh events reach real channels once; failures retry; history stays quiet."""

import json
import socket
import threading
from datetime import datetime, timedelta

import dagster as dg
import numpy as np
import pytest

from detectkit_dagster.project import load_project
from detectkit_dagster.defs import build_definitions
from detectkit_dagster.defs.context import MetricContext
from detectkit_dagster.defs.project import metric_definitions, shared_resources
from detectkit_dagster.defs import sensors
from detectkit_dagster.defs.runner import RANGE_END, RANGE_START
from detectkit_dagster.timegrid import floor_to_grid, utc_now

from conftest import series
from support.http import Recorder
from support.runs import fail_and_alert

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
TEN = timedelta(minutes=10)


def metric_yaml(start: datetime) -> str:
    return f"""\
name: errors
interval: 10min
loading_start_time: "{start:%Y-%m-%d %H:%M:%S}"
query: SELECT * FROM src WHERE timestamp >= '{{{{ dtk_start_time }}}}' AND timestamp < '{{{{ dtk_end_time }}}}'
detectors:
  - type: manual_bounds
    params: {{upper_bound: 150}}
alerting:
  - channels: [inbox, hook]
    consecutive_anomalies: 1
    notify_on_recovery: true
"""


@pytest.fixture
def live(project):
    """Two days of data up to now, with an old incident and one in the newest hour."""
    now = utc_now()
    end = floor_to_grid(now, 600)
    start = datetime(end.year, end.month, end.day) - timedelta(days=2)
    n = int((end - start) / TEN)
    values = np.full(n, 100.0)
    values[30:32] = 200.0  # two days ago: history
    values[n - 3] = 200.0  # half an hour ago: fresh
    project.source_table("src", series(start, n, TEN, values))
    project.metric("errors", metric_yaml(start))
    return project, start


def materialize_all(project, instance, recorder):
    project.write("profiles.yml", f"""\
        alert_channels:
          inbox: {{type: outbox}}
          hook: {{type: webhook, webhook_url: "{recorder.url}/hooks/T0KEN"}}
        """)
    loaded = load_project(project.root)
    mc = MetricContext(loaded, loaded.metrics[0])
    keys = mc.partitions_def.get_partition_keys()
    assets = [a for a in metric_definitions(mc).assets if a.key.path[-1] in ("datapoints", "detections", "alerts")]
    dg.materialize(assets, instance=instance, resources=shared_resources(loaded), run_config=QUIET,
                   tags={RANGE_START: keys[0], RANGE_END: keys[-1]})
    return loaded, keys


def tick(project, instance, cursor=None):
    sensor = build_definitions(project.root).resolve_sensor_def("detectkit_alert_dispatch")
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = sensor.evaluate_tick(context)
    return result.cursor


def outbox_files(project):
    return sorted((project.root / "outbox" / "inbox").glob("*.json"))


def test_fresh_events_are_sent_once_per_channel_and_history_is_not(live):
    project, start = live
    with Recorder() as hook, dg.instance_for_test() as instance:
        materialize_all(project, instance, hook)
        cursor = tick(project, instance)
        sent_files = outbox_files(project)
        bodies = hook.json_bodies()
        # Each fresh event reaches both channels once; the incident two days ago does not.
        assert len(sent_files) == len(bodies) >= 1
        ids = {json.loads(f.read_text())["event_id"] for f in sent_files}
        assert ids == {b["event_id"] for b in bodies}
        for f in sent_files:
            assert json.loads(f.read_text())["event"]["timestamp"] > (start + timedelta(days=1)).isoformat()
        # A second tick and a re-materialization of the same partitions send nothing new.
        cursor = tick(project, instance, cursor)
        materialize_all(project, instance, hook)
        tick(project, instance, cursor)
        assert len(hook.requests) == len(bodies)
        assert outbox_files(project) == sent_files


def test_failed_send_is_retried_with_backoff_and_not_lost(live):
    project, _ = live
    with Recorder() as hook, dg.instance_for_test() as instance:
        hook.status = 500
        materialize_all(project, instance, hook)
        cursor = tick(project, instance)
        ledger = json.loads(cursor)
        failing = [d for d in ledger["pending"].values() if d["channel"] == "hook"]
        # The channel is down after its first failure: the rest wait, untried, for its backoff.
        tried = [d for d in failing if d["attempts"]]
        assert len(failing) >= 2 and len(tried) == 1 and len(hook.requests) == 1
        assert "500" in tried[0]["last_error"] and "T0KEN" not in tried[0]["last_error"]
        cursor = tick(project, instance, cursor)  # within the backoff: no new attempt
        assert len(hook.requests) == 1
        hook.status = 200
        ledger = json.loads(cursor)
        for d in ledger["pending"].values():
            if d["attempts"]:
                d["next_try"] = (utc_now() - timedelta(seconds=1)).isoformat()
        cursor = tick(project, instance, json.dumps(ledger))
        assert json.loads(cursor)["pending"] == {}
        delivered = [b["event_id"] for b in hook.json_bodies()[1:]]
        assert sorted(delivered) == sorted(d["event"]["event_id"] for d in failing)


def test_run_failure_sends_one_error_alert(project):
    project.source_table("src", series(datetime(2024, 1, 1), 10, TEN))
    project.metric("errors", metric_yaml(datetime(2024, 1, 1)).replace("FROM src", "FROM missing_table"))
    project.write("profiles.yml", "alert_channels:\n  inbox: {type: outbox}\n  hook: {type: outbox}\n")
    project.write("detectkit_project.yml", "name: shop\nerror_alerting: {enabled: true, channels: [inbox]}\n")
    defs = build_definitions(project.root)
    with dg.instance_for_test() as instance:
        assert not fail_and_alert(defs, instance).success
    (sent,) = outbox_files(project)
    body = json.loads(sent.read_text())
    text = json.dumps(body)
    assert "missing_table" in text and "errors" in text and "shop" in text


class Silent:
    """Accepts connections on 127.0.0.1 and never answers; counts them."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.connections.append(self.listener.accept()[0])
            except OSError:
                return

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"

    def close(self):
        for conn in self.connections:
            conn.close()
        self.listener.close()


def test_error_alerts_fit_in_one_sensor_tick_whatever_the_channels_do(project, monkeypatch):
    """A channel that hangs to its deadline uses up the tick's budget; a channel whose send
    might then outlast the tick is skipped (and logged), so the tick never runs into Dagster's
    deadline, which would repeat the error alert on every channel next tick."""
    monkeypatch.setattr(sensors, "TICK_BUDGET_SECONDS", 1.5)
    first, second = Silent(), Silent()
    project.source_table("src", series(datetime(2024, 1, 1), 10, TEN))
    project.metric("errors", metric_yaml(datetime(2024, 1, 1)).replace("FROM src", "FROM missing_table"))
    project.write("profiles.yml", f"""\
        alert_channels:
          inbox: {{type: outbox}}
          hook: {{type: outbox}}
          first: {{type: webhook, webhook_url: "{first.url}", timeout_seconds: 1}}
          second: {{type: webhook, webhook_url: "{second.url}", timeout_seconds: 1}}
        """)
    project.write("detectkit_project.yml",
                  "name: shop\nerror_alerting: {enabled: true, channels: [first, second, inbox]}\n")
    defs = build_definitions(project.root)
    try:
        with dg.instance_for_test() as instance:
            fail_and_alert(defs, instance)
        assert len(first.connections) == 1 and len(second.connections) == 0
        assert len(outbox_files(project)) == 1  # a channel that fits still gets it
    finally:
        first.close()
        second.close()


def test_test_alert_job_sends_through_every_channel(live):
    project, _ = live
    with Recorder() as hook, dg.instance_for_test() as instance:
        project.write("profiles.yml", f"""\
            alert_channels:
              inbox: {{type: outbox}}
              hook: {{type: webhook, webhook_url: "{hook.url}/x"}}
            """)
        defs = build_definitions(project.root)
        result = defs.resolve_job_def("test_alert").execute_in_process(
            instance=instance, run_config={"ops": {"send_test_alert": {"config": {"metric": "errors"}}}})
        assert result.success
        assert len(hook.requests) == 1 and len(outbox_files(project)) == 1


def test_clean_removes_rows_of_unconfigured_detectors(live):
    project, _ = live
    from detectkit_dagster.storage import DuckDBMetricStore as MetricStore
    with Recorder() as hook, dg.instance_for_test() as instance:
        materialize_all(project, instance, hook)
        project.metric("errors", (project.root / "metrics" / "errors.yml").read_text().replace("150", "160"))
        materialize_all(project, instance, hook)
        store = MetricStore(project.storage_dir, "errors")
        assert store.read_range("detections")["detector_id"].n_unique() == 2
        result = build_definitions(project.root).resolve_job_def("clean").execute_in_process(instance=instance)
        assert result.success
    assert store.read_range("detections")["detector_id"].n_unique() == 1


def test_two_metrics_with_the_same_rule_firing_together_are_two_alerts(live):
    project, start = live
    project.metric("errors_eu", metric_yaml(start).replace("name: errors", "name: errors_eu"))
    with Recorder() as hook, dg.instance_for_test() as instance:
        project.write("profiles.yml", f"""\
            alert_channels:
              inbox: {{type: outbox}}
              hook: {{type: webhook, format: json, webhook_url: "{hook.url}/x"}}
            """)
        defs = build_definitions(project.root)
        keys = defs.resolve_assets_def(dg.AssetKey(["errors", "datapoints"])).partitions_def.get_partition_keys()
        dg.materialize([a for a in defs.assets if a.key.path[-1] in ("datapoints", "detections", "alerts")],
                       instance=instance, resources=defs.resources, run_config=QUIET,
                       tags={RANGE_START: keys[0], RANGE_END: keys[-1]})
        tick(project, instance)
        bodies = hook.json_bodies()
    by_metric = {}
    for body in bodies:
        by_metric.setdefault(body["metric"], []).append(body["event_id"])
    # The same rule, the same points, one alert each: ids differ, nothing is merged away.
    assert set(by_metric) == {"errors", "errors_eu"} and len(by_metric["errors"]) == len(by_metric["errors_eu"]) >= 1
    assert not set(by_metric["errors"]) & set(by_metric["errors_eu"])


def test_the_demo_sends_each_alert_once_and_the_sensor_after_it_sends_nothing_again(tmp_path, monkeypatch, capsys):
    from detectkit_dagster.cli import main

    root = tmp_path / "demo"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert main(["demo", "--project-dir", str(root), "--days", "1"]) == 0
    assert ", 0 failed" in capsys.readouterr().out
    outbox = root / "outbox"
    sent = sorted(outbox.rglob("*.json"))
    assert sent, "the demo has a fresh alert to deliver"
    # What `dagster dev` then runs: the dispatch sensor on the same instance, from no cursor.
    sensor = build_definitions(root).resolve_sensor_def("detectkit_alert_dispatch")
    with dg.DagsterInstance.get() as instance:
        cursor = None
        for _ in range(2):
            cursor = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor)).cursor
    ledger = json.loads(cursor)
    assert sorted(outbox.rglob("*.json")) == sent
    assert ledger["pending"] == {}
    assert {key.split("|")[0] for key in ledger["sent"]} == {json.loads(f.read_text())["event_id"] for f in sent}
