"""Detections, alerts and report assets through Dagster: results do not depend on how runs are cut."""

import random
from datetime import datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl
import pytest

from detectkit_dagster.alerting import replay_blocks
from detectkit_dagster.pipeline import report_input
from detectkit_dagster.project import load_project
from detectkit_dagster.defs.context import MetricContext
from detectkit_dagster.defs.project import metric_definitions, shared_resources
from detectkit_dagster.defs.runner import RANGE_END, RANGE_START
from detectkit_dagster.storage import DuckDBMetricStore as MetricStore

from conftest import series

START = datetime(2024, 1, 1)
TEN = timedelta(minutes=10)
DAYS = 5
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
KEYS = [f"2024-01-0{d}" for d in range(1, DAYS + 1)]

METRIC = """\
name: orders
interval: 10min
loading_start_time: "2024-01-01 00:00:00"
query: SELECT * FROM src WHERE timestamp >= '{{ dtk_start_time }}' AND timestamp < '{{ dtk_end_time }}'
detectors:
  - type: mad
    params: {window_size: 144, min_samples: 20, threshold: 3.0}
  - type: zscore
    params: {window_size: 100, smoothing: ema, smoothing_alpha: 0.5, threshold: 3.0}
alerting:
  - channels: [inbox]
    min_detectors: 1
    direction: any
    consecutive_anomalies: 2
    alert_cooldown: 1h
    notify_on_recovery: true
    no_data_alert: true
  - channels: [inbox]
    min_detectors: 2
    consecutive_anomalies: 1
    check_severity: ERROR
"""


def source_frame() -> pl.DataFrame:
    n = DAYS * 144
    t = np.arange(n)
    values = 100 + 10 * np.sin(2 * np.pi * t / 144) + np.random.default_rng(3).normal(0, 1.5, n)
    for at, bump in ((160, 40), (161, 38), (300, -45), (450, 30), (451, 33), (452, 31), (600, -50)):
        values[at] = values[at] + bump
    frame = series(START, n, TEN, values)
    gaps = {200, 201, 202, 500}
    return frame.filter(~pl.int_range(n).is_in(list(gaps)))


@pytest.fixture
def metric_project(project):
    project.source_table("src", source_frame())
    project.metric("orders", METRIC)
    project.write("profiles.yml", "alert_channels:\n  inbox: {type: outbox}\n")
    loaded = load_project(project.root)
    return project, loaded, MetricContext(loaded, loaded.metrics[0])


def materialize(loaded, mc, instance, partition=None, tags=None, tables=("datapoints", "detections", "alerts")):
    defs = metric_definitions(mc)
    assets = [a for a in defs.assets if a.key.path[-1] in tables]
    return dg.materialize(assets, instance=instance, resources=shared_resources(loaded),
                          partition_key=partition, tags=tags, run_config=QUIET)


def table(project, name):
    order = {"detections": ("timestamp", "detector_id"), "alerts": ("timestamp", "alert_index", "kind")}
    return MetricStore(project.storage_dir, "orders").read_range(name, order_by=order.get(name, ("timestamp",)))


def run_one_by_one(project, loaded, mc, keys):
    with dg.instance_for_test() as instance:
        for key in keys:
            materialize(loaded, mc, instance, key)


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    # Stored event ids are scoped to the metric; what they derive from (config id, kind, time) stays.
    return frame.drop([c for c in ("sendable", "hold_reason", "event_id") if c in frame.columns])


def test_detections_only_for_own_partition_and_keyed_uniquely(metric_project):
    project, loaded, mc = metric_project
    with dg.instance_for_test() as instance:
        materialize(loaded, mc, instance, "2024-01-01")
        materialize(loaded, mc, instance, "2024-01-02")
    det = table(project, "detections")
    assert det["timestamp"].min() == START and det["timestamp"].max() == START + timedelta(days=2) - TEN
    assert det.select("detector_id", "timestamp").is_unique().all()
    assert det.height == 2 * 2 * 144
    first = det.filter(pl.col("timestamp") == START)
    assert set(first["status"]) == {"insufficient_data"}


def test_detections_identical_one_by_one_and_as_one_range(metric_project):
    project, loaded, mc = metric_project
    run_one_by_one(project, loaded, mc, KEYS)
    one_by_one = table(project, "detections")
    MetricStore(project.storage_dir, "orders").path.unlink()
    with dg.instance_for_test() as instance:
        materialize(loaded, mc, instance, tags={RANGE_START: KEYS[0], RANGE_END: KEYS[-1]})
    assert table(project, "detections").equals(one_by_one)
    assert one_by_one["is_anomaly"].sum() > 0


def test_partition_events_equal_one_replay_over_history(metric_project):
    project, loaded, mc = metric_project
    run_one_by_one(project, loaded, mc, KEYS)
    in_order = table(project, "alerts")
    metric = loaded.metrics[0]
    whole = replay_blocks(table(project, "detections"), table(project, "datapoints"), metric.alerts,
                          600, START, START + timedelta(days=DAYS) - TEN)
    assert set(in_order["kind"]) >= {"anomaly", "recovery", "no_data"}
    assert comparable(in_order).equals(whole.sort("timestamp", "alert_index", "kind").select(comparable(in_order).columns))

    # Out of order after a fix: re-run every partition in a shuffled order.
    shuffled = KEYS[:]
    random.Random(5).shuffle(shuffled)
    with dg.instance_for_test() as instance:
        for key in shuffled:
            materialize(loaded, mc, instance, key, tables=("alerts",))
    assert comparable(table(project, "alerts")).equals(comparable(in_order))

    # One single-run range.
    MetricStore(project.storage_dir, "orders").path.unlink()
    with dg.instance_for_test() as instance:
        materialize(loaded, mc, instance, tags={RANGE_START: KEYS[0], RANGE_END: KEYS[-1]})
    assert comparable(table(project, "alerts")).equals(comparable(in_order))


def check_results(instance, mc, name):
    key = dg.AssetCheckKey(mc.key(name.split(":")[0]), name.split(":")[1])
    infos = instance.event_log_storage.get_asset_check_partition_info([key])
    return {info.partition_key: info.latest_execution_status.value for info in infos}


def test_checks_are_attributed_per_partition_also_in_range_runs(metric_project):
    project, loaded, mc = metric_project
    with dg.instance_for_test() as instance:
        result = materialize(loaded, mc, instance, tags={RANGE_START: KEYS[0], RANGE_END: KEYS[-1]})
        alerts = check_results(instance, mc, "alerts:no_anomaly_alert")
        complete = check_results(instance, mc, "datapoints:complete")
        evaluations = [e.event_specific_data for e in result.all_events
                       if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.asset_key == mc.key("alerts")]
    events = table(project, "alerts")
    fired = {e.strftime("%Y-%m-%d") for e in events.filter(pl.col("kind") == "anomaly")["timestamp"]}
    assert set(alerts) == set(KEYS)
    for key in KEYS:
        assert alerts[key] == ("FAILED" if key in fired else "SUCCEEDED")
    assert complete["2024-01-02"] == "FAILED" and complete["2024-01-04"] == "FAILED"
    assert complete["2024-01-03"] == "SUCCEEDED"
    failing = [e for e in evaluations if not e.passed]
    assert failing and all(e.metadata["rules"] for e in failing)
    severities = {e.partition: e.severity for e in failing}
    both_blocks = events.filter(pl.col("kind") == "anomaly").group_by(
        pl.col("timestamp").dt.strftime("%Y-%m-%d")).agg(pl.col("alert_index").max())
    for day, top_block in both_blocks.iter_rows():
        assert severities[day] == (dg.AssetCheckSeverity.ERROR if top_block == 1 else dg.AssetCheckSeverity.WARN)


def test_changed_detector_params_get_a_new_id_and_old_rows_stay(metric_project):
    project, loaded, mc = metric_project
    with dg.instance_for_test() as instance:
        materialize(loaded, mc, instance, "2024-01-02")
    old_ids = set(table(project, "detections")["detector_id"])
    project.metric("orders", METRIC.replace("threshold: 3.0}", "threshold: 3.5}", 1))
    changed = load_project(project.root)
    mc2 = MetricContext(changed, changed.metrics[0])
    with dg.instance_for_test() as instance:
        materialize(changed, mc2, instance, "2024-01-02")
    ids = set(table(project, "detections")["detector_id"])
    assert len(ids) == 3 and old_ids < ids


def test_suppressed_and_disabled_blocks_store_held_events(metric_project):
    project, loaded, mc = metric_project
    text = METRIC.replace("    no_data_alert: true\n", "    no_data_alert: true\n    suppress_until: '2030-01-01'\n")
    text = text.replace("    check_severity: ERROR\n", "    check_severity: ERROR\n    enabled: false\n")
    project.metric("orders", text)
    changed = load_project(project.root)
    run_one_by_one(project, changed, MetricContext(changed, changed.metrics[0]), KEYS[:3])
    events = table(project, "alerts")
    assert events.height > 0 and not events["sendable"].any()
    reasons = set(events["hold_reason"])
    assert "suppressed until 2030-01-01 00:00:00" in reasons
    assert "alert block disabled" in reasons


def test_each_partition_of_a_range_run_carries_its_own_numbers(metric_project):
    project, loaded, mc = metric_project
    with dg.instance_for_test() as instance:
        result = materialize(loaded, mc, instance, tags={RANGE_START: KEYS[0], RANGE_END: KEYS[-1]})
        metas = {(e.asset_key.path[-1], e.partition): e.materialization.metadata
                 for e in result.get_asset_materialization_events()}
    events, detections = table(project, "alerts"), table(project, "detections")
    assert events.height and len({metas[("alerts", k)]["anomaly_alerts"].value for k in KEYS}) > 1
    for key in KEYS:
        day = pl.col("timestamp").dt.strftime("%Y-%m-%d") == key
        alerts, dets = metas[("alerts", key)], metas[("detections", key)]
        assert alerts["anomaly_alerts"].value == events.filter(day & (pl.col("kind") == "anomaly")).height
        assert alerts["no_data_alerts"].value == events.filter(day & (pl.col("kind") == "no_data")).height
        assert alerts["dagster/partition_row_count"].value == events.filter(day).height
        assert dets["dagster/partition_row_count"].value == detections.filter(day).height
        assert dets["anomalies"].value == detections.filter(day)["is_anomaly"].sum()
        points = metas[("datapoints", key)]
        assert points["dagster/partition_row_count"].value == 144
        assert points["missing_points"].value == len([g for g in (200, 201, 202, 500) if g // 144 == KEYS.index(key)])


def test_report_asset_writes_page_and_metadata(metric_project):
    project, loaded, mc = metric_project
    with dg.instance_for_test() as instance:
        result = materialize(loaded, mc, instance, "2024-01-03",
                             tables=("datapoints", "detections", "alerts", "report"))
        meta = next(e.materialization.metadata for e in result.get_asset_materialization_events()
                    if e.asset_key == mc.key("report"))
    page = project.root / "reports" / "orders" / "2024-01-03.html"
    assert page.exists() and (project.root / "reports" / "orders.html").exists()
    assert meta["path"].value == str(page)
    assert "url" not in meta and "dagster/uri" not in meta  # no web address without report_base_url
    assert meta["size_kb"].value > 1
    assert meta["points"].value == 144
    assert "data:image/png;base64," in meta["chart"].value


def test_report_links_use_the_report_base_url(metric_project):
    project, _, _ = metric_project
    project.write("detectkit_project.yml", "report_base_url: https://reports.example.com/shop/\n")
    loaded = load_project(project.root)
    mc = MetricContext(loaded, loaded.metrics[0])
    with dg.instance_for_test() as instance:
        result = materialize(loaded, mc, instance, tags={RANGE_START: KEYS[0], RANGE_END: KEYS[2]},
                             tables=("datapoints", "detections", "alerts", "report"))
        metas = {e.partition: e.materialization.metadata for e in result.get_asset_materialization_events()
                 if e.asset_key == mc.key("report")}
    newest = metas[KEYS[2]]
    assert newest["dagster/uri"].value == "https://reports.example.com/shop/orders/2024-01-03.html"
    assert newest["current_report"].value == "https://reports.example.com/shop/orders.html"
    # A range run writes the newest partition's page only, and says so on the others.
    assert not (project.root / "reports" / "orders" / "2024-01-01.html").exists()
    assert "not written" in metas[KEYS[0]]["report"].value


def test_detectors_see_only_the_metrics_seasonality_features(project):
    """As in detectkit: a component naming a feature the metric does not load has no effect."""
    project.source_table("src", source_frame())
    base = METRIC.split("alerting:")[0].replace(
        "params: {window_size: 144, min_samples: 20, threshold: 3.0}",
        "params: {window_size: 144, min_samples: 20, threshold: 3.0, seasonality_components: [hour]}")
    rows = {}
    for label, extra in (("without", ""), ("with", "seasonality_columns: [hour]\n")):
        project.metric("orders", base + extra)
        loaded = load_project(project.root)
        with dg.instance_for_test() as instance:
            materialize(loaded, MetricContext(loaded, loaded.metrics[0]), instance, "2024-01-03",
                        tables=("datapoints", "detections"))
        rows[label] = table(project, "detections").filter(pl.col("detector_name") == "MADDetector")
        MetricStore(project.storage_dir, "orders").path.unlink()
    assert "seasonality_groups" not in rows["without"]["detection_metadata"][-1]
    assert "seasonality_groups" in rows["with"]["detection_metadata"][-1]


def alerts_metadata(result, mc) -> dict:
    return {e.partition: e.materialization.metadata for e in result.get_asset_materialization_events()
            if e.asset_key == mc.key("alerts")}


def test_a_tick_resumes_from_stored_state_and_rewritten_history_forces_a_full_replay(metric_project):
    project, loaded, mc = metric_project
    metric = loaded.metrics[0]
    with dg.instance_for_test() as instance:
        first = materialize(loaded, mc, instance, tags={RANGE_START: KEYS[0], RANGE_END: KEYS[-1]})
        assert "first stored point" in alerts_metadata(first, mc)[KEYS[-1]]["replay"].value
        tick = materialize(loaded, mc, instance, KEYS[-1])
        assert "resumed from the state stored at 2024-01-05" in alerts_metadata(tick, mc)[KEYS[-1]]["replay"].value
        resumed = table(project, "alerts")
        assert comparable(resumed).equals(comparable(full_replay(project, metric)))

        # History changes: a spike in a day that had none. Rewriting it drops the stored states
        # after it, so the next tick replays everything, and agrees with a replay from scratch.
        source = source_frame().with_columns(
            pl.when(pl.col("timestamp").is_between(datetime(2024, 1, 2, 6), datetime(2024, 1, 2, 7)))
            .then(400.0).otherwise(pl.col("value")).alias("value"))
        project.source_table("src", source)
        materialize(loaded, mc, instance, "2024-01-02", tables=("datapoints", "detections"))
        tick = materialize(loaded, mc, instance, KEYS[-1])
        assert "first stored point" in alerts_metadata(tick, mc)[KEYS[-1]]["replay"].value
        materialize(loaded, mc, instance, "2024-01-02", tables=("alerts",))
    after = table(project, "alerts")
    assert comparable(after).equals(comparable(full_replay(project, metric)))
    assert not comparable(after).equals(comparable(resumed))  # the spike changed the events


def full_replay(project, metric) -> pl.DataFrame:
    events = replay_blocks(table(project, "detections"), table(project, "datapoints"), metric.alerts,
                           600, START, START + timedelta(days=DAYS) - TEN)
    return events.sort("timestamp", "alert_index", "kind")


def test_a_report_window_starts_no_earlier_than_the_first_stored_point(metric_project):
    project, loaded, mc = metric_project
    with dg.instance_for_test() as instance:
        materialize(loaded, mc, instance, tags={RANGE_START: KEYS[0], RANGE_END: KEYS[1]})
    store = MetricStore(project.storage_dir, "orders")
    page = report_input("shop", loaded.metrics[0], store, datetime(2024, 1, 3), datetime(2024, 1, 3))
    assert page.window_start == START  # 1,500 points back would be 2023-12-22
    assert page.datapoints.height == 2 * 144
    chosen = report_input("shop", loaded.metrics[0], store, datetime(2024, 1, 3), datetime(2024, 1, 3),
                          start=datetime(2024, 1, 2))
    assert chosen.window_start == datetime(2024, 1, 2) and chosen.datapoints.height == 144


def test_a_long_replay_read_piece_by_piece_gives_the_events_of_one_replay(metric_project, monkeypatch):
    from detectkit_dagster.pipeline import alerts as alerts_module

    project, loaded, mc = metric_project
    monkeypatch.setattr(alerts_module, "PIECE_POINTS", 37)  # about 20 pieces over the five days
    with dg.instance_for_test() as instance:
        materialize(loaded, mc, instance, tags={RANGE_START: KEYS[0], RANGE_END: KEYS[-1]})
    events = table(project, "alerts")
    assert events.height and comparable(events).equals(comparable(full_replay(project, loaded.metrics[0])))
