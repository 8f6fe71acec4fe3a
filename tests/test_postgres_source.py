"""A Postgres-sourced metric against a real local PostgreSQL server."""

from datetime import datetime, timedelta

import dagster as dg
import psycopg
import pytest

from detectkit_dagster.project import load_project
from detectkit_dagster.defs.context import MetricContext
from detectkit_dagster.defs.project import metric_definitions, shared_resources
from detectkit_dagster.sources import SourceError, load_datapoints, make_source
from detectkit_dagster.storage import DuckDBMetricStore as MetricStore

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
METRIC = """\
name: pg_orders
interval: 1h
loading_start_time: "2024-03-01 00:00:00"
profile: warehouse
query: |
  SELECT date_trunc('hour', created_at) AS timestamp, sum(amount)::numeric(12,2) AS value
  FROM {table}
  WHERE created_at >= '{{{{ dtk_start_time }}}}' AND created_at < '{{{{ dtk_end_time }}}}'
  GROUP BY 1
detectors:
  - type: mad
    params: {{window_size: 24, min_samples: 5}}
"""


@pytest.fixture
def pg_project(project, postgres, monkeypatch):
    table = f"orders_{abs(hash(str(project.root))) % 10**8}"
    with psycopg.connect(postgres.dsn, autocommit=True) as con:
        con.execute(f"CREATE TABLE {table} (created_at timestamp, amount numeric(10,2))")
        start = datetime(2024, 3, 1)
        rows = [(start + timedelta(minutes=7 * i), 10 + (i % 5)) for i in range(24 * 60 // 7 * 2)]
        rows = [r for r in rows if not (datetime(2024, 3, 1, 5) <= r[0] < datetime(2024, 3, 1, 6))]  # a gap
        with con.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", rows)
    monkeypatch.setenv("TEST_PG_PORT", str(postgres.port))
    project.write("profiles.yml", f"""\
        profiles:
          warehouse:
            type: postgres
            host: {postgres.host}
            port: "{{{{ env_var('TEST_PG_PORT') }}}}"
            user: {postgres.user}
            dbname: {postgres.dbname}
        """)
    project.metric("pg_orders", METRIC.format(table=table))
    return project


def test_postgres_metric_materializes(pg_project):
    loaded = load_project(pg_project.root)
    mc = MetricContext(loaded, loaded.metrics[0])
    assets = [a for a in metric_definitions(mc).assets if a.key == mc.key("datapoints")]
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, instance=instance, resources=shared_resources(loaded),
                                partition_key="2024-03-01", run_config=QUIET)
        meta = result.get_asset_materialization_events()[0].materialization.metadata
    frame = MetricStore(pg_project.storage_dir, "pg_orders").read_range("datapoints")
    assert frame.height == 24
    assert meta["missing_points"].value == 1
    assert frame["value"].is_nan().to_list()[5] is True
    assert frame["value"][0] > 0


def test_postgres_down_is_a_readable_error(pg_project):
    loaded = load_project(pg_project.root)
    _, profile = loaded.profile_for(loaded.metrics[0])
    dead = profile.model_copy(update={"port": 1, "connect_timeout": 2})
    with pytest.raises(SourceError, match="cannot connect to postgres"):
        load_datapoints(loaded.metrics[0], make_source(dead, pg_project.root),
                        datetime(2024, 3, 1), datetime(2024, 3, 2))


def test_postgres_query_error_is_readable(pg_project):
    loaded = load_project(pg_project.root)
    _, profile = loaded.profile_for(loaded.metrics[0])
    with pytest.raises(SourceError, match="query failed on postgres.*no_such_table"):
        make_source(profile, pg_project.root).fetch("SELECT * FROM no_such_table")


def test_password_never_appears_in_errors(pg_project, postgres):
    loaded = load_project(pg_project.root)
    _, profile = loaded.profile_for(loaded.metrics[0])
    secret = "s3cr3t-pa55"
    bad = type(profile).model_validate({**profile.model_dump(by_alias=True), "port": 1, "password": secret,
                                        "connect_timeout": 2})
    with pytest.raises(SourceError) as info:
        make_source(bad, pg_project.root).fetch("SELECT 1")
    assert secret not in str(info.value)


def test_a_key_value_dsn_with_a_space_in_the_password_never_shows_it(postgres):
    from detectkit_dagster.config.profiles import PostgresProfile

    dsn = f"host={postgres.host} port={postgres.port} user={postgres.user} password=open sesame42"
    with pytest.raises(SourceError) as info:
        make_source(PostgresProfile(type="postgres", dsn=dsn), None).fetch("SELECT 1")
    text = str(info.value)
    assert "sesame42" not in text and "open" not in text
    assert "cannot be parsed" in text and "password='a b'" in text
    quoted = f"host={postgres.host} port={postgres.port} user={postgres.user} password='open sesame42'"
    assert make_source(PostgresProfile(type="postgres", dsn=quoted), None).fetch("SELECT 1 AS one")["one"][0] == 1


def test_data_schema_is_the_search_path(postgres):
    from detectkit_dagster.config.profiles import PostgresProfile

    with psycopg.connect(postgres.dsn, autocommit=True) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS shop_data")
        con.execute("CREATE TABLE IF NOT EXISTS shop_data.answers AS SELECT 42 AS x")
    profile = PostgresProfile(type="postgres", host=postgres.host, port=postgres.port, user=postgres.user,
                              database=postgres.dbname, data_schema="shop_data")
    assert make_source(profile, None).fetch("SELECT x FROM answers")["x"].to_list() == [42]


def test_a_frozen_server_fails_the_materialization_naming_the_metric(pg_project, postgres):
    from support.servers import frozen

    profiles = (pg_project.root / "profiles.yml").read_text()
    (pg_project.root / "profiles.yml").write_text(profiles + "    query_timeout: 2\n")
    loaded = load_project(pg_project.root)
    mc = MetricContext(loaded, loaded.metrics[0])
    assets = [a for a in metric_definitions(mc).assets if a.key == mc.key("datapoints")]
    with dg.instance_for_test() as instance, frozen(postgres.pid):
        result = dg.materialize(assets, instance=instance, resources=shared_resources(loaded),
                                partition_key="2024-03-01", run_config=QUIET, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
    assert "loading of metric 'pg_orders' failed" in failure
    # The server stopped before the run: the connect or the query deadline, whichever comes first.
    assert "did not finish within 2 s" in failure or "connection timeout expired" in failure
    assert not MetricStore(pg_project.storage_dir, "pg_orders").tables()


@pytest.mark.parametrize("broken, attempts", [("port", 3), ("query", 1)])
def test_a_source_that_may_come_back_is_retried_and_a_wrong_query_is_not(pg_project, monkeypatch, broken, attempts):
    from detectkit_dagster.defs import datapoints as datapoints_module

    monkeypatch.setattr(datapoints_module, "RETRY_WAIT_SECONDS", 0)
    if broken == "port":  # refused: the server may be restarting
        monkeypatch.setenv("TEST_PG_PORT", str(free_port()))
    else:
        text = (pg_project.root / "metrics" / "pg_orders.yml").read_text()
        pg_project.metric("pg_orders", text.replace("sum(amount)", "sum(no_such_column)"))
    loaded = load_project(pg_project.root)
    mc = MetricContext(loaded, loaded.metrics[0])
    assets = [a for a in metric_definitions(mc).assets if a.key == mc.key("datapoints")]
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, instance=instance, partition_key="2024-03-01",
                                resources=shared_resources(loaded), run_config=QUIET, raise_on_error=False)
    assert not result.success
    starts = [e for e in result.all_events if e.event_type_value in ("STEP_START", "STEP_RESTARTED")]
    assert len(starts) == attempts
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "pg_orders" in failure.step_failure_data.user_failure_data.description


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
