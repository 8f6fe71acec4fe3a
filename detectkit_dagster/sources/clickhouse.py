"""A ClickHouse server as a metric source, over the native protocol (clickhouse-driver, as
detectkit), columns straight into polars without pandas.

Types: DateTime/DateTime64 with a zone arrive as instants in that zone (the loader converts
them to UTC); a DateTime without one is an instant too, decoded as UTC rather than as the
server's wall clock (which repeats an hour when clocks go back); Date/Date32 are dates;
Decimal and (U)Int128/256 become floats; Nullable values are nulls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..config.profiles import ClickHouseProfile
from .base import fetch_bounded, first_line, frame_from_columns, keep_alive, register

# The driver logs a traceback for every failed connect; the SourceError says it in one line.
logging.getLogger("clickhouse_driver.connection").setLevel(logging.ERROR)

# Client-side options of clickhouse-driver that would change how rows arrive.
_CLIENT_SETTINGS = {"use_numpy": False, "strings_as_bytes": False}


@dataclass(frozen=True)
class ClickHouseSource:
    profile: ClickHouseProfile

    @property
    def database(self) -> str:
        return self.profile.data_database or self.profile.database or "default"

    @property
    def label(self) -> str:
        return f"clickhouse {self.profile.host}:{self.profile.port}/{self.database}"

    def fetch(self, sql: str) -> pl.DataFrame:
        from clickhouse_driver import errors

        p = self.profile
        return fetch_bounded(
            label=self.label, timeout=p.query_timeout, connect=self._connect, query=lambda c: _columns(c, sql),
            fileno=lambda client: client.connection.socket.fileno(), close=lambda client: client.disconnect(),
            errors=(errors.Error, EOFError, OSError), describe=describe,
            secrets=[p.password.get_secret_value() if p.password else None],
        )

    def _connect(self):
        from clickhouse_driver import Client

        p = self.profile
        # The server cancels a query it is still running when the client deadline passes.
        settings = {"max_execution_time": p.query_timeout, **p.settings, **_CLIENT_SETTINGS}
        client = Client(
            host=p.host, port=p.port, user=p.user or "default",
            password=p.password.get_secret_value() if p.password else "",
            database=self.database, secure=p.secure, settings=settings, client_name="detectkit-dagster",
            connect_timeout=p.connect_seconds, send_receive_timeout=p.connect_seconds,
            sync_request_timeout=p.connect_seconds,
        )
        connection = client.connection
        connection.connect()
        connection.send_receive_timeout = p.query_timeout
        connection.socket.settimeout(p.query_timeout)
        keep_alive(connection.socket, p.query_timeout)
        # Zone-less DateTime columns hold instants: decode them in UTC, not in the server's zone.
        connection.server_info.timezone = "UTC"
        return client


def _columns(client, sql: str) -> pl.DataFrame:
    columns, types = client.execute(sql, with_column_types=True, columnar=True)
    return frame_from_columns([name for name, _ in types], columns or [()] * len(types))


def describe(exc: BaseException) -> str:
    """`Code 60: DB::Exception: Table x doesn't exist.`: the server's message without its stack trace."""
    message = getattr(exc, "message", None)
    if not isinstance(message, str) or not message.strip():
        return first_line(exc)
    text = message.strip().splitlines()[0].split(" Stack trace:")[0]
    code = getattr(exc, "code", None)
    return f"Code {code}: {text}" if code is not None else text


@register("clickhouse")
def _from_profile(profile, root: Path) -> ClickHouseSource:
    return ClickHouseSource(profile)
