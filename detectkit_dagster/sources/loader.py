"""Run a metric's query for [start, end) and put the result on the metric's grid.

The grid is epoch-aligned multiples of the interval. Every grid point gets a row;
missing points are NaN. Rows that cannot be placed (off-grid, outside the range)
are counted and reported. Rows that make the result ambiguous or wrong (duplicate
timestamps, infinite or non-numeric values, null timestamps) fail the load with a
message that names them: nothing is stored from a bad result.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from ..detection import builtin_features
from ..errors import SourceDataError
from ..schemas import DATAPOINTS
from ..timegrid import grid
from .template import render_query

if TYPE_CHECKING:
    from ..config.metric import MetricConfig

log = logging.getLogger(__name__)

# Zone names that are UTC itself: converting from them changes nothing, so nothing to report.
UTC_NAMES = {"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Zulu", "Etc/Zulu", "Universal", "Etc/Universal", "GMT", "Etc/GMT"}


@dataclass
class LoadStats:
    source_rows: int = 0
    off_grid_rows: int = 0
    outside_range_rows: int = 0
    timezone_converted: str | None = None
    query_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass
class LoadedData:
    frame: pl.DataFrame  # DATAPOINTS, one row per grid point of [start, end)
    stats: LoadStats


def load_datapoints(metric: MetricConfig, source, start: datetime, end: datetime) -> LoadedData:
    """Query [start, end) in batches of `loading_batch_size` points and gap-fill onto the grid."""
    interval = metric.interval_seconds
    frames, stats = [], LoadStats()
    for batch_start, batch_end in _batches(start, end, interval, metric.loading_batch_size):
        sql = render_query(metric.sql, batch_start, batch_end, interval)
        began = time.perf_counter()
        raw = source.fetch(sql)
        stats.query_seconds += time.perf_counter() - began
        frames.append(_to_grid(raw, metric, batch_start, batch_end, stats))
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=DATAPOINTS)
    if stats.source_rows == 0 and frame.height:
        stats.warnings.append(f"the query returned no rows for {start} .. {end}; stored as missing points")
    for warning in stats.warnings:
        log.warning("metric %s: %s", metric.name, warning)
    return LoadedData(frame, stats)


def _batches(start: datetime, end: datetime, interval: int, batch_points: int):
    step = timedelta(seconds=interval * batch_points)
    cursor = start
    while cursor < end:
        yield cursor, min(cursor + step, end)
        cursor += step


def _to_grid(raw: pl.DataFrame, metric: MetricConfig, start: datetime, end: datetime, stats: LoadStats):
    ts_col, value_col = metric.columns.timestamp, metric.columns.metric
    stats.source_rows += raw.height
    _require_columns(raw, [ts_col, value_col, *(metric.columns.seasonality or [])])
    rows = pl.DataFrame({
        "timestamp": _timestamps(raw[ts_col], ts_col, stats),
        "value": _values(raw[value_col], value_col),
    })
    if metric.query_provided_seasonality:
        rows = rows.with_columns(seasonality_data=_json_objects(raw.select(metric.columns.seasonality)))
    _reject_bad_rows(rows, value_col)

    inside = rows.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))
    stats.outside_range_rows += rows.height - inside.height
    points = pl.DataFrame({"timestamp": grid(start, end, metric.interval_seconds)})
    placed = points.join(inside, on="timestamp", how="left")
    off_grid = inside.join(points, on="timestamp", how="anti")["timestamp"]
    if off_grid.len():
        stats.off_grid_rows += off_grid.len()
        stats.warnings.append(
            f"{off_grid.len()} row(s) not on the {metric.interval} grid were dropped "
            f"(first: {off_grid.min()}); timestamps must be multiples of the interval since 1970-01-01"
        )
    placed = placed.with_columns(pl.col("value").fill_null(float("nan")))
    return placed.with_columns(seasonality_data=_seasonality(placed, metric)).select(list(DATAPOINTS))


def _require_columns(raw: pl.DataFrame, needed: list[str]) -> None:
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise SourceDataError(
            f"the query result has no column {', '.join(repr(c) for c in missing)} "
            f"(got columns: {raw.columns}); set query_columns in the metric file if they are named differently"
        )


def _timestamps(col: pl.Series, name: str, stats: LoadStats) -> pl.Series:
    dtype = col.dtype
    if dtype == pl.Utf8:
        try:
            col = col.str.to_datetime(time_unit="ms", strict=True)
        except pl.exceptions.PolarsError:
            bad = col.drop_nulls().head(1).to_list()
            raise SourceDataError(f"column {name!r}: cannot parse timestamps such as {bad}") from None
    elif dtype in (pl.Date, pl.Null):
        col = col.cast(pl.Datetime("ms"))
    elif not isinstance(dtype, pl.Datetime):
        raise SourceDataError(f"column {name!r} must hold timestamps, got type {dtype}")
    if col.dtype.time_zone is not None:
        stats.timezone_converted = col.dtype.time_zone
        if col.dtype.time_zone not in UTC_NAMES:
            stats.warnings.append(f"timestamps in column {name!r} carry time zone {col.dtype.time_zone}; "
                                  "converted to UTC")
        col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    if col.null_count():
        raise SourceDataError(f"column {name!r} has {col.null_count()} null timestamp(s)")
    return col.dt.cast_time_unit("ms").alias("timestamp")


def _values(col: pl.Series, name: str) -> pl.Series:
    if col.dtype.is_numeric() or col.dtype == pl.Null:
        return col.cast(pl.Float64).alias("value")
    if col.dtype == pl.Utf8:
        parsed = col.cast(pl.Float64, strict=False)
        bad = col.filter(parsed.is_null() & col.is_not_null())
        if bad.len() == 0:
            return parsed.alias("value")
        raise SourceDataError(f"column {name!r} must be numeric; found non-numeric value {bad[0]!r}")
    raise SourceDataError(f"column {name!r} must be numeric, got type {col.dtype}")


def _reject_bad_rows(rows: pl.DataFrame, value_col: str) -> None:
    dupes = rows.filter(pl.col("timestamp").is_duplicated())["timestamp"].unique().sort()
    if dupes.len():
        shown = ", ".join(str(t) for t in dupes.head(3).to_list())
        raise SourceDataError(f"the query returned {dupes.len()} duplicate timestamp(s), e.g. {shown}; "
                              "aggregate to one row per interval")
    infinite = rows.filter(pl.col("value").is_infinite())
    if infinite.height:
        raise SourceDataError(f"column {value_col!r} has infinite values at "
                              f"{', '.join(str(t) for t in infinite['timestamp'].head(3).to_list())}")


def _json_objects(frame: pl.DataFrame) -> pl.Series:
    ordered = frame.select(sorted(frame.columns))
    return ordered.select(pl.struct(pl.all()).struct.json_encode()).to_series()


def _seasonality(placed: pl.DataFrame, metric: MetricConfig) -> pl.Series:
    """Sorted compact JSON features per grid point (detectkit's `seasonality_data`)."""
    if metric.query_provided_seasonality:
        return placed["seasonality_data"].fill_null("{}")
    names = metric.seasonality_features
    if not names:
        return pl.Series("seasonality_data", ["{}"] * placed.height, dtype=pl.Utf8)
    stamps = placed["timestamp"].to_numpy().astype("datetime64[ms]")
    features = builtin_features(stamps, names)
    return _json_objects(pl.DataFrame({k: np.asarray(v) for k, v in features.items()}))
