"""The embedded store: one DuckDB file per metric, time-range replace in one transaction.

One file per metric lets different metrics write in parallel (DuckDB allows a single
writer process per file). Connections are opened per call and closed at once, so no
process holds a file longer than one short transaction.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a valid table or column name: {name!r}")
    return f'"{name}"'


class DuckDBMetricStore:
    """Tables of one metric in `<directory>/<metric>.duckdb`."""

    def __init__(self, directory: Path | str, metric: str):
        _ident(metric)
        self.path = Path(directory) / f"{metric}.duckdb"

    def replace_range(
        self, table: str, frame: pl.DataFrame, start: datetime | None, end: datetime | None,
        column: str = "timestamp", scope: tuple[str, list[str]] | None = None,
    ) -> None:
        """Atomically replace the rows with start <= column < end (all rows when unbounded).

        With `scope=(key_column, keys)` only rows of those keys are replaced: rows of detectors
        or alert blocks no longer configured stay until they are cleaned on purpose.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(self.path)) as con:
            con.register("incoming", ArrowStream(frame))
            con.begin()
            try:
                con.execute(f"CREATE TABLE IF NOT EXISTS {_ident(table)} AS SELECT * FROM incoming LIMIT 0")
                self._add_new_columns(con, table, frame)
                where, params = _range_filter(column, start, end, scope)
                con.execute(f"DELETE FROM {_ident(table)}{where}", params)
                con.execute(f"INSERT INTO {_ident(table)} BY NAME SELECT * FROM incoming")
                con.commit()
            except BaseException:
                con.rollback()
                raise

    def read_range(
        self, table: str, start: datetime | None = None, end: datetime | None = None,
        column: str = "timestamp", order_by: tuple[str, ...] = ("timestamp",),
        schema: dict | None = None,
    ) -> pl.DataFrame:
        """Rows with start <= column < end; an empty frame (with `schema`) when nothing is stored."""
        empty = pl.DataFrame(schema=schema or {})
        if not self.path.exists():
            return empty
        with duckdb.connect(str(self.path), read_only=True) as con:
            if not _has_table(con, table):
                return empty
            where, params = _range_filter(column, start, end)
            order = ", ".join(_ident(c) for c in order_by)
            frame = pl.DataFrame(con.sql(f"SELECT * FROM {_ident(table)}{where} ORDER BY {order}", params=params))
        return frame if frame.height or not schema else empty

    def tables(self) -> list[str]:
        if not self.path.exists():
            return []
        with duckdb.connect(str(self.path), read_only=True) as con:
            return [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]

    def delete_other_keys(self, table: str, column: str, keep: list[str]) -> int:
        """Delete rows whose `column` is not in `keep` (orphans of removed config); returns the count."""
        if table not in self.tables():
            return 0
        with duckdb.connect(str(self.path)) as con:
            condition = f"{_ident(column)} NOT IN (SELECT unnest(?::VARCHAR[]))"
            count = con.execute(f"SELECT count(*) FROM {_ident(table)} WHERE {condition}", [keep]).fetchall()[0][0]
            con.execute(f"DELETE FROM {_ident(table)} WHERE {condition}", [keep])
        return int(count)

    @staticmethod
    def _add_new_columns(con, table: str, frame: pl.DataFrame) -> None:
        existing = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
        new = [name for name in frame.columns if name not in existing]
        if new:
            types = {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM incoming").fetchall()}
            for name in new:
                con.execute(f"ALTER TABLE {_ident(table)} ADD COLUMN {_ident(name)} {types[name]}")


class ArrowStream:
    """Hands a polars frame to DuckDB through the Arrow C stream interface (no pyarrow needed)."""

    def __init__(self, frame: pl.DataFrame):
        self._frame = frame

    def __arrow_c_stream__(self, requested_schema=None):
        return self._frame.__arrow_c_stream__(requested_schema)


def _has_table(con, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchall()[0][0])


def _range_filter(
    column: str, start: datetime | None, end: datetime | None, scope: tuple[str, list[str]] | None = None,
) -> tuple[str, list]:
    clauses, params = [], []
    if scope is not None:
        key, values = scope
        clauses.append(f"{_ident(key)} IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(values))
    if start is not None:
        clauses.append(f"{_ident(column)} >= ?")
        params.append(start)
    if end is not None:
        clauses.append(f"{_ident(column)} < ?")
        params.append(end)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class DuckDBStorage:
    """`<directory>/<metric key>.duckdb` per metric."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)

    def metric(self, key: str) -> DuckDBMetricStore:
        return DuckDBMetricStore(self.directory, key)
