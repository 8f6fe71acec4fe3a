"""Where metric SQL runs: an embedded DuckDB file or a PostgreSQL server.

Each backend returns the query result as a polars DataFrame and turns every failure
into a `SourceError` whose message is safe to show (no passwords).
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from ..config.profiles import DuckDBProfile, PostgresProfile


class SourceError(RuntimeError):
    """The source could not be reached or the query failed."""


@dataclass(frozen=True)
class DuckDBSource:
    path: Path

    @property
    def label(self) -> str:
        return f"duckdb file {self.path}"

    def fetch(self, sql: str) -> pl.DataFrame:
        if not self.path.exists():
            raise SourceError(f"source database not found: {self.path}")
        try:
            with duckdb.connect(str(self.path), read_only=True) as con:
                relation = con.sql(sql)
                if relation is None:
                    raise SourceError(f"query on {self.label} returned no result set")
                return pl.DataFrame(relation)
        except duckdb.Error as exc:
            raise SourceError(f"query failed on {self.label}: {_first_line(exc)}") from None


@dataclass(frozen=True)
class PostgresSource:
    profile: PostgresProfile

    @property
    def label(self) -> str:
        p = self.profile
        if p.dsn is not None:
            return "postgres (dsn from profile)"
        return f"postgres {p.host}:{p.port}/{p.database or ''}"

    def _connect(self):
        import psycopg

        p = self.profile
        options = f"-c statement_timeout={p.statement_timeout_seconds * 1000} -c TimeZone=UTC"
        if p.dsn is not None:
            return psycopg.connect(p.dsn.get_secret_value(), connect_timeout=p.connect_timeout, options=options)
        return psycopg.connect(
            host=p.host, port=p.port, user=p.user, dbname=p.database,
            password=p.password.get_secret_value() if p.password else None,
            connect_timeout=p.connect_timeout, options=options,
        )

    def fetch(self, sql: str) -> pl.DataFrame:
        import psycopg

        try:
            conn = self._connect()
        except psycopg.OperationalError as exc:
            raise SourceError(f"cannot connect to {self.label}: {self._safe(exc)}") from None
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql)
                if cur.description is None:
                    raise SourceError(f"query on {self.label} returned no result set")
                names = [col.name for col in cur.description]
                rows = cur.fetchall()
        except psycopg.Error as exc:
            raise SourceError(f"query failed on {self.label}: {self._safe(exc)}") from None
        columns = {name: [_plain(row[i]) for row in rows] for i, name in enumerate(names)}
        return pl.DataFrame(columns, strict=False)

    def _safe(self, exc: Exception) -> str:
        text = _first_line(exc)
        for secret in (self.profile.password, self.profile.dsn):
            if secret is not None and secret.get_secret_value():
                text = text.replace(secret.get_secret_value(), "***")
        return text


def _plain(value):
    """Decimals become floats so numeric columns arrive as numbers."""
    return float(value) if isinstance(value, decimal.Decimal) else value


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def make_source(profile, root: Path):
    if isinstance(profile, DuckDBProfile):
        path = Path(profile.path)
        return DuckDBSource(path if path.is_absolute() else root / path)
    if isinstance(profile, PostgresProfile):
        return PostgresSource(profile)
    raise SourceError(f"unsupported profile type: {profile!r}")
