"""What the Dagster UI shows after a single-run range and a single partition, read from the real
webserver's GraphQL API over a SQLite DAGSTER_HOME: check status per partition (with severity)
and each partition's own materialization metadata."""

from datetime import datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl
import pytest

from detectkit_dagster.cli.common import DAGSTER_YAML
from detectkit_dagster.defs.context import MetricContext
from detectkit_dagster.defs.instance import BatchedSqliteEventLogStorage
from detectkit_dagster.defs.project import metric_definitions, shared_resources
from detectkit_dagster.defs.runner import RANGE_END, RANGE_START
from detectkit_dagster.pipeline import alert_check, completeness_check
from detectkit_dagster.project import load_project
from detectkit_dagster.storage import open_storage

from conftest import series
from support.webserver import graphql, webserver

START = datetime(2024, 1, 1)
TEN = timedelta(minutes=10)
RANGE = ["2024-01-01", "2024-01-02", "2024-01-03"]
SINGLE = "2024-01-04"
KEYS = [*RANGE, SINGLE]
CHECKS = {("datapoints", "complete"), ("alerts", "no_anomaly_alert")}
BASE_URL = "https://reports.example.com/shop"

METRIC = """\
name: orders
interval: 10min
loading_start_time: "2024-01-01 00:00:00"
query: SELECT * FROM src WHERE timestamp >= '{{ dtk_start_time }}' AND timestamp < '{{ dtk_end_time }}'
detectors:
  - type: mad
    params: {window_size: 30, min_samples: 10, threshold: 3.0}
alerting:
  - channels: [inbox]
    direction: up
    consecutive_anomalies: 1
  - channels: [inbox]
    direction: down
    consecutive_anomalies: 1
    check_severity: ERROR
"""

CHECK_STATUS = """query ($path: [String!]!) { assetNodes(assetKeys: [{path: $path}]) {
  assetChecksOrError { ... on AssetChecks { checks { name
    partitionStatuses { __typename ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } }
  } } } } }"""

EXECUTIONS = """query ($path: [String!]!, $check: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $check, limit: 100) {
    partition status evaluation { success severity partition targetMaterialization { runId } } } }"""

LATEST = """query ($path: [String!]!, $partitions: [String!]!) { assetNodes(assetKeys: [{path: $path}]) {
  latestMaterializationByPartition(partitions: $partitions) { partition runId
    metadataEntries { label __typename
      ... on IntMetadataEntry { intValue } ... on PathMetadataEntry { path } ... on UrlMetadataEntry { url }
      ... on TextMetadataEntry { text } ... on MarkdownMetadataEntry { mdStr } } } } }"""


def source_frame() -> pl.DataFrame:
    """A steady saw-tooth with a spike up on day 1 and day 4, a dip on day 3, and gaps on days 2
    and 4; the checks' verdicts are computed from what gets stored, not from this list."""
    n = len(KEYS) * 144
    values = 100 + (np.arange(n) % 7).astype(float)
    for at, change in ((70, 60), (3 * 144 + 90, 80), (2 * 144 + 40, -60)):
        values[at] += change
    gaps = [144 + 20, 144 + 21, 3 * 144 + 10]
    return series(START, n, TEN, values).filter(~pl.int_range(n).is_in(gaps))


@pytest.fixture(params=["project", "dagster"])
def materialized(request, project, tmp_path, monkeypatch):
    """The range run and the single partition, into a SQLite instance the webserver reads: the
    one the project's commands write, whose storage batches a range's materializations, and
    Dagster's own."""
    project.source_table("src", source_frame())
    project.metric("orders", METRIC)
    project.write("profiles.yml", "alert_channels:\n  inbox: {type: outbox}\n")
    project.write("detectkit_project.yml", f"report_base_url: {BASE_URL}\n")
    loaded = load_project(project.root)
    mc = MetricContext(loaded, loaded.metrics[0])
    assets = metric_definitions(mc).assets
    home = tmp_path / "dagster_home"
    home.mkdir()
    if request.param == "project":
        (home / "dagster.yaml").write_text(DAGSTER_YAML)
        monkeypatch.setenv("DAGSTER_HOME", str(home))
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    every = {**quiet, "ops": {"orders__report": {"config": {"every_partition": True}}}}
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage) == (request.param == "project")
        runs = [
            dg.materialize(assets, instance=instance, resources=shared_resources(loaded), run_config=every,
                           tags={RANGE_START: RANGE[0], RANGE_END: RANGE[-1]}),
            dg.materialize(assets, instance=instance, resources=shared_resources(loaded), run_config=quiet,
                           partition_key=SINGLE),
        ]
    return project, loaded, mc, home, [r.run_id for r in runs]


def expected_outcomes(loaded, mc) -> dict:
    """The verdict of each check on each partition, from the stored tables."""
    store = open_storage(loaded).metric(mc.ident)
    outcomes = {}
    for key in KEYS:
        start = datetime.fromisoformat(key)
        points = store.read_range("datapoints", start, start + timedelta(days=1))
        events = store.read_range("alerts", start, start + timedelta(days=1), order_by=("timestamp", "alert_index"))
        outcomes[("datapoints", "complete", key)] = completeness_check(points)
        outcomes[("alerts", "no_anomaly_alert", key)] = alert_check(mc.metric, events)
    return outcomes


def days(ranges: list[dict], status: str) -> set[str]:
    """Partition keys of the status ranges (daily keys, so a range expands day by day)."""
    found = set()
    for r in (r for r in ranges if r["status"] == status):
        day, end = datetime.fromisoformat(r["startKey"]), datetime.fromisoformat(r["endKey"])
        while day <= end:
            found.add(day.strftime("%Y-%m-%d"))
            day += timedelta(days=1)
    return found


def entries(materialization: dict) -> dict:
    values = ("intValue", "path", "url", "text", "mdStr")
    return {e["label"]: next((e[v] for v in values if v in e), None) for e in materialization["metadataEntries"]}


def test_the_ui_shows_each_partitions_own_check_results_and_metadata(materialized):
    project, loaded, mc, home, run_ids = materialized
    expected = expected_outcomes(loaded, mc)
    verdicts = {(table, check): {key: expected[(table, check, key)] for key in KEYS} for table, check in CHECKS}
    # The data gives both verdicts for each check, and both severities for failed alert checks.
    assert all({o.passed for o in per.values()} == {True, False} for per in verdicts.values())
    alert_failures = [o for o in verdicts[("alerts", "no_anomaly_alert")].values() if not o.passed]
    assert {o.severity for o in alert_failures} == {"WARN", "ERROR"}

    with webserver(home, project.root) as port:
        statuses, executions, latest = {}, {}, {}
        for table in ("datapoints", "detections", "alerts", "report"):
            path = [mc.ident, table]
            (node,) = graphql(port, CHECK_STATUS, {"path": path})["assetNodes"]
            for check in node["assetChecksOrError"].get("checks", []):
                statuses[(table, check["name"])] = check["partitionStatuses"]
                executions[(table, check["name"])] = graphql(
                    port, EXECUTIONS, {"path": path, "check": check["name"]})["assetCheckExecutions"]
            (node,) = graphql(port, LATEST, {"path": path, "partitions": KEYS})["assetNodes"]
            latest[table] = {m["partition"]: m for m in node["latestMaterializationByPartition"]}

    assert set(statuses) == CHECKS
    for (table, check), per in verdicts.items():
        status = statuses[(table, check)]
        assert status["__typename"] == "AssetCheckTimePartitionStatuses"
        assert days(status["ranges"], "SUCCEEDED") == {k for k, o in per.items() if o.passed}, (table, check)
        assert days(status["ranges"], "FAILED") == {k for k, o in per.items() if not o.passed}, (table, check)
        assert {r["status"] for r in status["ranges"]} <= {"SUCCEEDED", "FAILED"}
        # Each evaluation names its partition and the materialization of that partition's run.
        runs = {key: (run_ids[0] if key in RANGE else run_ids[1]) for key in KEYS}
        by_partition = {e["partition"]: e["evaluation"] for e in executions[(table, check)]}
        assert set(by_partition) == set(KEYS)
        for key, outcome in per.items():
            evaluation = by_partition[key]
            assert evaluation["partition"] == key and evaluation["success"] == outcome.passed
            assert evaluation["targetMaterialization"]["runId"] == runs[key]
            if not outcome.passed:
                assert evaluation["severity"] == outcome.severity, (table, check, key)

    store = open_storage(loaded).metric(mc.ident)
    for key in KEYS:
        start = datetime.fromisoformat(key)
        stored = {t: store.read_range(t, start, start + timedelta(days=1)) for t in ("datapoints", "detections", "alerts")}
        points, detections, alerts, report = (entries(latest[t][key]) for t in
                                              ("datapoints", "detections", "alerts", "report"))
        assert points["dagster/partition_row_count"] == stored["datapoints"].height
        assert points["missing_points"] == int(stored["datapoints"]["value"].is_nan().sum())
        assert detections["dagster/partition_row_count"] == stored["detections"].height
        assert detections["anomalies"] == int(stored["detections"]["is_anomaly"].sum())
        events = stored["alerts"]
        assert alerts["dagster/partition_row_count"] == events.height
        assert alerts["anomaly_alerts"] == events.filter(pl.col("kind") == "anomaly").height
        page = project.root / "reports" / "orders" / f"{key}.html"
        assert report["path"] == str(page) and page.exists()
        assert report["url"] == f"{BASE_URL}/orders/{key}.html"
        assert "data:image/png;base64," in report["chart"]
    # The days differ, so each partition shows its own numbers, not the range's.
    assert len({entries(latest["alerts"][k])["anomaly_alerts"] for k in KEYS}) > 1
    assert len({entries(latest["datapoints"][k])["missing_points"] for k in KEYS}) > 1
