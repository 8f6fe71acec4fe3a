"""Stores for the contract tests, described by a picklable spec so that other processes can open
them too, and the writer those processes run."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from detectkit_dagster.storage import DuckDBStorage, Storage
from detectkit_dagster.storage.postgres import PostgresStorage

DAY = timedelta(days=1)


def open_spec(spec: tuple) -> Storage:
    """("duckdb", folder) or ("postgres", dsn, schema)."""
    if spec[0] == "duckdb":
        return DuckDBStorage(spec[1])
    return PostgresStorage(spec[1], spec[2], connect_timeout=10, statement_timeout=120)


def day_rows(first: datetime, days: int, points: int, marker: float) -> pl.DataFrame:
    """`points` rows per day, every value set to `marker` (tells which write left a row)."""
    step = DAY / points
    stamps = [first + i * step for i in range(days * points)]
    return pl.DataFrame({"timestamp": stamps, "value": np.full(len(stamps), marker)}).with_columns(
        pl.col("timestamp").cast(pl.Datetime("ms")))


def write_rounds(spec: tuple, metric: str, writer: int, rounds: int, start: datetime, days: int, points: int) -> int:
    """Replace random two-day ranges `rounds` times, each write marked (writer, round)."""
    store = open_spec(spec).metric(metric)
    pick = random.Random(writer)
    for round_ in range(rounds):
        first = start + pick.randrange(days - 1) * DAY
        store.replace_range("datapoints", day_rows(first, 2, points, writer * 1000 + round_), first, first + 2 * DAY)
    return rounds


def write_once(spec: tuple, metric: str, frame_rows: int, start: datetime) -> None:
    """One long write (the test kills this process while it runs)."""
    frame = day_rows(start, 1, frame_rows, 2.0)
    open_spec(spec).metric(metric).replace_range("datapoints", frame, None, None)
