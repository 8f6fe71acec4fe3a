"""A PostgreSQL server as a metric source (psycopg 3, rows into polars without pandas).

Sessions run in UTC with a server-side `statement_timeout` equal to the profile's
`query_timeout`; the client-side deadline covers the rest (a server that stops answering).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..config.profiles import PostgresProfile
from ..errors import SourceError
from .base import KEEPALIVE_COUNT, KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, cursor_frame, fetch_bounded, register


@dataclass(frozen=True)
class PostgresSource:
    profile: PostgresProfile

    @property
    def label(self) -> str:
        p = self.profile
        if p.dsn is not None:
            return "postgres (dsn from profile)"
        return f"postgres {p.host}:{p.port}" + (f"/{p.database}" if p.database else "")

    def fetch(self, sql: str) -> pl.DataFrame:
        import psycopg

        return fetch_bounded(
            label=self.label, timeout=self.profile.query_timeout, connect=self._connect,
            query=lambda conn: cursor_frame(conn, sql, self.label),
            fileno=lambda conn: conn.pgconn.socket, close=lambda conn: conn.close(),
            errors=(psycopg.Error,), secrets=self._secrets(),
        )

    def _connect(self):
        import psycopg

        p = self.profile
        params = {
            "connect_timeout": p.connect_seconds,
            "keepalives": 1, "keepalives_idle": KEEPALIVE_IDLE,
            "keepalives_interval": KEEPALIVE_INTERVAL, "keepalives_count": KEEPALIVE_COUNT,
            "tcp_user_timeout": p.query_timeout * 1000,
            **{k: v for k, v in p.settings.items() if k != "options"},
            "options": self._options(),
        }
        if p.dsn is not None:
            self._parsed_dsn()
            return psycopg.connect(p.dsn.get_secret_value(), **params)
        password = p.password.get_secret_value() if p.password else None
        return psycopg.connect(host=p.host, port=p.port, user=p.user, dbname=p.database, password=password, **params)

    def _options(self) -> str:
        p = self.profile
        options = [f"-c statement_timeout={p.query_timeout * 1000}", "-c TimeZone=UTC"]
        if p.data_schema:
            options.append(f"-c search_path={_option_value(p.data_schema)}")
        if p.settings.get("options"):
            options.append(str(p.settings["options"]))
        return " ".join(options)

    def _parsed_dsn(self) -> dict:
        """The DSN's parameters; a DSN that cannot be parsed is reported without echoing it."""
        from psycopg.conninfo import conninfo_to_dict

        try:
            return conninfo_to_dict(self.profile.dsn.get_secret_value())
        except Exception:  # noqa: BLE001 - any parse failure; its text would quote the DSN
            raise SourceError(
                "the profile's dsn cannot be parsed (not shown: it holds the password); write it as "
                "postgresql://user:password@host:port/dbname, or as key=value pairs with values that "
                "contain spaces or quotes in single quotes: password='a b'"
            ) from None

    def _secrets(self) -> list[str | None]:
        p = self.profile
        secrets = [p.password.get_secret_value() if p.password else None]
        if p.dsn is not None:
            secrets.append(p.dsn.get_secret_value())
            try:
                secrets.append(self._parsed_dsn().get("password"))
            except SourceError:
                pass
        return secrets


def _option_value(text: str) -> str:
    """A value inside libpq `options`: spaces and backslashes escaped."""
    return text.replace("\\", "\\\\").replace(" ", "\\ ")


@register("postgres", "postgresql")
def _from_profile(profile, root: Path) -> PostgresSource:
    return PostgresSource(profile)
