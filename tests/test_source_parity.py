"""The same metric through every source backend gives identical datapoints.

One event table, written into DuckDB, PostgreSQL, ClickHouse (the Debian server and current
ClickHouse in process), and MariaDB, each with a zone-aware timestamp column where the backend
has one: NULL values, a gap, duplicate events of one interval (the query averages them), a row
off the grid, rows outside the range. Each backend's SQL groups by timestamp, the way a user
writes it for that database.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import duckdb
import polars as pl
import psycopg
import pytest

from detectkit_dagster.config import MetricConfig
from detectkit_dagster.config.profiles import ClickHouseProfile, MySQLProfile, PostgresProfile
from detectkit_dagster.sources import DuckDBSource, SourceDataError, load_datapoints, make_source

START = datetime(2024, 3, 31)  # clocks go forward in Europe that night: the ClickHouse server's zone
END = START + timedelta(hours=3)
STEP = timedelta(minutes=10)
GAP, NULL_AT, DUPLICATED = (5, 6), 3, 8


def events() -> list[tuple[datetime, float | None]]:
    rows = []
    for i in range(18):
        at = START + i * STEP
        if i in GAP:
            continue
        if i == DUPLICATED:
            rows += [(at, 2.0), (at, 4.0)]
        else:
            rows.append((at, None if i == NULL_AT else 1.25 * i))
    rows += [(START + timedelta(minutes=5), 99.0), (START - STEP, 55.0), (END, 77.0)]
    return [(at.replace(tzinfo=timezone.utc), value) for at, value in rows]


def expected_values() -> list[float]:
    values = [1.25 * i for i in range(18)]
    for i in (*GAP, NULL_AT):
        values[i] = math.nan
    values[DUPLICATED] = 3.0
    return values


# Per backend: the metric's query (averaging duplicates) and the same without GROUP BY.
QUERIES = {
    "duckdb": "SELECT ts, {agg} AS v FROM {table} WHERE ts >= '{{{{ dtk_start_time }}}}+00'::TIMESTAMPTZ "
              "AND ts < '{{{{ dtk_end_time }}}}+00'::TIMESTAMPTZ {group}",
    "postgres": "SELECT ts, {agg} AS v FROM {table} WHERE ts >= '{{{{ dtk_start_time }}}}+00'::timestamptz "
                "AND ts < '{{{{ dtk_end_time }}}}+00'::timestamptz {group}",
    "clickhouse": "SELECT ts, {agg} AS v FROM {table} WHERE ts >= toDateTime('{{{{ dtk_start_time }}}}', 'UTC') "
                  "AND ts < toDateTime('{{{{ dtk_end_time }}}}', 'UTC') {group}",
    "mariadb": "SELECT ts, {agg} AS v FROM {table} WHERE ts >= '{{{{ dtk_start_time }}}}' "
               "AND ts < '{{{{ dtk_end_time }}}}' {group}",
}
QUERIES["chdb"] = QUERIES["clickhouse"]


def metric(backend: str, table: str, grouped: bool = True) -> MetricConfig:
    sql = QUERIES[backend].format(table=table, agg="avg(value)" if grouped else "value",
                                  group="GROUP BY ts" if grouped else "")
    return MetricConfig.model_validate({
        "name": f"parity_{backend}", "interval": "10min", "loading_start_time": "2024-03-30 00:00:00",
        "query": sql, "query_columns": {"timestamp": "ts", "metric": "v"}, "seasonality_columns": ["hour"],
    })


def duckdb_source(tmp_path_factory, table):
    path = tmp_path_factory.mktemp("parity") / "source.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE {table} (ts TIMESTAMPTZ, value DECIMAL(12, 4))")
        con.executemany(f"INSERT INTO {table} VALUES (?, ?)", events())
    return DuckDBSource(path)


def postgres_source(server, table):
    with psycopg.connect(server.dsn, autocommit=True) as con:
        con.execute(f"CREATE TABLE {table} (ts timestamptz, value numeric(12, 4))")
        con.cursor().executemany(f"INSERT INTO {table} VALUES (%s, %s)", events())
    return make_source(PostgresProfile(type="postgres", host=server.host, port=server.port, user=server.user,
                                       database=server.dbname), None)


def clickhouse_source(server, table):
    client = server.client()
    client.execute(f"CREATE TABLE {table} (ts DateTime('Asia/Tokyo'), value Nullable(Decimal(12, 4))) "
                   "ENGINE = MergeTree ORDER BY ts")
    client.execute(f"INSERT INTO {table} VALUES", events())
    return make_source(ClickHouseProfile(type="clickhouse", host=server.host, port=server.port,
                                         password=server.password), None)


def mariadb_source(server, table):
    with server.admin() as con, con.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS parity")
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"CREATE TABLE parity.{table} (ts TIMESTAMP(3) NULL, value DECIMAL(12, 4))")
        cur.executemany(f"INSERT INTO parity.{table} VALUES (%s, %s)",
                        [(at.replace(tzinfo=None), value) for at, value in events()])
    return make_source(MySQLProfile(type="mysql", host=server.host, port=server.port, user=server.user,
                                    password=server.password, data_database="parity"), None)


def chdb_source(table):
    from chdb import session

    from support.chdb import ChdbSource

    db = session.Session()
    db.query(f"CREATE TABLE {table} (ts DateTime64(3, 'America/New_York'), value Nullable(Decimal(12, 4))) "
             "ENGINE = MergeTree ORDER BY ts")
    values = ", ".join(f"({int(at.timestamp() * 1000)}, {'NULL' if v is None else v})" for at, v in events())
    db.query(f"INSERT INTO {table} SELECT fromUnixTimestamp64Milli(t), v FROM values('t Int64, v Nullable(Float64)', "
             f"{values})")
    return ChdbSource(db)


@pytest.fixture(params=["duckdb", "postgres", "clickhouse", "mariadb", "chdb"])
def backend(request, tmp_path_factory):
    name, table = request.param, f"events_{abs(hash(request.node.nodeid)) % 10**8}"
    if name == "duckdb":
        source = duckdb_source(tmp_path_factory, table)
    elif name == "postgres":
        source = postgres_source(request.getfixturevalue("postgres"), table)
    elif name == "clickhouse":
        source = clickhouse_source(request.getfixturevalue("clickhouse"), table)
    elif name == "mariadb":
        source = mariadb_source(request.getfixturevalue("mariadb"), table)
    else:
        source = chdb_source(table)
    return name, table, source


def test_every_backend_gives_the_same_datapoints(backend):
    name, table, source = backend
    loaded = load_datapoints(metric(name, table), source, START, END)
    frame = loaded.frame
    assert frame["timestamp"].to_list() == [START + i * STEP for i in range(18)]
    assert frame["timestamp"].dtype == pl.Datetime("ms")
    values = frame["value"].to_list()
    want = expected_values()
    assert [math.isnan(v) for v in values] == [math.isnan(v) for v in want]
    assert [v for v in values if not math.isnan(v)] == [v for v in want if not math.isnan(v)]
    assert frame["seasonality_data"][1] == '{"hour":0}' and frame["seasonality_data"][17] == '{"hour":2}'
    assert loaded.stats.off_grid_rows == 1 and loaded.stats.source_rows == 17


def test_every_backend_reports_duplicates_the_same_way(backend):
    name, table, source = backend
    with pytest.raises(SourceDataError) as info:
        load_datapoints(metric(name, table, grouped=False), source, START, END)
    assert str(info.value) == ("the query returned 1 duplicate timestamp(s), e.g. 2024-03-31 01:20:00; "
                               "aggregate to one row per interval")
