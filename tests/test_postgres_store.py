"""The shared PostgreSQL store beyond the protocol: its tables, locks, deadlines and secrecy, and
a project materialized through Dagster on it, equal to the same project on DuckDB files."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import dagster as dg
import polars as pl
import psycopg
import pytest
from dagster._serdes import serialize_value

from detectkit_dagster.defs.context import MetricContext
from detectkit_dagster.defs.project import metric_definitions, shared_resources
from detectkit_dagster.defs.runner import RANGE_END, RANGE_START
from detectkit_dagster.errors import StorageError
from detectkit_dagster.pipeline import Window, build_detectors, replay_alerts
from detectkit_dagster.project import load_project
from detectkit_dagster.schemas import TABLE_ORDER
from detectkit_dagster.storage import DuckDBStorage, open_storage
from detectkit_dagster.storage.postgres import PostgresStorage
from support.stores import day_rows, write_once
from test_metric_assets import KEYS, METRIC, source_frame

START = datetime(2024, 1, 1)
HOUR = timedelta(hours=1)
SECRET = "pw-Zq8x7Kd3"


def hourly(hours: int) -> pl.DataFrame:
    return day_rows(START, 1, 24, 1.0).head(hours)


@pytest.fixture
def schema() -> str:
    return f"store_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def storage(postgres, schema) -> PostgresStorage:
    return PostgresStorage(postgres.dsn, schema)


def query(dsn: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as con:
        cur = con.execute(sql, params)
        return cur.fetchall() if cur.description else []


def secret_dsn(postgres, **params) -> str:
    """The test server accepts any password (trust): the DSN carries one to prove it is never shown."""
    extra = "".join(f"&{k}={v}" for k, v in params.items())
    return f"postgresql://{postgres.user}:{SECRET}@{postgres.host}:{postgres.port}/{postgres.dbname}?sslmode=disable{extra}"


def test_one_shared_table_per_kind_with_a_metric_column_and_range_index(postgres, storage, schema):
    storage.metric("orders").replace_range("datapoints", hourly(3), None, None)
    storage.metric("refunds").replace_range("datapoints", hourly(2), None, None)
    columns = query(postgres.dsn, "SELECT column_name, data_type, datetime_precision FROM information_schema.columns "
                                  "WHERE table_schema = %s AND table_name = 'datapoints' ORDER BY ordinal_position",
                    [schema])
    assert columns == [("metric_key", "text", None), ("timestamp", "timestamp without time zone", 3),
                       ("value", "double precision", None)]
    assert query(postgres.dsn, f'SELECT metric_key, count(*) FROM "{schema}".datapoints GROUP BY 1 ORDER BY 1') == [
        ("orders", 3), ("refunds", 2)]
    indexes = query(postgres.dsn, "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'datapoints'",
                    [schema])
    assert any('(metric_key, "timestamp")' in d for (d,) in indexes), indexes
    assert storage.table_name("orders", "datapoints") == f"{schema}.datapoints"


def test_timestamps_are_naive_utc_whatever_the_session_or_frame_zone(postgres, storage, schema):
    aware = hourly(2).with_columns(pl.col("timestamp").dt.replace_time_zone("UTC").dt.convert_time_zone("Asia/Tokyo"))
    store = storage.metric("orders")
    store.replace_range("datapoints", aware, None, None)
    assert store.read_range("datapoints")["timestamp"].to_list() == [START, START + HOUR]
    with psycopg.connect(postgres.dsn, autocommit=True, options="-c TimeZone=America/New_York") as con:
        stored = con.execute(f'SELECT min("timestamp") FROM "{schema}".datapoints').fetchone()[0]
    assert stored == START and stored.tzinfo is None


def test_text_sorts_by_bytes_in_a_database_with_a_language_collation(postgres):
    database = f"icu_{uuid.uuid4().hex[:8]}"
    query(postgres.dsn, f"CREATE DATABASE {database} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' "
                        "LOCALE 'C.UTF-8'")
    dsn = postgres.dsn.rsplit("/", 1)[0] + f"/{database}"
    ids = ["b", "B", "_x", "a", "Z"]
    frame = pl.DataFrame({"timestamp": [START] * 5, "detector_id": ids}).with_columns(
        pl.col("timestamp").cast(pl.Datetime("ms")))
    try:
        store = PostgresStorage(dsn).metric("orders")
        store.replace_range("detections", frame, None, None)
        by_language = query(dsn, "SELECT array_agg(detector_id ORDER BY detector_id) FROM detectkit.detections")[0][0]
        assert by_language != sorted(ids)
        assert store.read_range("detections", order_by=("timestamp", "detector_id"))["detector_id"].to_list() == sorted(ids)
    finally:
        query(postgres.dsn, f"DROP DATABASE {database}")


def test_writers_of_one_metric_wait_for_each_other(postgres, storage, schema):
    store = storage.metric("orders")
    store.replace_range("datapoints", hourly(4), None, None)
    app = f"blocked_{uuid.uuid4().hex[:8]}"
    blocked = PostgresStorage(f"{postgres.dsn}?application_name={app}", schema).metric("orders")
    with psycopg.connect(postgres.dsn) as holder:  # another machine's write, in progress
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [store._lock])
        with ThreadPoolExecutor(1) as pool:
            write = pool.submit(blocked.replace_range, "datapoints", hourly(1), None, None)
            waiting = []
            while not waiting and not write.done():
                waiting = query(postgres.dsn, "SELECT 1 FROM pg_stat_activity WHERE application_name = %s "
                                              "AND wait_event_type = 'Lock'", [app])
            assert not write.done()
            assert store.read_range("datapoints").height == 4  # readers do not wait
            holder.rollback()
            write.result()
    assert store.read_range("datapoints").height == 1


def test_a_write_waiting_past_the_statement_timeout_fails_readably(postgres, schema):
    store = PostgresStorage(secret_dsn(postgres), schema, statement_timeout=1).metric("orders")
    store.replace_range("datapoints", hourly(4), None, None)
    with psycopg.connect(postgres.dsn) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [store._lock])
        with pytest.raises(StorageError) as info:
            store.replace_range("datapoints", hourly(1), None, None)
    message = str(info.value)
    assert message.startswith("cannot write datapoints of metric orders: ") and "timeout" in message
    assert SECRET not in message and "\n" not in message
    assert store.read_range("datapoints").height == 4


def test_a_writer_killed_during_copy_leaves_the_previous_rows(postgres, storage, schema):
    store = storage.metric("orders")
    store.replace_range("datapoints", hourly(24), None, None)
    app = f"killed_{uuid.uuid4().hex[:8]}"
    spec = ("postgres", f"{postgres.dsn}?application_name={app}", schema)
    writer = multiprocessing.get_context("spawn").Process(target=write_once, args=(spec, "orders", 2_000_000, START))
    writer.start()
    try:
        copying = []
        while not copying and writer.is_alive():
            copying = query(postgres.dsn, "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                                          "AND query LIKE 'COPY%%' AND state = 'active'", [app])
        assert copying, "the writer ended before its COPY was seen"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.join()
    while query(postgres.dsn, "SELECT 1 FROM pg_stat_activity WHERE application_name = %s", [app]):
        time.sleep(0.05)
    assert store.read_range("datapoints").equals(hourly(24))
    store.replace_range("datapoints", hourly(2), None, None)  # the lock went with the connection
    assert store.read_range("datapoints").height == 2


def test_a_role_with_rights_on_its_schema_only(postgres, schema):
    role = f"monitor_{uuid.uuid4().hex[:8]}"
    query(postgres.dsn, f"CREATE ROLE {role} LOGIN; CREATE SCHEMA {schema}; GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}")
    query(postgres.dsn, f"CREATE TABLE {schema}.datapoints (metric_key text NOT NULL, \"timestamp\" timestamp, value float8)")
    query(postgres.dsn, f"CREATE INDEX by_metric_and_time ON {schema}.datapoints (metric_key, \"timestamp\")")
    query(postgres.dsn, f"GRANT ALL ON {schema}.datapoints TO {role}")
    dsn = f"postgresql://{role}@{postgres.host}:{postgres.port}/{postgres.dbname}"
    store = PostgresStorage(dsn, schema).metric("orders")
    store.replace_range("datapoints", hourly(3), None, None)
    store.replace_range("detections", hourly(2).with_columns(detector_id=pl.lit("a")), None, None)
    assert store.read_range("datapoints").equals(hourly(3))  # also from a column made without precision
    assert store.tables() == ["datapoints", "detections"]
    with pytest.raises(StorageError, match="permission denied"):
        PostgresStorage(dsn, f"other_{schema}").metric("orders").replace_range("datapoints", hourly(1), None, None)


def test_reads_of_one_reading_block_see_one_snapshot(storage):
    store = storage.metric("orders")
    store.replace_range("datapoints", hourly(6), None, None)
    with store.reading() as reader:
        first = reader.read_range("datapoints")
        store.replace_range("datapoints", hourly(2), None, None)
        second = reader.read_range("datapoints")
    assert first.height == second.height == 6
    assert store.read_range("datapoints").height == 2


def test_names_and_types_the_store_refuses(storage):
    store = storage.metric("orders")
    with pytest.raises(ValueError, match="catalog table"):
        store.replace_range("metric_tables", hourly(1), None, None)
    with pytest.raises(StorageError, match="metric_key is reserved"):
        store.replace_range("datapoints", hourly(1).with_columns(metric_key=pl.lit("x")), None, None)
    with pytest.raises(StorageError, match="column tags has type List"):
        store.replace_range("datapoints", hourly(1).with_columns(tags=pl.lit(["a"])), None, None)
    with pytest.raises(ValueError, match="longer than 63"):
        store.replace_range("t" * 64, hourly(1), None, None)
    assert store.tables() == []


def test_errors_never_show_the_dsn_or_password(postgres):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    refused = PostgresStorage(f"postgresql://monitor:{SECRET}@127.0.0.1:{port}/shop", connect_timeout=2)
    with pytest.raises(StorageError) as info:
        refused.metric("orders").read_range("datapoints")
    assert "cannot connect to the PostgreSQL store" in str(info.value)
    with pytest.raises(StorageError) as bad:
        PostgresStorage(f"host=db password={SECRET} nonsense")
    wrong_db = PostgresStorage(secret_dsn(postgres).replace(f"/{postgres.dbname}?", f"/no_{SECRET}?"))
    with pytest.raises(StorageError) as missing:
        wrong_db.metric("orders").replace_range("datapoints", hourly(1), None, None)
    for error in (info.value, bad.value, missing.value):
        assert SECRET not in str(error) and "\n" not in str(error), error
    assert SECRET not in repr(refused) and SECRET not in repr(refused.metric("orders")._server)


def test_a_server_that_never_answers_hits_the_connect_deadline():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held = []
    threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()
    store = PostgresStorage(f"postgresql://u@127.0.0.1:{listener.getsockname()[1]}/db?sslmode=disable",
                            connect_timeout=2).metric("orders")
    try:
        with pytest.raises(StorageError, match="cannot connect"):
            store.tables()
    finally:
        listener.close()
        for con, _ in held:
            con.close()


def test_storage_block_selects_the_backend(project, postgres, monkeypatch):
    project.metric("orders", "name: orders\ninterval: 1h\nloading_start_time: '2024-01-01'\nquery: SELECT 1\n")
    assert isinstance(open_storage(load_project(project.root)), DuckDBStorage)
    project.write("detectkit_project.yml", "storage_dir: elsewhere\n")
    assert open_storage(load_project(project.root)).directory == project.root / "elsewhere"
    project.write("detectkit_project.yml", "storage: {type: duckdb, path: files}\n")
    assert open_storage(load_project(project.root)).directory == project.root / "files"
    monkeypatch.setenv("STORE_DSN", secret_dsn(postgres))
    project.write("detectkit_project.yml",
                  "storage:\n  type: postgres\n  dsn: ${STORE_DSN}\n  schema: shop\n  statement_timeout_seconds: 60\n")
    loaded = load_project(project.root)
    storage = open_storage(loaded)
    assert isinstance(storage, PostgresStorage) and storage.schema == "shop"
    assert SECRET not in repr(loaded.config) and SECRET not in repr(storage)
    storage.metric("orders").replace_range("datapoints", hourly(1), None, None)
    assert query(postgres.dsn, "SELECT count(*) FROM shop.datapoints")[0][0] == 1


# --- end to end: a project through Dagster on each store ------------------------------------------------

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
TABLES = ("datapoints", "detections", "alerts", "alert_state")


def run_project(project, store_yaml: str) -> tuple[dict[str, pl.DataFrame], list[str], bool]:
    """Materialize the first days as one range, then the last alone; the stored tables, every
    log line and event of the runs, and whether a replay of the last day resumes."""
    project.write("detectkit_project.yml", store_yaml)
    loaded = load_project(project.root)
    mc = MetricContext(loaded, loaded.metrics[0])
    assets = [a for a in metric_definitions(mc).assets if a.key.path[-1] != "report"]
    records = []
    with dg.instance_for_test() as instance:
        for partition, tags in ((None, {RANGE_START: KEYS[0], RANGE_END: KEYS[-2]}), (KEYS[-1], None)):
            result = dg.materialize(assets, instance=instance, resources=shared_resources(loaded),
                                    partition_key=partition, tags=tags, run_config=QUIET)
            assert result.success
            run = instance.get_run_by_id(result.run_id)
            records += [serialize_value(e) for e in instance.all_logs(result.run_id)]
            records += [serialize_value(run.run_config), str(run.tags)]
    store = open_storage(loaded).metric(mc.ident)
    tables = {t: store.read_range(t, order_by=TABLE_ORDER[t]) for t in TABLES}
    last = datetime.fromisoformat(KEYS[-1])
    day = Window(last, last + timedelta(days=1))
    rerun = replay_alerts(mc.metric, [d.detector_id for d in build_detectors(mc.metric)], store, [day],
                          day.end, timedelta(hours=1))
    assert rerun.events.drop("sendable", "hold_reason").equals(
        tables["alerts"].filter(day.contains()).drop("sendable", "hold_reason"))
    return tables, records, rerun.resumed


def test_a_project_on_postgres_stores_what_it_stores_on_duckdb(project, postgres, monkeypatch):
    project.source_table("src", source_frame())
    project.metric("orders", METRIC)
    project.write("profiles.yml", "alert_channels:\n  inbox: {type: outbox}\n")
    on_duckdb, _, duckdb_resumed = run_project(project, "storage: {type: duckdb, path: data/detectkit}\n")
    monkeypatch.setenv("E2E_STORE_DSN", secret_dsn(postgres))
    schema = f"e2e_{uuid.uuid4().hex[:8]}"
    on_postgres, records, resumed = run_project(
        project, f"storage:\n  type: postgres\n  dsn: ${{E2E_STORE_DSN}}\n  schema: {schema}\n")

    for table in TABLES:
        assert on_postgres[table].height > 0, table
        assert on_postgres[table].equals(on_duckdb[table]), table
    assert set(on_postgres["alerts"]["kind"]) >= {"anomaly", "recovery", "no_data"}
    assert resumed and duckdb_resumed  # the fourth day resumed from the stored checkpoint
    assert any("resumed from the state stored at" in r for r in records)
    assert query(postgres.dsn, f'SELECT DISTINCT metric_key FROM "{schema}".detections') == [("orders",)]
    leaked = [r for r in records if SECRET in r or f"{postgres.host}:{postgres.port}" in r]
    assert not leaked, leaked[0][:300]
