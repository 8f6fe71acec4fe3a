"""Loading a metric from a real DuckDB source onto its grid, and every bad-result case."""

from datetime import datetime, timedelta
import math

import polars as pl
import pytest

from detectkit_dagster.project import load_project
from detectkit_dagster.sources import (
    DuckDBSource, SourceDataError, SourceError, load_datapoints, render_query,
)

from conftest import SIMPLE_METRIC, series

START = datetime(2024, 1, 1)
TEN = timedelta(minutes=10)


def load(project, sql_table="src", start=START, end=START + timedelta(hours=2), **extra):
    project.metric("m", SIMPLE_METRIC.format(name="m", table=sql_table) + "".join(
        f"{k}: {v}\n" for k, v in extra.items()))
    metric = load_project(project.root).metrics[0]
    return load_datapoints(metric, DuckDBSource(project.root / "data" / "source.duckdb"), start, end)


def load_unfiltered(project, start=START, end=START + timedelta(hours=2)):
    """A metric whose query returns the whole table, whatever its columns."""
    project.metric("m", "name: m\ninterval: 10min\nloading_start_time: '2024-01-01'\nquery: SELECT * FROM src\n")
    metric = load_project(project.root).metrics[0]
    return load_datapoints(metric, DuckDBSource(project.root / "data/source.duckdb"), start, end)


def test_gap_fill_puts_every_grid_point_in_and_missing_as_nan(project):
    frame = series(START, 12, TEN).filter(pl.col("timestamp") != START + 3 * TEN)
    project.source_table("src", frame)
    loaded = load(project)
    assert loaded.frame.height == 12
    assert loaded.frame.schema["timestamp"] == pl.Datetime("ms")
    values = loaded.frame["value"].to_list()
    assert math.isnan(values[3]) and not any(math.isnan(v) for i, v in enumerate(values) if i != 3)
    assert loaded.stats.source_rows == 11 and loaded.stats.off_grid_rows == 0


def test_null_values_are_missing_points(project):
    project.source_sql("CREATE TABLE src AS SELECT TIMESTAMP '2024-01-01 00:10:00' AS timestamp, NULL::DOUBLE AS value")
    loaded = load(project)
    assert loaded.frame["value"].is_nan().sum() == 12


def test_off_grid_and_out_of_range_rows_are_counted_not_silent(project):
    frame = pl.concat([
        series(START, 12, TEN),
        series(START + timedelta(minutes=5), 1, TEN, values=[9999.0]),
        series(START + timedelta(hours=2), 1, TEN, values=[9999.0]),
    ])
    project.source_table("src", frame)
    loaded = load_unfiltered(project)
    assert loaded.stats.off_grid_rows == 1
    assert loaded.stats.outside_range_rows == 1
    assert 9999.0 not in loaded.frame["value"].to_list()
    assert any("not on the 10min grid" in w and "00:05:00" in w for w in loaded.stats.warnings)


def test_grid_is_epoch_aligned_not_anchored_at_load_start(project):
    project.source_table("src", series(START, 12, TEN))
    loaded = load(project, start=START + timedelta(minutes=3))
    assert loaded.frame["timestamp"][0] == START + TEN


def test_query_columns_map_names(project):
    project.source_table("src2", series(START, 12, TEN).rename({"timestamp": "ts", "value": "orders"}))
    project.metric("m", """\
        name: m
        interval: 10min
        loading_start_time: "2024-01-01 00:00:00"
        query: SELECT ts, orders FROM src2
        query_columns: {timestamp: ts, metric: orders}
        """)
    metric = load_project(project.root).metrics[0]
    loaded = load_datapoints(metric, DuckDBSource(project.root / "data/source.duckdb"), START, START + timedelta(hours=2))
    assert loaded.frame["value"].is_nan().sum() == 0


def test_builtin_seasonality_features_as_sorted_json(project):
    project.source_table("src", series(START, 12, TEN))
    project.metric("m", SIMPLE_METRIC.format(name="m", table="src") + "seasonality_columns: [is_weekend, hour, day_of_week]\n")
    metric = load_project(project.root).metrics[0]
    loaded = load_datapoints(metric, DuckDBSource(project.root / "data/source.duckdb"), START, START + timedelta(hours=2))
    assert loaded.frame["seasonality_data"][0] == '{"day_of_week":0,"hour":0,"is_weekend":false}'
    assert loaded.frame["seasonality_data"][7] == '{"day_of_week":0,"hour":1,"is_weekend":false}'


def test_query_provided_seasonality_follows_its_row(project):
    frame = series(START, 3, TEN).with_columns(region=pl.Series(["eu", "us", "eu"]))
    project.source_table("src3", frame)
    project.metric("m", """\
        name: m
        interval: 10min
        loading_start_time: "2024-01-01 00:00:00"
        query: SELECT * FROM src3
        query_columns: {seasonality: [region]}
        """)
    metric = load_project(project.root).metrics[0]
    loaded = load_datapoints(metric, DuckDBSource(project.root / "data/source.duckdb"), START, START + timedelta(minutes=40))
    assert loaded.frame["seasonality_data"].to_list() == ['{"region":"eu"}', '{"region":"us"}', '{"region":"eu"}', "{}"]


def test_template_variables():
    sql = "WHERE ts >= '{{ dtk_start_time }}' AND ts < '{{ dtk_end_time }}' -- {{ interval_seconds }}"
    assert render_query(sql, START, START + TEN, 600) == (
        "WHERE ts >= '2024-01-01 00:00:00' AND ts < '2024-01-01 00:10:00' -- 600")


def test_unknown_template_variable_is_named():
    with pytest.raises(ValueError, match="dtk_start"):
        render_query("SELECT '{{ dtk_start }}'", START, START + TEN, 600)


def test_batches_split_long_ranges(project):
    project.source_table("src", series(START, 144, TEN))
    loaded = load(project, end=START + timedelta(days=1), loading_batch_size=50)
    assert loaded.frame.height == 144 and loaded.frame["value"].is_nan().sum() == 0
    assert loaded.frame["timestamp"].is_sorted()


# --- bad results fail with a message that names the problem -----------------------------

def test_source_query_error(project):
    project.source_table("src", series(START, 3, TEN))
    with pytest.raises(SourceError, match="query failed.*no_such_table"):
        load(project, sql_table="no_such_table")


def test_source_missing_file(project):
    with pytest.raises(SourceError, match="source database not found"):
        load(project)


def test_missing_value_column(project):
    project.source_table("src", series(START, 3, TEN).rename({"value": "orders"}))
    with pytest.raises(SourceDataError, match=r"no column 'value'.*got columns: \['timestamp', 'orders'\]"):
        load_unfiltered(project)


def test_non_numeric_value_column(project):
    project.source_sql("CREATE TABLE src AS SELECT TIMESTAMP '2024-01-01 00:10:00' AS timestamp, 'lots' AS value")
    with pytest.raises(SourceDataError, match="must be numeric.*'lots'"):
        load(project)


def test_numeric_strings_are_accepted(project):
    project.source_sql("CREATE TABLE src AS SELECT TIMESTAMP '2024-01-01 00:10:00' AS timestamp, '12.5' AS value")
    assert load(project).frame["value"][1] == 12.5


def test_duplicate_timestamps(project):
    frame = pl.concat([series(START, 3, TEN), series(START + TEN, 1, TEN, values=[5.0])])
    project.source_table("src", frame)
    with pytest.raises(SourceDataError, match="duplicate timestamp.*2024-01-01 00:10:00"):
        load(project)


def test_infinite_values(project):
    project.source_table("src", series(START, 3, TEN, values=[1.0, float("inf"), 2.0]))
    with pytest.raises(SourceDataError, match="infinite values at 2024-01-01 00:10:00"):
        load(project)


def test_nan_values_are_missing_points(project):
    project.source_table("src", series(START, 3, TEN, values=[1.0, float("nan"), 2.0]))
    assert load(project).frame["value"].is_nan().sum() == 10  # the NaN plus 9 empty grid points


def test_timezone_aware_timestamps_are_converted_to_utc(project):
    project.source_sql("""CREATE TABLE src AS SELECT
        TIMESTAMPTZ '2024-01-01 03:10:00+03:00' AS timestamp, 42.0 AS value""")
    loaded = load(project)
    assert loaded.frame.filter(pl.col("value") == 42.0)["timestamp"][0] == START + TEN
    assert loaded.stats.timezone_converted


def test_unparseable_timestamp_strings(project):
    project.source_sql("CREATE TABLE src AS SELECT 'yesterday' AS timestamp, 1.0 AS value")
    with pytest.raises(SourceDataError, match="cannot parse timestamps.*yesterday"):
        load_unfiltered(project)


def test_empty_result_is_all_missing_with_a_warning(project):
    project.source_table("src", series(START, 3, TEN).clear())
    loaded = load(project)
    assert loaded.frame.height == 12 and loaded.frame["value"].is_nan().all()
    assert loaded.stats.source_rows == 0
    assert any("returned no rows" in w for w in loaded.stats.warnings)
