"""A MySQL or MariaDB server as a metric source (PyMySQL, as detectkit; rows into polars).

Sessions run in UTC (`time_zone = '+00:00'`), so TIMESTAMP columns arrive as UTC instants and
DATETIME columns as they are stored (naive, read as UTC like every zone-less timestamp). The
server stops a statement at the profile's `query_timeout` where it can (MariaDB
`max_statement_time`, MySQL `max_execution_time`); the client-side deadline covers the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..config.profiles import MySQLProfile
from .base import cursor_frame, fetch_bounded, first_line, keep_alive, register


@dataclass(frozen=True)
class MySQLSource:
    profile: MySQLProfile

    @property
    def database(self) -> str | None:
        return self.profile.database or self.profile.data_database

    @property
    def label(self) -> str:
        where = f"{self.profile.type} {self.profile.host}:{self.profile.port}"
        return f"{where}/{self.database}" if self.database else where

    def fetch(self, sql: str) -> pl.DataFrame:
        import pymysql

        p = self.profile
        return fetch_bounded(
            label=self.label, timeout=p.query_timeout, connect=self._connect,
            query=lambda conn: cursor_frame(conn, sql, self.label),
            fileno=lambda conn: conn._sock.fileno(),  # PyMySQL has no public accessor for its socket
            close=lambda conn: conn.close(), errors=(pymysql.err.Error, OSError), describe=describe,
            secrets=[p.password.get_secret_value() if p.password else None],
        )

    def _connect(self):
        import pymysql

        p = self.profile
        options = {"charset": "utf8mb4", **p.settings}
        conn = pymysql.connect(
            host=p.host, port=p.port, user=p.user, database=self.database,
            password=p.password.get_secret_value() if p.password else "",
            connect_timeout=p.connect_seconds, read_timeout=p.query_timeout, write_timeout=p.query_timeout,
            **options,
        )
        keep_alive(conn._sock, p.query_timeout)
        limit = ("max_statement_time", p.query_timeout) if "mariadb" in conn.get_server_info().lower() \
            else ("max_execution_time", p.query_timeout * 1000)
        with conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
            cur.execute(f"SET SESSION {limit[0]} = {int(limit[1])}")
        return conn


def describe(exc: BaseException) -> str:
    """`Access denied for user 'monitor'@'127.0.0.1' (using password: YES) (MySQL error 1045)`."""
    args = getattr(exc, "args", ())
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return f"{first_line(Exception(args[1]))} (MySQL error {args[0]})"
    return first_line(exc)


@register("mysql", "mariadb")
def _from_profile(profile, root: Path) -> MySQLSource:
    return MySQLSource(profile)
