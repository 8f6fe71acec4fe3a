"""Config loading: detectkit metric files load unchanged; bad input gets one clear error."""

from datetime import datetime

import pytest

from detectkit_dagster.errors import ConfigError
from detectkit_dagster.project import load_project
from detectkit_dagster.config.envvars import interpolate, MissingEnvVar

from conftest import REPO

MINIMAL = """\
name: orders
interval: 10min
loading_start_time: "2024-01-01 00:00:00"
query: SELECT 1
"""


def load_error(project) -> str:
    with pytest.raises(ConfigError) as info:
        load_project(project.root)
    return str(info.value)


# --- detectkit metric files load unchanged -------------------------------------------------

DETECTKIT_EXAMPLES = {
    "minimal": MINIMAL,
    "nested_metric_key": """\
        metric:
          name: cpu_usage
          interval: 1h
          loading_start_time: "2024-01-01 00:00:00"
          query: "SELECT ts AS timestamp, cpu AS value FROM host_stats"
        """,
    "everything": """\
        name: checkout_orders
        description: Orders per 10 minutes
        tags: [shop, revenue-critical]
        profile: default
        query_file: sql/orders.sql
        query_columns:
          timestamp: bucket
          metric: orders
        interval: 600
        loading_start_time: "2024-01-01 00:00:00"
        seasonality_columns: [hour, day_of_week, day_of_month, month, is_weekend, is_holiday]
        loading_batch_size: 5000
        detectors:
          - type: mad
            params:
              threshold: 3.5
              window_size: 1008
              min_samples: 100
              seasonality_components: [hour, [hour, day_of_week]]
              min_samples_per_group: 5
              window_weights: exponential
              half_life: 1d
              detrend: linear
              start_time: "2024-02-01 00:00:00"
              batch_size: 500
          - type: zscore
            params: {smoothing: ema, smoothing_alpha: 0.3, input_type: changes}
          - type: iqr
            params: {threshold: 1.5, window_weights: linear, smoothing: sma, smoothing_window: 6}
          - type: manual_bounds
            params: {lower_bound: 0, upper_bound: 1000}
        alerting:
          - enabled: true
            channels: []
            min_detectors: 2
            direction: same
            consecutive_anomalies: 3
            no_data_alert: true
            alert_cooldown: 30min
            cooldown_reset_on_recovery: true
            notify_on_recovery: true
            suppress_until: "2024-01-01 00:00:00"
            timezone: Europe/Berlin
            template_single: "{metric_name} is {value}"
            template_consecutive: "{metric_name}: {consecutive_count} in a row"
            template_recovery: "{metric_name} recovered"
            template_no_data: "{metric_name} has no data"
            mentions: [here, alice]
            dashboard_url: https://grafana.example.com/d/orders
            links: {Runbook: "https://wiki.example.com/orders"}
          - channels: []
            direction: down
            alert_cooldown: 3600
        tables: {datapoints: null, detections: null}
        autotune:
          detector_types: [mad, zscore]
          scoring_metric: f1
          folds: 4
        enabled: true
        """,
    "single_alert_mapping_and_weight_decay": """\
        name: error_rate
        interval: 5min
        loading_start_time: "2024-01-01 00:00:00"
        query: SELECT 1
        detectors:
          - type: zscore
            params: {window_weights: exponential, weight_decay: 0.95}
        alerting:
          channels: []
          consecutive_anomalies: 1
        """,
}


@pytest.mark.parametrize("name", sorted(DETECTKIT_EXAMPLES))
def test_detectkit_metric_files_load_unchanged(project, name):
    project.metric(name, DETECTKIT_EXAMPLES[name])
    project.write("sql/orders.sql", "SELECT bucket, orders FROM t WHERE bucket >= '{{ dtk_start_time }}'")
    loaded = load_project(project.root)
    (metric,) = loaded.metrics
    assert metric.sql.strip().startswith("SELECT")
    assert metric.loading_start_time == datetime(2024, 1, 1)


def test_everything_example_keeps_detectkit_semantics(project):
    project.metric("everything", DETECTKIT_EXAMPLES["everything"])
    project.write("sql/orders.sql", "SELECT bucket, orders FROM t")
    metric = load_project(project.root).metrics[0]
    assert metric.interval_seconds == 600
    assert metric.columns.timestamp == "bucket" and metric.columns.metric == "orders"
    assert [d.type for d in metric.detectors] == ["mad", "zscore", "iqr", "manual_bounds"]
    assert len(metric.alerts) == 2
    assert metric.alerts[1].direction == "down"


def test_shipped_demo_project_loads():
    loaded = load_project(REPO)
    assert {m.name for m in loaded.metrics} == {
        "orders_per_10min", "api_error_rate", "checkout_latency_p95", "signups_daily"}


def test_disabled_metrics_are_skipped(project):
    project.metric("a", MINIMAL)
    project.metric("b", MINIMAL.replace("orders", "refunds") + "enabled: false\n")
    loaded = load_project(project.root)
    assert [m.name for m in loaded.metrics] == ["orders"]
    assert loaded.disabled == ("refunds",)


def test_nested_folders_and_hidden_paths(project):
    project.metric("shop/eu/orders", MINIMAL)
    project.metric(".history/orders_old", MINIMAL)
    assert [m.name for m in load_project(project.root).metrics] == ["orders"]


# --- bad input: most cases are rows of tests/test_bad_inputs.py; these need several files ---

def test_duplicate_metric_names(project):
    first = project.metric("a", MINIMAL)
    second = project.metric("b", MINIMAL)
    message = load_error(project)
    assert "duplicate metric name 'orders'" in message
    assert str(first) in message and str(second) in message


@pytest.mark.parametrize("name, key", [("orders-per-day", "orders_per_day"), ("1orders", "m_1orders"),
                                       ("заказы", "______")])
def test_detectkit_names_keep_their_name_and_map_to_a_safe_key(project, name, key):
    project.metric("orders", MINIMAL.replace("name: orders", f"name: '{name}'"))
    metric = load_project(project.root).metrics[0]
    assert (metric.name, metric.key) == (name, key)


def test_names_mapping_to_one_key_collide(project):
    project.metric("a", MINIMAL.replace("name: orders", "name: orders-daily"))
    project.metric("b", MINIMAL.replace("name: orders", "name: orders_daily"))
    message = load_error(project)
    assert "same asset key 'orders_daily'" in message and "orders-daily" in message


def test_env_interpolation_both_syntaxes(monkeypatch):
    monkeypatch.setenv("HOST", "db1")
    data = {"a": "${HOST}:5432", "b": ["{{ env_var('HOST') }}", "{{env_var(\"NOPE\", 'x')}}"]}
    assert interpolate(data) == {"a": "db1:5432", "b": ["db1", "x"]}
    with pytest.raises(MissingEnvVar, match="NOPE"):
        interpolate({"c": "${NOPE}"})


def test_secrets_do_not_appear_in_profile_repr(project, monkeypatch):
    monkeypatch.setenv("PGPASS", "hunter2-secret")
    project.metric("orders", MINIMAL)
    project.write("profiles.yml", "profiles:\n  pg: {type: postgres, password: '${PGPASS}'}\n")
    loaded = load_project(project.root)
    assert "hunter2-secret" not in repr(loaded.profiles)


def test_no_metrics_folder(project):
    assert "metrics folder not found" in load_error(project)


def test_seasonality_component_the_metric_does_not_load_is_reported(project, caplog):
    project.metric("orders", MINIMAL + "seasonality_columns: [day_of_week]\n"
                   "detectors:\n  - type: mad\n    params: {seasonality_components: [hour, day_of_week]}\n")
    with caplog.at_level("WARNING"):
        load_project(project.root)
    assert "detectors[0]" in caplog.text and "['hour']" in caplog.text and "no effect" in caplog.text



VALID_CRONS = ["*/10 * * * *", "0 * * * *", "0 0 * * *", "5,35 8-18 * * MON-FRI", "0 6 1 JAN,jul *", "0 0 * * 7",
               "15/20 * * * *", "0 0 29 2 *", "@daily", "@hourly", "*/5 1-23/2 1-15 * 0-6"]
INVALID_CRONS = ["99 99 99 99 99", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
                 "*/0 * * * *", "0 0 30 2 *", "* * * *", "* * * * * *", "a b c d e", "1,,2 * * * *", "@often"]


@pytest.mark.parametrize("cron", VALID_CRONS + INVALID_CRONS + ["5-1 * * * *"])
def test_cron_check_agrees_with_dagster(cron):
    """What a metric file may name, the code location can schedule; a range running backwards
    (which Dagster wraps around) is refused as a likely typo."""
    from dagster._utils.schedules import is_valid_cron_string

    from detectkit_dagster.config.cron import check_cron

    try:
        check_cron(cron)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == (cron in VALID_CRONS)
    assert is_valid_cron_string(cron) == (cron not in INVALID_CRONS)
