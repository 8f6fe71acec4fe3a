"""A PostgreSQL server as a metric source (psycopg 3, rows into polars without pandas)."""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..config.profiles import PostgresProfile
from ..errors import SourceError
from .base import first_line, register


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
        text = first_line(exc)
        for secret in (self.profile.password, self.profile.dsn):
            if secret is not None and secret.get_secret_value():
                text = text.replace(secret.get_secret_value(), "***")
        return text


def _plain(value):
    """Decimals become floats so numeric columns arrive as numbers."""
    return float(value) if isinstance(value, decimal.Decimal) else value


@register("postgres", "postgresql")
def _from_profile(profile, root: Path) -> PostgresSource:
    return PostgresSource(profile)
