"""The MySQL/MariaDB source: types onto the grid rules, settings, the profile's database."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from detectkit_dagster.config import ConfigError
from detectkit_dagster.config.profiles import MySQLProfile
from detectkit_dagster.sources import SourceError, make_source


def profile(server, **extra) -> MySQLProfile:
    return MySQLProfile(type="mariadb", host=server.host, port=server.port, user=server.user,
                        password=server.password, **extra)


def test_types(mariadb):
    with mariadb.admin() as con, con.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS types_db")
        cur.execute("SET time_zone = 'Europe/Berlin'" if _has_zones(cur) else "SET time_zone = '+02:00'")
        cur.execute("CREATE OR REPLACE TABLE types_db.t (stamp TIMESTAMP(3) NULL, plain DATETIME(3))")
        # Written in a +02:00 session: the TIMESTAMP is the instant 08:00 UTC; DATETIME stays as written.
        cur.execute("INSERT INTO types_db.t VALUES ('2024-06-01 10:00:00.250', '2024-06-01 10:00:00.250')")
    frame = make_source(profile(mariadb, database="types_db"), Path(".")).fetch(
        "SELECT stamp, plain, DATE(plain) AS day, CAST(1.25 AS DECIMAL(10, 4)) AS amount, "
        "CAST(18446744073709551615 AS UNSIGNED) AS big, COUNT(*) AS n, NULL AS nothing FROM t")
    assert frame["stamp"][0] == datetime(2024, 6, 1, 8, 0, 0, 250000)
    assert frame["plain"][0] == datetime(2024, 6, 1, 10, 0, 0, 250000)
    assert frame["day"][0] == date(2024, 6, 1)
    assert frame.schema["amount"] == pl.Float64 and frame["amount"][0] == 1.25
    assert frame["big"][0] == 18446744073709551615.0 and frame["n"][0] == 1
    assert frame["nothing"].to_list() == [None]


def _has_zones(cur) -> bool:
    cur.execute("SELECT COUNT(*) FROM mysql.time_zone_name")
    return cur.fetchone()[0] > 0


def test_settings_are_connection_options(mariadb):
    source = make_source(profile(mariadb, settings={"init_command": "SET @greeting = 'hello'"}), Path("."))
    assert source.fetch("SELECT @greeting AS g")["g"].to_list() == ["hello"]


def test_unknown_settings_fail_at_load(project):
    project.write("profiles.yml", """\
        profiles:
          shop: {type: mysql, host: localhost, user: u, settings: {chraset: utf8}}
        """)
    project.metric("m", "name: m\ninterval: 1h\nquery: SELECT 1\n")
    from detectkit_dagster.project import load_project

    with pytest.raises(ConfigError, match=r"settings.chraset: not a MySQL connection option \(did you mean 'charset'\?\)"):
        load_project(project.root)


def test_server_side_limit_stops_a_long_statement(mariadb):
    source = make_source(profile(mariadb, query_timeout=1), Path("."))
    with pytest.raises(SourceError) as info:
        source.fetch("SELECT SLEEP(5) AS s, COUNT(*) AS n FROM information_schema.tables")
    assert "1 s" in str(info.value) or "max_statement_time" in str(info.value)
