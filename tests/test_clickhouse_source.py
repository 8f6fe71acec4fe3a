"""The ClickHouse source: types onto the grid rules, settings, the profile's database.

The Debian server is ClickHouse 18.16 with its clock in Europe/Berlin; types it lacks
(DateTime64, Date32, Decimal128, wide integers) come from current ClickHouse in process.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from detectkit_dagster.config.profiles import ClickHouseProfile
from detectkit_dagster.sources import SourceError, make_source


@pytest.fixture
def source(clickhouse):
    return make_source(ClickHouseProfile(type="clickhouse", host=clickhouse.host, port=clickhouse.port,
                                         password=clickhouse.password), Path("."))


def test_datetime_columns_become_instants_whatever_the_zones(source):
    # 01:30 UTC on 2024-03-31 is 03:30 in Berlin, just after its clocks went forward.
    frame = source.fetch("""SELECT toDateTime(1711848600) AS plain,
                                   toDateTime(1711848600, 'UTC') AS utc,
                                   toDateTime(1711848600, 'Asia/Tokyo') AS tokyo,
                                   toNullable(toDateTime(1711848600, 'America/New_York')) AS new_york,
                                   CAST(NULL AS Nullable(DateTime)) AS missing""")
    instant = datetime(2024, 3, 31, 1, 30)
    assert frame.schema["plain"] == pl.Datetime("us") and frame["plain"][0] == instant
    for column, zone in (("utc", "UTC"), ("tokyo", "Asia/Tokyo"), ("new_york", "America/New_York")):
        assert frame.schema[column] == pl.Datetime("us", zone)
        assert frame[column].dt.convert_time_zone("UTC").dt.replace_time_zone(None)[0] == instant
    assert frame["missing"].to_list() == [None]


def test_numbers_dates_and_strings(source):
    frame = source.fetch("""SELECT toUInt64(18446744073709551615) AS big, toUInt64(7) AS small,
                                   toDecimal64(1.25, 4) AS dec, toNullable(toDecimal32(2.5, 2)) AS dec_null,
                                   CAST(NULL AS Nullable(Float64)) AS nothing, toDate('2024-01-02') AS day,
                                   toLowCardinality('x') AS label, count() AS rows FROM system.one""")
    assert frame.schema["big"] == pl.Float64 and frame["big"][0] == 18446744073709551615.0
    assert frame["small"][0] == 7 and frame.schema["small"].is_integer()
    assert frame.schema["dec"] == pl.Float64 and frame["dec"][0] == 1.25 and frame["dec_null"][0] == 2.5
    assert frame["nothing"].to_list() == [None]
    assert frame["day"][0] == date(2024, 1, 2) and frame["label"][0] == "x" and frame["rows"][0] == 1


def test_current_types_from_chdb():
    from chdb import session

    from support.chdb import ChdbSource

    frame = ChdbSource(session.Session()).fetch("""
        SELECT toDateTime64('2024-03-31 01:30:00.125', 3, 'UTC') AS utc_ms,
               toDateTime64('2024-03-31 10:30:00.125', 3, 'Asia/Tokyo') AS tokyo_ms,
               toDateTime64(1711848600.125, 3) AS plain_ms,
               toDate32('2024-01-02') AS day32,
               toDecimal128('1.5', 10) AS dec128,
               toUInt256('340282366920938463463374607431768211456') AS huge,
               CAST(NULL AS Nullable(DateTime64(6, 'Europe/Paris'))) AS missing""")
    instant = datetime(2024, 3, 31, 1, 30, 0, 125000)
    for column in ("utc_ms", "tokyo_ms"):
        assert frame[column].dt.convert_time_zone("UTC").dt.replace_time_zone(None)[0] == instant
    assert frame.schema["tokyo_ms"] == pl.Datetime("us", "Asia/Tokyo")
    assert frame["plain_ms"][0] == instant and frame.schema["plain_ms"] == pl.Datetime("us")
    assert frame["day32"][0] == date(2024, 1, 2)
    assert frame["dec128"][0] == 1.5 and frame["huge"][0] == 2.0**128
    assert frame["missing"].to_list() == [None]


def test_settings_reach_the_server(clickhouse):
    profile = ClickHouseProfile(type="clickhouse", host=clickhouse.host, port=clickhouse.port,
                                password=clickhouse.password,
                                settings={"max_result_rows": 2, "result_overflow_mode": "throw"})
    source = make_source(profile, Path("."))
    assert source.fetch("SELECT number FROM system.numbers LIMIT 2").height == 2
    with pytest.raises(SourceError, match="Limit for result exceeded"):
        source.fetch("SELECT number FROM system.numbers LIMIT 5")


def test_data_database_is_the_default_database(clickhouse):
    clickhouse.client().execute("CREATE DATABASE IF NOT EXISTS analytics")
    clickhouse.client().execute("CREATE TABLE IF NOT EXISTS analytics.answers (x UInt8) ENGINE = Memory")
    clickhouse.client().execute("INSERT INTO analytics.answers VALUES", [(42,)])
    profile = ClickHouseProfile(type="clickhouse", host=clickhouse.host, port=clickhouse.port,
                                password=clickhouse.password, data_database="analytics")
    source = make_source(profile, Path("."))
    assert source.label.endswith("/analytics")
    assert source.fetch("SELECT x FROM answers")["x"].to_list() == [42]
