"""Shared fixtures: throwaway project folders with a real DuckDB source, and a real PostgreSQL."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from detectkit_dagster.storage import ArrowStream
from support import clickhouse as clickhouse_support, mariadb as mariadb_support
from support.postgres import PostgresServer, start_server

REPO = Path(__file__).resolve().parent.parent


@dataclass
class ProjectDir:
    root: Path

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def metric(self, name: str, text: str) -> Path:
        return self.write(f"metrics/{name}.yml", text)

    def source_table(self, name: str, frame: pl.DataFrame) -> None:
        path = self.root / "data" / "source.duckdb"
        path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(path)) as con:
            con.register("incoming", ArrowStream(frame))
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming")

    def source_sql(self, sql: str) -> None:
        path = self.root / "data" / "source.duckdb"
        path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(path)) as con:
            con.execute(sql)

    @property
    def storage_dir(self) -> Path:
        return self.root / "data" / "detectkit"


@pytest.fixture
def project(tmp_path) -> ProjectDir:
    """An empty project: default profile = embedded DuckDB at data/source.duckdb."""
    return ProjectDir(tmp_path)


def series(start: datetime, points: int, step: timedelta, values=None, seed: int = 7) -> pl.DataFrame:
    """A 'timestamp, value' frame on a regular grid; default values are noisy around 100."""
    stamps = [start + i * step for i in range(points)]
    if values is None:
        values = 100 + np.random.default_rng(seed).normal(0, 2, points)
    return pl.DataFrame({"timestamp": stamps, "value": np.asarray(values, dtype=float)}).with_columns(
        pl.col("timestamp").cast(pl.Datetime("ms"))
    )


SIMPLE_METRIC = """\
name: {name}
interval: 10min
loading_start_time: "2024-01-01 00:00:00"
query: |
  SELECT timestamp, value FROM {table}
  WHERE timestamp >= TIMESTAMP '{{{{ dtk_start_time }}}}' AND timestamp < TIMESTAMP '{{{{ dtk_end_time }}}}'
detectors:
  - type: mad
    params: {{window_size: 30, min_samples: 10}}
"""


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    dsn = os.environ.get("DETECTKIT_TEST_POSTGRES_DSN")
    if dsn:
        from urllib.parse import urlparse

        url = urlparse(dsn)
        yield PostgresServer(url.hostname, url.port or 5432, url.username, url.path.lstrip("/"))
        return
    server, stop = start_server()
    try:
        yield server
    finally:
        stop()


@pytest.fixture(scope="session")
def clickhouse() -> clickhouse_support.ClickHouseServer:
    """A private ClickHouse server (Debian's 18.16; its time zone is Europe/Berlin)."""
    server, stop = clickhouse_support.start_server()
    try:
        yield server
    finally:
        stop()


@pytest.fixture(scope="session")
def mariadb() -> mariadb_support.MariaDBServer:
    """A private MariaDB server with a password user."""
    server, stop = mariadb_support.start_server()
    try:
        yield server
    finally:
        stop()
