"""A detectkit 0.29 project as its users have it (shared/detectkit-sample): ClickHouse, PostgreSQL
and MySQL profiles in detectkit's field names, a query_file, metric names with dashes, nested
metric folders. It passes `validate` unchanged, and a copy pointed at the private test servers
(host and port rewritten, passwords from the environment variables the files name) runs through
Dagster on data generated here.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import yaml

from detectkit_dagster.cli import main
from detectkit_dagster.project import load_project
from detectkit_dagster.sources import load_datapoints
from detectkit_dagster.storage import DuckDBMetricStore

DAY = datetime(2026, 9, 1)
# The Debian ClickHouse (18.16) predates toStartOfInterval; the copy uses its older equivalent.
# The unchanged query runs on current ClickHouse in process below and must give the same points.
OLD_CLICKHOUSE = ("toStartOfInterval(event_time, INTERVAL 5 MINUTE)", "toStartOfFiveMinute(event_time)")


def sample_dir() -> Path:
    here = Path(__file__).resolve()
    for folder in here.parents:
        candidate = folder / "shared" / "detectkit-sample"
        if candidate.is_dir():
            return candidate
    raise RuntimeError("shared/detectkit-sample not found next to the repository")


def error_rate(bucket: int) -> float:
    return 0.1 if bucket % 7 == 0 else 0.0


def orders(bucket: int) -> int:
    return 3 + bucket % 4


def signups(day: int) -> int:
    return 10 + day % 5


@pytest.fixture(scope="module")
def servers(clickhouse, postgres, mariadb):
    """The sample's source tables (sql/schema.md) filled with known numbers."""
    client = clickhouse.client()
    client.execute("CREATE DATABASE IF NOT EXISTS analytics")
    client.execute("CREATE TABLE IF NOT EXISTS analytics.checkout_requests "
                   "(event_time DateTime('UTC'), status UInt16) ENGINE = MergeTree ORDER BY event_time")
    client.execute("INSERT INTO analytics.checkout_requests VALUES", checkout_requests())
    with psycopg.connect(postgres.dsn, autocommit=True) as con:
        if not con.execute("SELECT 1 FROM pg_roles WHERE rolname = 'monitor'").fetchone():
            con.execute("CREATE ROLE monitor LOGIN PASSWORD 'pg pass 3'")
        if not con.execute("SELECT 1 FROM pg_database WHERE datname = 'analytics'").fetchone():
            con.execute("CREATE DATABASE analytics OWNER monitor")
    with psycopg.connect(postgres.dsn.rsplit("/", 1)[0] + "/analytics", autocommit=True) as con:
        con.execute("CREATE TABLE IF NOT EXISTS public.orders (id bigint, created_at timestamptz, amount numeric)")
        con.execute("GRANT SELECT ON public.orders TO monitor")
        rows = [(i, (DAY + b * timedelta(minutes=10) + j * timedelta(seconds=90)).replace(tzinfo=timezone.utc), 9.5)
                for b in range(144) for i, j in enumerate(range(orders(b)))]
        con.cursor().executemany("INSERT INTO public.orders VALUES (%s, %s, %s)", rows)
    with mariadb.admin() as con, con.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS shop")
        cur.execute("CREATE TABLE IF NOT EXISTS shop.users (id bigint, created_at datetime)")
        cur.executemany("INSERT INTO shop.users VALUES (%s, %s)",
                        [(d * 100 + j, DAY + timedelta(days=d - 1, hours=j)) for d in range(1, 31)
                         for j in range(signups(d))])
    return clickhouse, postgres, mariadb


def checkout_requests() -> list[tuple]:
    rows = []
    for bucket in range(288):
        start = (DAY + bucket * timedelta(minutes=5)).replace(tzinfo=timezone.utc)
        failing = round(20 * error_rate(bucket))
        rows += [(start + timedelta(seconds=13 * k), 503 if k < failing else 200) for k in range(20)]
    return rows


@pytest.fixture
def env(servers, monkeypatch, tmp_path):
    clickhouse, _, mariadb = servers
    for name, value in {"CH_PASSWORD": clickhouse.password, "PG_PASSWORD": "pg pass 3",
                        "MYSQL_PASSWORD": mariadb.password, "MM_WEBHOOK_URL": "http://127.0.0.1:9/hooks/never",
                        "TG_BOT_TOKEN": "123456:never-used", "DAGSTER_HOME": str(tmp_path / "dagster_home")}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def copy(env, servers, tmp_path) -> Path:
    clickhouse, postgres, mariadb = servers
    root = tmp_path / "acme"
    shutil.copytree(sample_dir(), root)
    profiles = yaml.safe_load((root / "profiles.yml").read_text())
    for name, server in (("prod_ch", clickhouse), ("prod_pg", postgres), ("legacy_mysql", mariadb)):
        profiles["profiles"][name].update(host=server.host, port=server.port)
    (root / "profiles.yml").write_text(yaml.safe_dump(profiles, sort_keys=False))
    sql = root / "sql" / "checkout_error_rate.sql"
    assert OLD_CLICKHOUSE[0] in sql.read_text()
    sql.write_text(sql.read_text().replace(*OLD_CLICKHOUSE))
    return root


def test_the_sample_validates_unchanged(env, capsys):
    assert main(["validate", "--project-dir", str(sample_dir())]) == 0
    out = capsys.readouterr().out
    assert "project 'acme_monitoring'" in out and "3 metric(s) valid" in out
    assert "checkout-error-rate: every 5min, mad, manual_bounds, 1 alert block(s), source prod_ch" in out
    assert "orders-10min: every 600, zscore, 1 alert block(s), source prod_pg" in out
    assert "legacy_signups: every 1d, iqr, 1 alert block(s), source legacy_mysql" in out


def test_the_sample_runs_against_the_real_servers(copy, capsys):
    code = main(["run", "--project-dir", str(copy), "--from", "2026-09-01", "--to", "2026-09-02"])
    out = capsys.readouterr().out
    assert code == 0, out
    for line in ("checkout-error-rate: 2026-09-01 288 points (0 missing)", "orders-10min: 2026-09-01 144 points "
                 "(0 missing)", "legacy_signups: 2026-09-01 30 points (0 missing)"):
        assert line in out, out
    storage = copy / "data" / "detectkit"
    rates = DuckDBMetricStore(storage, "checkout_error_rate").read_range("datapoints")["value"].to_list()
    assert rates == [error_rate(b) for b in range(288)]
    counts = DuckDBMetricStore(storage, "orders_10min").read_range("datapoints")["value"].to_list()
    assert counts == [float(orders(b)) for b in range(144)]
    daily = DuckDBMetricStore(storage, "legacy_signups").read_range("datapoints")
    assert daily["timestamp"][0] == DAY and daily["value"].to_list() == [float(signups(d)) for d in range(1, 31)]


def test_the_unchanged_clickhouse_query_gives_the_same_points_on_current_clickhouse(env):
    from chdb import session

    from support.chdb import ChdbSource

    db = session.Session()
    db.query("CREATE DATABASE analytics")
    db.query("CREATE TABLE analytics.checkout_requests (event_time DateTime('UTC'), status UInt16) "
             "ENGINE = MergeTree ORDER BY event_time")
    values = ", ".join(f"({int(at.timestamp())}, {status})" for at, status in checkout_requests())
    db.query(f"INSERT INTO analytics.checkout_requests SELECT toDateTime(t, 'UTC'), s "
             f"FROM values('t UInt32, s UInt16', {values})")
    metric = load_project(sample_dir()).metric("checkout-error-rate")
    loaded = load_datapoints(metric, ChdbSource(db), DAY, DAY + timedelta(days=1))
    assert loaded.frame["value"].to_list() == [error_rate(b) for b in range(288)]
