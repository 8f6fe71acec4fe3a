"""A channel that fails with its token in the server's reply: the token reaches neither the
sensor's log nor its cursor (the persisted delivery state)."""

from datetime import datetime, timedelta

import dagster as dg
import numpy as np

from detectkit_dagster.defs import build_definitions
from detectkit_dagster.defs.context import MetricContext
from detectkit_dagster.defs.project import metric_definitions, shared_resources
from detectkit_dagster.defs.runner import RANGE_END, RANGE_START
from detectkit_dagster.project import load_project
from detectkit_dagster.timegrid import floor_to_grid, utc_now

from conftest import series
from support.http import Recorder

TOKEN = "xoxb-7731-SECRET-hook-token"
TEN = timedelta(minutes=10)


def test_a_token_echoed_by_a_failing_channel_stays_out_of_logs_and_cursor(project, capfd):
    end = floor_to_grid(utc_now(), 600)
    start = datetime(end.year, end.month, end.day) - timedelta(days=1)
    n = int((end - start) / TEN)
    values = np.full(n, 100.0)
    values[n - 2] = 200.0  # a fresh anomaly
    project.source_table("src", series(start, n, TEN, values))
    project.metric("errors", f"""\
        name: errors
        interval: 10min
        loading_start_time: "{start:%Y-%m-%d %H:%M:%S}"
        query: SELECT * FROM src WHERE timestamp >= '{{{{ dtk_start_time }}}}' AND timestamp < '{{{{ dtk_end_time }}}}'
        detectors: [{{type: manual_bounds, params: {{upper_bound: 150}}}}]
        alerting: {{channels: [hook], consecutive_anomalies: 1}}
        """)
    with Recorder() as hook, dg.instance_for_test() as instance:
        hook.status = 403
        hook.reply = f'{{"error": "invalid token {TOKEN}", "prefix": "{TOKEN[:11]}"}}'.encode()
        project.write("profiles.yml", f"alert_channels:\n  hook: {{type: webhook, webhook_url: '{hook.url}/h/{TOKEN}'}}\n")
        loaded = load_project(project.root)
        mc = MetricContext(loaded, loaded.metrics[0])
        keys = mc.partitions_def.get_partition_keys()
        assets = [a for a in metric_definitions(mc).assets if a.key.path[-1] in ("datapoints", "detections", "alerts")]
        dg.materialize(assets, instance=instance, resources=shared_resources(loaded),
                       tags={RANGE_START: keys[0], RANGE_END: keys[-1]})
        sensor = build_definitions(project.root).resolve_sensor_def("detectkit_alert_dispatch")
        capfd.readouterr()
        result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert hook.requests, "the channel was not tried"
    logged = "".join(capfd.readouterr())
    assert "HTTP 403" in logged and "invalid token" in logged
    for piece in (TOKEN, TOKEN[:11], TOKEN[-10:]):
        assert piece not in logged and piece not in (result.cursor or "")
