"""The detection output frame and its metadata JSON, built column-wise.

Metadata strings are assembled with polars string expressions instead of one
``json.dumps`` per point. Every numeric column is turned into JSON tokens once
(polars' float spelling matches ``jsonfmt.format_float``; non-finite -> ``null``), then
each JSON object is one flat concatenation of literal key text and token columns, in
sorted-key order. An optional key is a fragment that is empty where the key is absent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from detectkit_dagster.detection.base import STATUSES
from detectkit_dagster.detection.jsonfmt import dumps, format_float

OK, MISSING, INSUFFICIENT, MISSING_LAGS = range(len(STATUSES))
_REASONS = {MISSING: '{"reason":"missing_data"}', MISSING_LAGS: '{"reason":"missing_lags"}'}


@dataclass
class Outcome:
    """Per-point results shared by every detector, before formatting."""

    processed: np.ndarray
    status: np.ndarray            # OK / MISSING / INSUFFICIENT
    lower: np.ndarray             # NaN where not produced
    upper: np.ndarray
    has_lower: np.ndarray         # bound present (manual bounds may have only one)
    has_upper: np.ndarray
    anomalous: np.ndarray
    below: np.ndarray
    distance: np.ndarray
    severity: np.ndarray


@dataclass(frozen=True)
class Field:
    """One metadata key: a JSON token expression, optionally absent (token null).

    With ``fragment=True`` the expression already holds ``"key":value`` text (possibly
    several adjacent keys) and ``key`` only decides its place in the sorted order.
    """

    key: str
    token: pl.Expr
    optional: bool = False
    fragment: bool = False
    separated: bool = False  # the token holds the comma before it too, "" where absent (never first)


def number(column: str) -> pl.Expr:
    """JSON token of a float column (non-finite -> null)."""
    value = pl.col(column)
    return pl.when(value.is_finite()).then(value.cast(pl.String)).otherwise(pl.lit("null"))


def integer(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String)


def literal(value) -> pl.Expr:
    return pl.lit(dumps(value))


def sparse_count(key: str, counts: np.ndarray, column: str) -> Field:
    """An integer key present where ``counts`` (the data of ``column``, not negative) is above 0; its few
    distinct texts are written once and looked up (cheaper than concatenating per row)."""
    values = np.flatnonzero(np.bincount(counts, minlength=1)).tolist()  # (small counts: cheaper than a sort)
    texts = ["" if value <= 0 else f",{dumps(key)}:{value}" for value in values]
    return Field(key, pl.col(column).replace_strict(values, texts, return_dtype=pl.String), separated=True)


def json_object(fields: list[Field]) -> pl.Expr:
    """A flat ``concat_str`` producing ``{"k":v,...}`` with keys sorted."""
    fields = sorted(fields, key=lambda f: f.key)
    parts: list[pl.Expr] = [pl.lit("{")]
    for i, f in enumerate(fields):
        head = ("," if i else "") + ("" if f.fragment else dumps(f.key) + ":")
        if f.separated:
            assert i, f"{f.key} cannot come first"
            parts.append(f.token)
        elif f.optional:
            parts.append(pl.concat_str([pl.lit(head), f.token]).fill_null(""))
        else:
            parts += [pl.lit(head), f.token]
    parts.append(pl.lit("}"))
    expr = pl.concat_str(parts)
    if fields and fields[0].optional:  # an absent first key leaves a leading comma
        expr = expr.str.replace("{,", "{", literal=True)
    return expr


def json_array(items: list[pl.Expr]) -> pl.Expr:
    return pl.concat_str([pl.lit("["), pl.concat_str(items, separator=","), pl.lit("]")])


def _anomaly_fragments(outcome: Outcome, length: int) -> tuple[pl.Series, pl.Series]:
    """``"direction":..,"distance":..`` and ``"severity":..`` texts of the (few) anomalous points."""
    rows = np.flatnonzero(outcome.anomalous)
    below, distance, severity = outcome.below[rows], outcome.distance[rows], outcome.severity[rows]
    side = {True: '"direction":"below","distance":', False: '"direction":"above","distance":'}
    first = [side[b] + format_float(d) for b, d in zip(below.tolist(), distance.tolist())]
    second = ['"severity":' + format_float(x) for x in severity.tolist()]
    return _sparse_strings(length, rows, first), _sparse_strings(length, rows, second)


def _sparse_strings(length: int, rows: np.ndarray, texts: list[str]) -> pl.Series:
    """A string Series of nulls with ``texts`` at ``rows``."""
    series = pl.repeat(None, length, dtype=pl.String, eager=True)
    return series.scatter(rows, texts) if rows.size else series


def build_frame(timestamps: np.ndarray, values: np.ndarray, outcome: Outcome, columns: dict,
                metadata_ok: list[Field], insufficient_text, float_columns: tuple[str, ...] = ()) -> pl.DataFrame:
    """Assemble the public output frame.

    ``columns`` are extra arrays the metadata fields refer to; for each name in
    ``float_columns`` a JSON token column ``_t_<name>`` is made available.
    ``insufficient_text(n)`` renders the metadata of an insufficient-data point.
    """
    length = len(outcome.status)
    evaluated = outcome.status == OK
    direction_distance, severity_text = _anomaly_fragments(outcome, length)
    data = {
        "timestamp": np.asarray(timestamps).astype("datetime64[ms]"),
        "value": np.asarray(values, dtype=float),
        "processed_value": outcome.processed,
        "_status": outcome.status.astype(np.int8),
        "_lower": outcome.lower,
        "_upper": outcome.upper,
        "_has_lower": evaluated & outcome.has_lower,
        "_has_upper": evaluated & outcome.has_upper,
        "_anomalous": outcome.anomalous,
        "_below": outcome.below,
        "_severity": outcome.severity,
        "_f_direction": direction_distance,
        "_f_severity": severity_text,
        **columns,
    }
    tokens = [number(name).alias(f"_t_{name.lstrip('_')}") for name in float_columns]
    fields = metadata_ok + [Field("direction", pl.col("_f_direction"), optional=True, fragment=True),
                            Field("severity", pl.col("_f_severity"), optional=True, fragment=True)]
    frame = pl.DataFrame(data).with_columns(tokens)
    metadata = frame.select(json_object(fields)).to_series()
    others = np.flatnonzero(~evaluated)
    if others.size:
        n = columns.get("_n")
        texts = [_REASONS[s] if s in _REASONS else insufficient_text(int(n[i]))
                 for i, s in zip(others.tolist(), outcome.status[others].tolist())]
        metadata = metadata.scatter(others, texts)
    anomalous = pl.col("_anomalous")
    return frame.select(
        pl.col("timestamp"),
        pl.col("value"),
        pl.col("processed_value"),
        anomalous.alias("is_anomaly"),
        pl.when(pl.col("_has_lower")).then(pl.col("_lower")).alias("confidence_lower"),
        pl.when(pl.col("_has_upper")).then(pl.col("_upper")).alias("confidence_upper"),
        pl.when(anomalous).then(pl.col("_severity")).alias("severity"),
        pl.when(anomalous).then(pl.when(pl.col("_below")).then(pl.lit("down")).otherwise(pl.lit("up")))
        .alias("direction"),
        pl.lit(metadata).alias("detection_metadata"),
        pl.col("_status").replace_strict(list(range(len(STATUSES))), list(STATUSES),
                                         return_dtype=pl.String).alias("status"),
    )
