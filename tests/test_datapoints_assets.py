"""The datapoints assets through Dagster: partitions, idempotent re-runs, no loss on failure."""

from datetime import datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from detectkit_dagster.project import load_project
from detectkit_dagster.defs.context import MetricContext
from detectkit_dagster.defs.datapoints import load_range
from detectkit_dagster.pipeline import Window
from detectkit_dagster.defs.project import metric_definitions, shared_resources
from detectkit_dagster.defs.runner import RANGE_END, RANGE_START
from detectkit_dagster.storage import DuckDBMetricStore as MetricStore

from conftest import SIMPLE_METRIC, series

START = datetime(2024, 1, 1)
TEN = timedelta(minutes=10)
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def setup(project, days=3, name="orders"):
    project.source_table("src", series(START, days * 144, TEN))
    project.metric(name, SIMPLE_METRIC.format(name=name, table="src"))
    loaded = load_project(project.root)
    mc = MetricContext(loaded, loaded.metrics[0])
    return loaded, mc


def datapoints_def(mc):
    return [a for a in metric_definitions(mc).assets if a.key == mc.key("datapoints")]


def run(loaded, mc, instance, partition=None, tags=None, raise_on_error=True):
    return dg.materialize(
        datapoints_def(mc), instance=instance, resources=shared_resources(loaded),
        partition_key=partition, tags=tags, run_config=QUIET, raise_on_error=raise_on_error,
    )


def stored(project, name="orders"):
    return MetricStore(project.storage_dir, name).read_range("datapoints")


def test_partition_is_materialized_with_metadata(project):
    loaded, mc = setup(project)
    with dg.instance_for_test() as instance:
        result = run(loaded, mc, instance, "2024-01-02")
        (event,) = result.get_asset_materialization_events()
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert meta["dagster/partition_row_count"] == 144 and meta["missing_points"] == 0
    assert meta["first_timestamp"] == "2024-01-02 00:00:00"
    assert meta["last_timestamp"] == "2024-01-02 23:50:00"
    assert meta["off_grid_rows_dropped"] == 0
    frame = stored(project)
    assert frame.height == 144 and frame["timestamp"].min() == datetime(2024, 1, 2)


def test_rematerializing_leaves_exactly_one_copy(project):
    loaded, mc = setup(project)
    with dg.instance_for_test() as instance:
        run(loaded, mc, instance, "2024-01-02")
        run(loaded, mc, instance, "2024-01-02")
        run(loaded, mc, instance, "2024-01-01")
    frame = stored(project)
    assert frame.height == 288
    assert frame["timestamp"].n_unique() == 288


def test_source_failure_fails_the_run_and_keeps_stored_rows(project):
    loaded, mc = setup(project)
    with dg.instance_for_test() as instance:
        run(loaded, mc, instance, "2024-01-02")
        before = stored(project)
        project.source_sql("DROP TABLE src")
        result = run(loaded, mc, instance, "2024-01-02", raise_on_error=False)
        assert not result.success
        failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "query failed" in failure and "src" in failure
    assert stored(project).equals(before)


def test_bad_result_writes_nothing(project):
    loaded, mc = setup(project)
    with dg.instance_for_test() as instance:
        run(loaded, mc, instance, "2024-01-02")
        before = stored(project)
        project.source_sql("INSERT INTO src VALUES (TIMESTAMP '2024-01-02 05:00:00', 1.0)")  # duplicate
        result = run(loaded, mc, instance, "2024-01-02", raise_on_error=False)
    assert not result.success
    assert stored(project).equals(before)


def test_failed_write_rolls_back_to_previous_partition(project):
    store = MetricStore(project.storage_dir, "orders")
    day = series(START, 144, TEN).with_columns(seasonality_data=pl.lit("{}"))
    store.replace_range("datapoints", day, START, START + timedelta(days=1))
    broken = day.with_columns(value=pl.lit("not a number"))  # the INSERT fails after the DELETE ran
    with pytest.raises(Exception):
        store.replace_range("datapoints", broken, START, START + timedelta(days=1))
    assert store.read_range("datapoints").equals(day)


def test_empty_first_write_creates_the_table(project):
    store = MetricStore(project.storage_dir, "orders")
    empty = series(START, 0, TEN)
    store.replace_range("datapoints", empty, START, START + timedelta(days=1))
    assert store.tables() == ["datapoints"]
    assert store.read_range("datapoints").schema == empty.schema


def test_single_run_range_equals_partition_by_partition(project):
    loaded, mc = setup(project, days=4)
    with dg.instance_for_test() as instance:
        run(loaded, mc, instance, tags={RANGE_START: "2024-01-01", RANGE_END: "2024-01-03"})
        ranged = stored(project)
        keys = instance.get_materialized_partitions(mc.key("datapoints"))
    assert keys == {"2024-01-01", "2024-01-02", "2024-01-03"}
    MetricStore(project.storage_dir, "orders").path.unlink()
    with dg.instance_for_test() as instance:
        for day in ("2024-01-03", "2024-01-01", "2024-01-02"):
            run(loaded, mc, instance, day)
    assert stored(project).equals(ranged)


def test_in_progress_partition_loads_complete_intervals_only(project):
    _, mc = setup(project)
    window = Window(datetime(2024, 1, 3), datetime(2024, 1, 4))
    start, end = load_range(mc, window, now=datetime(2024, 1, 3, 5, 7))
    assert (start, end) == (datetime(2024, 1, 3), datetime(2024, 1, 3, 5, 0))
    start, end = load_range(mc, window, now=datetime(2024, 1, 9))
    assert end == datetime(2024, 1, 4)


def test_partitions_start_at_loading_start_and_include_the_current_one(project):
    _, mc = setup(project)
    pdef = mc.partitions_def
    keys = pdef.get_partition_keys(current_time=datetime(2024, 1, 5, 12))
    assert keys[0] == "2024-01-01" and keys[-1] == "2024-01-05"


@pytest.mark.parametrize("interval, granularity", [("30s", "hourly"), ("10min", "daily"), ("1h", "daily"), ("1d", "monthly")])
def test_default_granularity_from_interval(project, interval, granularity):
    project.metric("m", SIMPLE_METRIC.format(name="m", table="src").replace("10min", interval))
    loaded = load_project(project.root)
    assert MetricContext(loaded, loaded.metrics[0]).partitioning.granularity == granularity


def test_asset_group_description_owners_tags_kinds(project):
    project.metric("orders", SIMPLE_METRIC.format(name="orders", table="src") + (
        "description: Orders per 10 minutes\ntags: [shop, revenue]\n"
        "dagster: {owners: [team:checkout], partitions: weekly}\n"))
    loaded = load_project(project.root)
    mc = MetricContext(loaded, loaded.metrics[0])
    (asset,) = datapoints_def(mc)
    spec = next(iter(asset.specs))
    assert spec.group_name == "orders"
    assert spec.owners == ["team:checkout"]
    assert {"shop", "revenue"} <= set(spec.tags)
    assert {"duckdb", "polars"} <= set(spec.kinds)
    assert spec.description.startswith("Orders per 10 minutes")
    assert isinstance(spec.partitions_def, dg.WeeklyPartitionsDefinition)
