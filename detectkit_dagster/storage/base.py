"""The store protocol: a metric's tables (datapoints, detections, alerts, ...) by time range.

Every backend keeps the same contract: a write replaces exactly the rows of its time range
(and, when scoped, of its keys) in one transaction, so a re-run leaves one copy and a failed
write leaves the previous rows; several writes (to several tables) can share the transaction;
new columns are added on write; reads return rows ordered as asked, or an empty frame with the
given schema when nothing is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import ContextManager, Protocol, Sequence

import polars as pl

Scope = tuple[str, list[str]]  # (key column, keys owned by the writer)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quoted(name: str) -> str:
    """A table or column name checked to be a plain identifier, quoted for SQL."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"not a valid table or column name: {name!r}")
    return f'"{name}"'


def range_clauses(column: str, start: datetime | None, end: datetime | None, scope: Scope | None = None,
                  mark: str = "?") -> tuple[list[str], list]:
    """SQL conditions (and their parameters, `mark` their placeholder) for start <= column < end
    and, when scoped, the scope's keys."""
    clauses, params = [], []
    if scope is not None:
        key, values = scope
        clauses.append(f"{quoted(key)} IN (SELECT unnest({mark}::VARCHAR[]))")
        params.append(list(values))
    if start is not None:
        clauses.append(f"{quoted(column)} >= {mark}")
        params.append(start)
    if end is not None:
        clauses.append(f"{quoted(column)} < {mark}")
        params.append(end)
    return clauses, params


@dataclass(frozen=True)
class Write:
    """Replace the rows of `table` with start <= column < end (of the scope's keys) by `frame`;
    an empty frame just deletes them."""

    table: str
    frame: pl.DataFrame
    start: datetime | None
    end: datetime | None
    column: str = "timestamp"
    scope: Scope | None = None


class Reader(Protocol):
    def read_range(self, table: str, start: datetime | None = None, end: datetime | None = None,
                   column: str = "timestamp", order_by: tuple[str, ...] = ("timestamp",),
                   schema: dict | None = None, columns: Sequence[str] | None = None) -> pl.DataFrame: ...


class MetricStore(Protocol):
    """The stored tables of one metric."""

    def reading(self) -> ContextManager[Reader]:
        """Several consistent reads over one connection."""

    def replace_range(self, table: str, frame: pl.DataFrame, start: datetime | None, end: datetime | None,
                      column: str = "timestamp", scope: Scope | None = None) -> None: ...

    def replace_ranges(self, writes: Sequence[Write]) -> None:
        """Several writes in one transaction: all of them happen, or none."""

    def read_range(self, table: str, start: datetime | None = None, end: datetime | None = None,
                   column: str = "timestamp", order_by: tuple[str, ...] = ("timestamp",),
                   schema: dict | None = None, columns: Sequence[str] | None = None) -> pl.DataFrame: ...

    def delete_other_keys(self, table: str, column: str, keep: list[str]) -> int: ...

    def tables(self) -> list[str]: ...


class Storage(Protocol):
    """Where a project keeps the tables of all its metrics."""

    kind: str  # the database, as Dagster's asset kinds name it (duckdb, postgres)

    def metric(self, key: str) -> MetricStore: ...

    def table_name(self, key: str, table: str) -> str:
        """The fully qualified name of a metric's table, for people and catalogs."""
