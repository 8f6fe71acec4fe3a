"""The project's SQLite instance stores a range run's partition materializations in batches and
records exactly what Dagster's own SQLite storage records for the same run."""

from collections import Counter
from datetime import datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as db
from dagster import EventLogRecord
from dagster._core.storage.event_log.schema import AssetKeyTable
from dagster._serdes import deserialize_value

from detectkit_dagster.cli.common import DAGSTER_YAML
from detectkit_dagster.defs.context import MetricContext
from detectkit_dagster.defs.instance import BatchedSqliteEventLogStorage
from detectkit_dagster.defs.project import metric_assets, shared_resources
from detectkit_dagster.defs.resources import STORAGE
from detectkit_dagster.defs.runner import RANGE_END, RANGE_START
from detectkit_dagster.project import load_project

from conftest import series

DAYS = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
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
    consecutive_anomalies: 1
"""
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@pytest.fixture
def loaded(project):
    values = [100.0 + (i % 7) + (80 if i in (70, 400) else 0) for i in range(len(DAYS) * 144)]
    project.source_table("src", series(datetime(2024, 1, 1), len(values), timedelta(minutes=10), values))
    project.metric("orders", METRIC)
    project.write("profiles.yml", "alert_channels:\n  inbox: {type: outbox}\n")
    return load_project(project.root)


def range_run(loaded, home, dagster_yaml: str | None, monkeypatch) -> tuple[dg.DagsterInstance, str, list, list]:
    home.mkdir()
    if dagster_yaml:
        (home / "dagster.yaml").write_text(dagster_yaml)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    mc = MetricContext(loaded, loaded.metrics[0])
    resources = shared_resources(loaded)
    assets = metric_assets(mc, resources[STORAGE])
    instance = dg.DagsterInstance.from_config(str(home))
    result = dg.materialize(assets, instance=instance, resources=resources, run_config=QUIET,
                            tags={RANGE_START: DAYS[0], RANGE_END: DAYS[-1]})
    assert result.success
    return instance, result.run_id, [a.key for a in assets], [c for a in assets for c in a.check_keys]


def recorded(instance: dg.DagsterInstance, run_id: str, keys: list, checks: list) -> dict:
    """What the UI reads: the run's events; per asset its partitions, each partition's
    materialization with its metadata, found by its data version too, and the asset's entry; per
    check each partition's execution, its verdict and the run of the materialization it checked."""
    seen = {"events": Counter(r.dagster_event.event_type_value for r in instance.all_logs(run_id)
                              if r.dagster_event)}
    for key in keys:
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=100).records
        seen[key] = {
            "partitions": instance.get_materialized_partitions(key),
            "by_partition": sorted((r.partition_key, r.run_id, sorted(r.asset_materialization.metadata))
                                   for r in records),
            "latest": instance.get_latest_materialization_event(key).asset_materialization.partition,
            "by_version": [found_by_version(instance, key, r) for r in records],
            "entry": asset_entry(instance, key),
            "status": instance.get_status_by_partition(key, DAYS, dg.DailyPartitionsDefinition("2024-01-01")),
        }
    for check in checks:
        executions = instance.event_log_storage.get_asset_check_execution_history(check, limit=100)
        seen[check] = sorted(
            (e.partition, e.status.value, e.event.dagster_event.event_specific_data.passed,
             e.event.dagster_event.event_specific_data.target_materialization_data.run_id == run_id)
            for e in executions)
    return seen


def found_by_version(instance: dg.DagsterInstance, key, record) -> bool:
    """The tags Dagster indexes for the event (its data version), looked up by its storage id."""
    version = record.asset_materialization.tags["dagster/data_version"]
    indexed = instance.get_event_tags_for_asset(key, filter_event_id=record.storage_id)
    return indexed == [{"dagster/data_version": version}]


def asset_entry(instance: dg.DagsterInstance, key) -> tuple:
    """The asset's row in the index: its latest materialization, as stored."""
    with instance.event_log_storage.index_connection() as conn:
        row = conn.execute(db.select(AssetKeyTable.c.last_materialization, AssetKeyTable.c.last_run_id)
                           .where(AssetKeyTable.c.asset_key == key.to_string())).one()
    last = deserialize_value(row.last_materialization, EventLogRecord)
    return last.partition_key, last.run_id == row.last_run_id


def test_batches_store_what_dagsters_sqlite_storage_stores(loaded, tmp_path, monkeypatch):
    batches, singles = [], []
    real_batch, real_single = BatchedSqliteEventLogStorage.store_event_batch, BatchedSqliteEventLogStorage.store_event

    def store_event_batch(self, events):
        batches.append(Counter(e.dagster_event_type.value for e in events))
        return real_batch(self, events)

    def store_event(self, event):
        singles.append(event.dagster_event_type.value if event.dagster_event else None)
        return real_single(self, event)

    monkeypatch.setattr(BatchedSqliteEventLogStorage, "store_event_batch", store_event_batch)
    monkeypatch.setattr(BatchedSqliteEventLogStorage, "store_event", store_event)
    ours, our_run, keys, checks = range_run(loaded, tmp_path / "ours", DAGSTER_YAML, monkeypatch)
    theirs, their_run, _, _ = range_run(loaded, tmp_path / "dagster", None, monkeypatch)

    assert isinstance(ours.event_log_storage, BatchedSqliteEventLogStorage)
    assert not isinstance(theirs.event_log_storage, BatchedSqliteEventLogStorage)
    # Each asset's five partition materializations came as one batch, none one at a time.
    materialized = [b for b in batches if "ASSET_MATERIALIZATION" in b]
    assert materialized == [Counter({"ASSET_MATERIALIZATION": len(DAYS)})] * len(keys)
    assert "ASSET_MATERIALIZATION" not in singles
    mine, dagsters = recorded(ours, our_run, keys, checks), recorded(theirs, their_run, keys, checks)
    for key in keys:
        assert mine[key]["partitions"] == set(DAYS)
        assert [p for p, run, _ in mine[key]["by_partition"]] == DAYS
        assert {run for _, run, _ in mine[key]["by_partition"]} == {our_run}
        assert mine[key]["latest"] == DAYS[-1] and mine[key]["entry"] == (DAYS[-1], True)
        assert mine[key]["by_version"] == [True] * len(DAYS)
        mine[key]["by_partition"] = [(p, meta) for p, _, meta in mine[key]["by_partition"]]
        dagsters[key]["by_partition"] = [(p, meta) for p, _, meta in dagsters[key]["by_partition"]]
    for check in checks:
        assert [(p, status, target) for p, status, _, target in mine[check]] == \
            [(day, "SUCCEEDED" if passed else "FAILED", True) for day, _, passed, _ in mine[check]]
        assert [p for p, *_ in mine[check]] == DAYS
    assert {passed for check in checks for _, _, passed, _ in mine[check]} == {True, False}
    assert mine == dagsters


def test_a_missing_dagster_home_is_named(tmp_path, monkeypatch):
    (tmp_path / "dagster.yaml").write_text(DAGSTER_YAML)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(Exception, match="DAGSTER_HOME"):
        dg.DagsterInstance.from_config(str(tmp_path)).event_log_storage
