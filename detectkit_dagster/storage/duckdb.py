"""The embedded store: one DuckDB file per metric, time-range replace in one transaction.

One file per metric lets different metrics write in parallel (DuckDB allows a single writer
process per file). A file is attached per call and detached at once, so no process holds a
file longer than one short transaction; opening a file another process holds waits with
backoff instead of failing.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator, Sequence

import duckdb
import polars as pl

from ..duckdb_files import ATTACHER
from ..errors import StorageError
from .base import Scope, Write, quoted as _ident, range_clauses

# A call moving more rows than a tick does (a backfill's range) gives DuckDB's memory back after.
BULK_ROWS = 50_000
# The tables of the file a connection opened (other files may be attached to the same database).
LIST_TABLES = "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"


class DuckDBMetricStore:
    """Tables of one metric in `<directory>/<metric key>.duckdb`."""

    def __init__(self, directory: Path | str, metric: str):
        _ident(metric)
        self.path = Path(directory) / f"{metric}.duckdb"

    def replace_range(
        self, table: str, frame: pl.DataFrame, start: datetime | None, end: datetime | None,
        column: str = "timestamp", scope: Scope | None = None,
    ) -> None:
        """Atomically replace the rows with start <= column < end (all rows when unbounded).

        With `scope=(key_column, keys)` only rows of those keys are replaced: rows of detectors
        or alert blocks no longer configured stay until they are cleaned on purpose.
        """
        self.replace_ranges([Write(table, frame, start, end, column, scope)])

    def replace_ranges(self, writes: Sequence[Write]) -> None:
        for write in writes:
            for name in (write.table, write.column, *write.frame.columns, *(write.scope[:1] if write.scope else ())):
                _ident(name)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._open(f"cannot write {', '.join(w.table for w in writes)}") as con:
            con.begin()
            try:
                for write in writes:
                    _replace(con, write)
                con.commit()
            except BaseException:
                con.rollback()
                raise
            if sum(write.frame.height for write in writes) > BULK_ROWS:
                ATTACHER.give_back_memory()

    @contextmanager
    def _open(self, doing: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the metric's file; its errors become one-line `StorageError`s."""
        try:
            with ATTACHER(self.path) as con:
                yield con
        except duckdb.Error as exc:
            raise StorageError(f"{doing} in {self.path}: {(str(exc).splitlines() or [''])[0]}") from None

    @contextmanager
    def reading(self) -> Iterator["_Reader"]:
        """Several reads over one connection."""
        if not self.path.exists():
            yield _Reader(None)
            return
        with self._open("cannot read") as con:
            yield _Reader(con)

    def read_range(
        self, table: str, start: datetime | None = None, end: datetime | None = None,
        column: str = "timestamp", order_by: tuple[str, ...] = ("timestamp",), schema: dict | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Rows with start <= column < end; an empty frame (with `schema`) when nothing is stored."""
        with self.reading() as reader:
            return reader.read_range(table, start, end, column, order_by, schema, columns)

    def tables(self) -> list[str]:
        if not self.path.exists():
            return []
        with self._open("cannot list the tables") as con:
            return [r[0] for r in con.execute(LIST_TABLES).fetchall()]

    def delete_other_keys(self, table: str, column: str, keep: list[str]) -> int:
        """Delete rows whose `column` is not in `keep` (orphans of removed config); returns the count."""
        if table not in self.tables():
            return 0
        with self._open(f"cannot clean {table}") as con:
            condition = f"{_ident(column)} NOT IN (SELECT unnest(?::VARCHAR[]))"
            count = con.execute(f"SELECT count(*) FROM {_ident(table)} WHERE {condition}", [keep]).fetchall()[0][0]
            con.execute(f"DELETE FROM {_ident(table)} WHERE {condition}", [keep])
        return int(count)


class _Reader:
    def __init__(self, con):
        self._con = con
        self._tables = None

    def read_range(
        self, table: str, start: datetime | None = None, end: datetime | None = None,
        column: str = "timestamp", order_by: tuple[str, ...] = ("timestamp",), schema: dict | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        for name in (table, column, *order_by, *(columns or ())):
            _ident(name)
        if schema is not None and columns is not None:
            schema = {c: t for c, t in schema.items() if c in columns}
        empty = pl.DataFrame(schema=schema or {})
        if self._con is None:
            return empty
        if self._tables is None:
            self._tables = {r[0] for r in self._con.execute(LIST_TABLES).fetchall()}
        if table not in self._tables:
            return empty
        where, params = _range_filter(column, start, end)
        order = ", ".join(_ident(c) for c in order_by)
        chosen = ", ".join(_ident(c) for c in columns) if columns else "*"
        frame = pl.DataFrame(self._con.sql(f"SELECT {chosen} FROM {_ident(table)}{where} ORDER BY {order}",
                                           params=params))
        if frame.height > BULK_ROWS:
            ATTACHER.give_back_memory()
        if schema is None:
            return frame
        return empty if not frame.height else frame.with_columns(
            pl.col(c).cast(t) for c, t in schema.items() if c in frame.columns)


class DuckDBStorage:
    """`<directory>/<metric key>.duckdb` per metric."""

    kind = "duckdb"

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)

    def metric(self, key: str) -> DuckDBMetricStore:
        return DuckDBMetricStore(self.directory, key)

    def table_name(self, key: str, table: str) -> str:
        """`<database>.<schema>.<table>` as DuckDB names it (the database is the file)."""
        return f"{key}.main.{table}"


class ArrowStream:
    """Hands a polars frame to DuckDB through the Arrow C stream interface (no pyarrow needed)."""

    def __init__(self, frame: pl.DataFrame):
        self._frame = frame

    def __arrow_c_stream__(self, requested_schema=None):
        return self._frame.__arrow_c_stream__(requested_schema)


def _replace(con, write: Write) -> None:
    table = _ident(write.table)
    con.register("incoming", ArrowStream(write.frame))
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM incoming LIMIT 0")
    existing = {column[0] for column in con.execute(f"SELECT * FROM {table} LIMIT 0").description}
    if set(write.frame.columns) - existing:  # schema evolution: columns the frame brings
        for name, kind, *_ in con.execute("DESCRIBE SELECT * FROM incoming").fetchall():
            if name not in existing:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {_ident(name)} {kind}")
    where, params = _range_filter(write.column, write.start, write.end, write.scope)
    con.execute(f"DELETE FROM {table}{where}", params)
    if write.frame.height:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
    con.unregister("incoming")


def _range_filter(column: str, start: datetime | None, end: datetime | None, scope: Scope | None = None
                  ) -> tuple[str, list]:
    clauses, params = range_clauses(column, start, end, scope)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
