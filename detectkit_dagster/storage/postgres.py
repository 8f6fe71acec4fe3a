"""The shared store: the tables of every metric in one PostgreSQL schema, for runs on several machines.

One table per kind (datapoints, detections, alerts, ...) holds the rows of all metrics, told
apart by `metric_key` and indexed on (metric_key, range column). The contract is the embedded
store's: a write replaces exactly its range (and scope) in one transaction, new columns are
added, and a metric sees only the tables and columns it wrote, in the order it first wrote
them (the catalog table `metric_tables` keeps them), as it would in a DuckDB file of its own.
Writes to one metric take a transaction-scoped advisory lock, so writers on several machines
never interleave a range replace. Rows travel as CSV through COPY, written and parsed by polars.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from datetime import datetime
from typing import Iterator, Sequence

import polars as pl
import psycopg
from psycopg.conninfo import conninfo_to_dict

from ..errors import StorageError
from .base import Scope, Write, quoted, range_clauses

METRIC_COLUMN = "metric_key"
CATALOG = "metric_tables"
MAX_NAME = 63  # PostgreSQL cuts longer identifiers silently
COPY_ROWS = 100_000
# A server or network that stops answering is noticed within about half a minute.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 15, "keepalives_interval": 5, "keepalives_count": 3}
TCP_USER_TIMEOUT_MS = 30_000

# polars type -> column type of a new column
_COLUMN_TYPES: dict[type[pl.DataType], str] = {
    pl.Boolean: "boolean", pl.Int8: "smallint", pl.Int16: "smallint", pl.UInt8: "smallint",
    pl.Int32: "integer", pl.UInt16: "integer", pl.Int64: "bigint", pl.UInt32: "bigint",
    pl.Float32: "real", pl.Float64: "double precision", pl.String: "text", pl.Categorical: "text",
    pl.Enum: "text", pl.Null: "text", pl.Date: "date", pl.Datetime: "timestamp(3) without time zone",
}
# column type -> (select expression, polars type it arrives as in CSV, polars type it becomes)
_EPOCH = "DATE '1970-01-01'"
_READS: dict[str, tuple[str, pl.DataType, pl.DataType]] = {
    "boolean": ("{}::int", pl.Int8, pl.Boolean),
    "smallint": ("{}", pl.Int16, pl.Int16),
    "integer": ("{}", pl.Int32, pl.Int32),
    "bigint": ("{}", pl.Int64, pl.Int64),
    "real": ("{}", pl.Float32, pl.Float32),
    "double precision": ("{}", pl.Float64, pl.Float64),
    "text": ("{}", pl.String, pl.String),
    "date": (f"({{}} - {_EPOCH})", pl.Int32, pl.Date),
    "timestamp": ("(extract(epoch FROM {}) * 1000)::bigint", pl.Int64, pl.Datetime("ms")),
}


def _name(name: str) -> str:
    if isinstance(name, str) and len(name) > MAX_NAME:
        raise ValueError(f"name longer than {MAX_NAME} characters: {name!r}")
    return quoted(name)


def _lock_key(*parts: str) -> int:
    """A stable 64-bit advisory lock id, the same on every machine."""
    digest = hashlib.sha256("\x1f".join(("detectkit", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Server:
    """How to reach the server: the DSN (never shown) and a deadline on every step of a call."""

    def __init__(self, dsn: str, connect_timeout: int = 10, statement_timeout: int = 300):
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.Error:
            raise StorageError("the PostgreSQL store's dsn is not a valid connection string") from None
        self._secrets = sorted({s for s in (dsn, params.get("password")) if s}, key=len, reverse=True)
        ms = statement_timeout * 1000
        ours = f"-c statement_timeout={ms} -c idle_in_transaction_session_timeout={ms} -c TimeZone=UTC"
        self._dsn = dsn
        self._settings = {
            **KEEPALIVE, "connect_timeout": connect_timeout, "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
            "client_encoding": "UTF8", "application_name": params.get("application_name") or "detectkit-dagster",
            "options": f"{params['options']} {ours}" if params.get("options") else ours,
        }

    def __repr__(self) -> str:
        return "Server(dsn hidden)"

    def safe(self, exc: BaseException) -> str:
        """The first line of an error, without the DSN or the password."""
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @contextmanager
    def transaction(self, doing: str, read_only: bool = False) -> Iterator[psycopg.Cursor]:
        """A cursor in one transaction: committed when the block ends, rolled back when it fails."""
        try:
            conn = psycopg.connect(self._dsn, **self._settings)
        except psycopg.Error as exc:
            raise StorageError(f"{doing}: cannot connect to the PostgreSQL store: {self.safe(exc)}") from None
        try:
            if read_only:  # one snapshot for every read of the block
                conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
            with conn, conn.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            raise StorageError(f"{doing}: {self.safe(exc)}") from None
        finally:
            conn.close()


class PostgresMetricStore:
    """The rows of one metric in the shared tables of `schema`."""

    def __init__(self, server: Server, schema: str, metric: str):
        quoted(metric)
        self.schema, self.metric = schema, metric
        self._server = server
        self._lock = _lock_key(schema, metric)
        self._schema_lock = _lock_key(schema)
        self._catalog = f"{_name(schema)}.{quoted(CATALOG)}"

    def _table(self, table: str) -> str:
        if table == CATALOG:
            raise ValueError(f"{table!r} is the PostgreSQL store's own catalog table")
        return f"{_name(self.schema)}.{_name(table)}"

    def replace_range(
        self, table: str, frame: pl.DataFrame, start: datetime | None, end: datetime | None,
        column: str = "timestamp", scope: Scope | None = None,
    ) -> None:
        """Atomically replace this metric's rows with start <= column < end (all of them when
        unbounded), of the scope's keys only when scoped."""
        self.replace_ranges([Write(table, frame, start, end, column, scope)])

    def replace_ranges(self, writes: Sequence[Write]) -> None:
        doing = f"cannot write {', '.join(w.table for w in writes)} of metric {self.metric}"
        prepared = []
        for write in writes:
            frame, types = _outgoing(write.frame, doing)
            for name in (write.column, *(write.scope[:1] if write.scope else ())):
                _name(name)
            prepared.append((write, frame, types))
        with self._server.transaction(doing) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [self._lock])
            for write, frame, types in prepared:
                self._replace(cur, write, frame, types)

    def _replace(self, cur, write: Write, frame: pl.DataFrame, types: dict[str, str]) -> None:
        table, qualified = write.table, self._table(write.table)
        self._prepare(cur, table, types, write.column)
        where, params = self._filter(write.column, write.start, write.end, write.scope)
        cur.execute(f"DELETE FROM {qualified}{where}", params)
        if frame.height:
            names = ", ".join(_name(c) for c in [*frame.columns, METRIC_COLUMN])
            with cur.copy(f"COPY {qualified} ({names}) FROM STDIN (FORMAT csv)") as copy:
                for part in frame.with_columns(pl.lit(self.metric).alias(METRIC_COLUMN)).iter_slices(COPY_ROWS):
                    copy.write(part.write_csv(include_header=False, quote_style="non_numeric",
                                              datetime_format="%Y-%m-%d %H:%M:%S%.3f", date_format="%Y-%m-%d"))
        known = self._columns(cur, table) or []
        cur.execute(
            f"INSERT INTO {self._catalog} (metric_key, table_name, columns) VALUES (%s, %s, %s) "
            "ON CONFLICT (metric_key, table_name) DO UPDATE SET columns = excluded.columns",
            [self.metric, table, known + [c for c in frame.columns if c not in known]])

    def _prepare(self, cur, table: str, types: dict[str, str], column: str) -> None:
        """Create the schema, the table, its new columns and an index on (metric_key, column)
        where missing (an index a DBA made on those columns counts).

        DDL takes a lock of the whole schema: two writers creating the same table or column at
        once would otherwise collide in the system catalogs."""
        missing = self._missing(cur, table, types, column)
        if not missing:
            return
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [self._schema_lock])
        missing = self._missing(cur, table, types, column)
        qualified = self._table(table)
        if missing.get("schema"):  # only then: a role may have rights on its schema alone
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_name(self.schema)}")
        if missing.get("catalog"):
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self._catalog} (metric_key text NOT NULL, "
                        "table_name text NOT NULL, columns text[] NOT NULL, PRIMARY KEY (metric_key, table_name))")
        if missing.get("table"):
            cur.execute(f"CREATE TABLE IF NOT EXISTS {qualified} ({quoted(METRIC_COLUMN)} text NOT NULL)")
        for name in missing.get("columns", ()):
            cur.execute(f"ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS {_name(name)} {types[name]}")
        if missing.get("index"):
            index = _name(f"{table}_{column}_idx" if len(table) + len(column) + 5 <= MAX_NAME
                          else f"idx_{hashlib.sha256(f'{table}.{column}'.encode()).hexdigest()[:16]}")
            cur.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {qualified} ({quoted(METRIC_COLUMN)}, {_name(column)})")

    def _missing(self, cur, table: str, types: dict[str, str], column: str) -> dict:
        qualified = self._table(table)
        cur.execute(
            "SELECT to_regnamespace(%(schema)s) IS NULL, to_regclass(%(catalog)s) IS NULL, "
            "to_regclass(%(table)s) IS NULL, NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = to_regclass(%(table)s) "
            "  AND i.indkey[0] = (SELECT attnum FROM pg_attribute WHERE attrelid = i.indrelid AND attname = %(key)s) "
            "  AND i.indkey[1] = (SELECT attnum FROM pg_attribute WHERE attrelid = i.indrelid AND attname = %(column)s)), "
            "coalesce((SELECT array_agg(attname::text) FROM pg_attribute "
            "  WHERE attrelid = to_regclass(%(table)s) AND attnum > 0 AND NOT attisdropped), '{}')",
            {"schema": _name(self.schema), "catalog": self._catalog, "table": qualified, "key": METRIC_COLUMN,
             "column": column})
        *absent, existing = cur.fetchone()
        missing = dict(zip(("schema", "catalog", "table", "index"), absent), columns=[c for c in types if c not in existing])
        return missing if any(missing.values()) else {}

    def _columns(self, cur, table: str) -> list[str] | None:
        """The columns this metric wrote to `table`, in order; None when it never wrote it."""
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [self._catalog])
        if not cur.fetchone()[0]:
            return None
        cur.execute(f"SELECT columns FROM {self._catalog} WHERE metric_key = %s AND table_name = %s",
                    [self.metric, table])
        row = cur.fetchone()
        return None if row is None else list(row[0])

    def _filter(self, column: str, start: datetime | None, end: datetime | None, scope: Scope | None = None
                ) -> tuple[str, list]:
        clauses, params = range_clauses(column, start, end, scope, mark="%s")
        return " WHERE " + " AND ".join([f"{quoted(METRIC_COLUMN)} = %s", *clauses]), [self.metric, *params]

    @contextmanager
    def reading(self) -> Iterator["_Reader"]:
        """Several reads over one connection, all from one snapshot."""
        with self._server.transaction(f"cannot read metric {self.metric}", read_only=True) as cur:
            yield _Reader(self, cur)

    def read_range(
        self, table: str, start: datetime | None = None, end: datetime | None = None,
        column: str = "timestamp", order_by: tuple[str, ...] = ("timestamp",), schema: dict | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Rows with start <= column < end; an empty frame (with `schema`) when nothing is stored."""
        with self.reading() as reader:
            return reader.read_range(table, start, end, column, order_by, schema, columns)

    def tables(self) -> list[str]:
        """The tables this metric wrote to."""
        with self.reading() as reader:
            return sorted(reader.stored())

    def delete_other_keys(self, table: str, column: str, keep: list[str]) -> int:
        """Delete rows whose `column` is not in `keep` (orphans of removed config); returns the count."""
        qualified, key = self._table(table), _name(column)
        with self._server.transaction(f"cannot clean {table} of metric {self.metric}") as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [self._lock])
            known = self._columns(cur, table)
            if known is None:
                return 0
            if column not in known:
                raise StorageError(f"cannot clean {table} of metric {self.metric}: it has no column {column}")
            cur.execute(f"DELETE FROM {qualified} WHERE {quoted(METRIC_COLUMN)} = %s AND NOT ({key} = ANY(%s::text[]))",
                        [self.metric, list(keep)])
            return cur.rowcount


class _Reader:
    def __init__(self, store: PostgresMetricStore, cur):
        self._store, self._cur = store, cur
        self._tables: dict[str, dict[str, str]] | None = None

    def stored(self) -> dict[str, dict[str, str]]:
        """{table: {column: column type}} of what this metric wrote, in its order."""
        if self._tables is None:
            store, cur = self._store, self._cur
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", [store._catalog])
            self._tables = {}
            if cur.fetchone()[0]:
                cur.execute(
                    f"SELECT c.table_name, u.name, format_type(a.atttypid, a.atttypmod) FROM {store._catalog} c "
                    "CROSS JOIN unnest(c.columns) WITH ORDINALITY AS u(name, position) "
                    "LEFT JOIN pg_attribute a ON a.attrelid = to_regclass(format('%%I.%%I', %s::text, c.table_name)) "
                    "AND a.attname = u.name AND NOT a.attisdropped "
                    "WHERE c.metric_key = %s ORDER BY c.table_name, u.position",
                    [store.schema, store.metric])
                for table, name, kind in cur.fetchall():
                    self._tables.setdefault(table, {})[name] = kind
        return self._tables

    def read_range(
        self, table: str, start: datetime | None = None, end: datetime | None = None,
        column: str = "timestamp", order_by: tuple[str, ...] = ("timestamp",), schema: dict | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        store = self._store
        qualified = store._table(table)
        for name in (column, *order_by, *(columns or ())):
            _name(name)
        if schema is not None and columns is not None:
            schema = {c: t for c, t in schema.items() if c in columns}
        empty = pl.DataFrame(schema=schema or {})
        stored = self.stored().get(table)
        if stored is None:
            return empty
        chosen = list(columns) if columns else list(stored)
        unknown = [c for c in (*chosen, column, *order_by) if c not in stored]
        if unknown:
            raise StorageError(f"cannot read {table} of metric {store.metric}: no column {unknown[0]}")
        reads = {name: _read_as(stored[name]) for name in chosen}
        select = ", ".join(expr.format(_name(name)) for name, (expr, _, _) in reads.items())
        order = ", ".join(_name(c) + (' COLLATE "C"' if stored[c] == "text" else "") for c in order_by)
        where, params = store._filter(column, start, end)
        with self._cur.copy(f"COPY (SELECT {select} FROM {qualified}{where} ORDER BY {order}) TO STDOUT (FORMAT csv)",
                            params) as copy:
            data = b"".join(bytes(part) for part in copy)
        arriving = {name: csv for name, (_, csv, _) in reads.items()}
        frame = (pl.read_csv(data, has_header=False, new_columns=chosen, schema=arriving) if data
                 else pl.DataFrame(schema=arriving))
        frame = frame.with_columns(pl.col(name).cast(final) for name, (_, _, final) in reads.items())
        if schema is None:
            return frame
        return empty if not frame.height else frame.with_columns(
            pl.col(c).cast(t) for c, t in schema.items() if c in frame.columns)


def _read_as(column_type: str | None) -> tuple[str, pl.DataType, pl.DataType]:
    if column_type is None:
        raise StorageError("a column this metric wrote was dropped from its table")
    if column_type.startswith("timestamp"):  # with a time zone too: the epoch is UTC
        return _READS["timestamp"]
    return _READS.get(column_type.split("(")[0], ("{}::text", pl.String, pl.String))


def _outgoing(frame: pl.DataFrame, doing: str) -> tuple[pl.DataFrame, dict[str, str]]:
    """The frame as it is stored (naive UTC milliseconds, categories as text) and the column
    type of each of its columns."""
    types, casts = {}, []
    for name, dtype in frame.schema.items():
        _name(name)
        if name == METRIC_COLUMN:
            raise StorageError(f"{doing}: column {METRIC_COLUMN} is reserved by the PostgreSQL store")
        column_type = _COLUMN_TYPES.get(dtype.base_type())
        if column_type is None:
            raise StorageError(f"{doing}: column {name} has type {dtype}, which the PostgreSQL store cannot hold")
        types[name] = column_type
        if isinstance(dtype, pl.Datetime):
            moment = pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None) if dtype.time_zone else pl.col(name)
            casts.append(moment.cast(pl.Datetime("ms")))
        elif isinstance(dtype, (pl.Categorical, pl.Enum)):
            casts.append(pl.col(name).cast(pl.String))
    return (frame.with_columns(casts) if casts else frame), types


class PostgresStorage:
    """Every metric's tables in one PostgreSQL schema, shared by all machines that run the project."""

    kind = "postgres"

    def __init__(self, dsn: str, schema: str = "detectkit", connect_timeout: int = 10, statement_timeout: int = 300):
        _name(schema)
        self.schema = schema
        self._server = Server(dsn, connect_timeout, statement_timeout)

    def __repr__(self) -> str:
        return f"PostgresStorage(schema={self.schema!r})"

    def metric(self, key: str) -> PostgresMetricStore:
        return PostgresMetricStore(self._server, self.schema, key)

    def table_name(self, key: str, table: str) -> str:
        """`<schema>.<table>`: the table the metric's rows share with the other metrics."""
        return f"{self.schema}.{table}"
