"""Detections and datapoints as arrays on the metric grid.

Timestamps are epoch milliseconds (int64) internally; rows are ordered by
(timestamp, detector_id), so every tie is broken the same way on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from detectkit_dagster.alerting.quorum import Anomaly
from detectkit_dagster.timegrid import format_interval

UP, DOWN = 1, 2  # direction codes of anomalous rows; 0 = the detector did not say
_EPOCH = datetime(1970, 1, 1)
_DETECTIONS = {"timestamp": pl.Datetime("ms"), "detector_id": pl.String, "is_anomaly": pl.Boolean}
_DATAPOINTS = {"timestamp": pl.Datetime("ms"), "value": pl.Float64}


def ms_of(moment: datetime) -> int:
    """Epoch milliseconds of a naive-UTC datetime (an aware one is converted to UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def datetime_of(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(ms))


def _epoch_ms(frame: pl.DataFrame, name: str) -> pl.Expr:
    """Timestamp column as epoch ms (any unit; a tz-aware column counts as its UTC instant)."""
    dtype = frame.schema[name]
    if not isinstance(dtype, pl.Datetime):
        raise ValueError(f"{name!r} must be a Datetime column (naive UTC), got {dtype}")
    return pl.col(name).dt.epoch("ms")


def _check_grid(what: str, ts: np.ndarray, step_ms: int) -> None:
    off = ts % step_ms != 0
    if off.any():
        bad = datetime_of(ts[off][0])
        raise ValueError(f"{what}: timestamp {bad} is not on the {format_interval(step_ms // 1000)} grid")


def _require(frame: pl.DataFrame, what: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The frame, or a typed empty one for a frame with no rows and no columns."""
    if frame.width == 0:
        return pl.DataFrame(schema=schema)
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lack column(s) {', '.join(missing)}; got {', '.join(frame.columns)}")
    return frame


def _float(frame: pl.DataFrame, name: str) -> pl.Expr:
    """Optional float column with NaN folded into null (the tables mean the same by both)."""
    if name not in frame.columns:
        return pl.lit(None, pl.Float64)
    return pl.col(name).cast(pl.Float64).fill_nan(None)


@dataclass(frozen=True)
class Timeline:
    """Detection rows grouped by timestamp: group g holds rows offsets[g]:offsets[g+1].
    Per-group figures are numpy arrays; per-row fields are lists (read only at events), with each
    detector's id, name and params held once, not per row."""

    ts: np.ndarray                # distinct detection timestamps, ascending
    offsets: np.ndarray
    n_up: np.ndarray              # anomalous rows per group, by direction
    n_down: np.ndarray
    n_all: np.ndarray
    newest_anomalous: np.ndarray  # newest anomalous row at or before each group's end, -1 none
    value: list                   # the metric value at each timestamp (first row's; None = none)
    detector: list                # per row: its detector in `detectors`
    detectors: list               # (detector_id, detector_name, detector_params) of each detector
    is_anomaly: list
    direction: list
    severity: list
    lower: list                   # None = no bound
    upper: list

    def __len__(self) -> int:
        return len(self.ts)

    def anomalies(self, g: int) -> list[Anomaly]:
        """Anomalous rows of group g, in detector_id order."""
        rows = range(self.offsets[g], self.offsets[g + 1])
        return [self.record(i) for i in rows if self.is_anomaly[i]]

    def record(self, i: int) -> Anomaly:
        """Row i as a record (direction None unless the row is anomalous)."""
        code = self.direction[i]
        detector_id, detector_name, detector_params = self.detectors[self.detector[i]]
        return Anomaly(
            detector_id=detector_id,
            detector_name=detector_name,
            detector_params=detector_params,
            direction="up" if code == UP else "down" if code == DOWN else None,
            severity=self.severity[i],
            lower=self.lower[i],
            upper=self.upper[i],
        )


def build_timeline(detections: pl.DataFrame, step_ms: int, after_ms: int | None, end_ms: int) -> Timeline:
    """Group the detection rows with after_ms < timestamp <= end_ms (later rows are the future)."""
    detections = _require(detections, "detections", _DETECTIONS)
    cols = detections.columns
    anomalous = pl.col("is_anomaly").cast(pl.Boolean).fill_null(False)
    direction = pl.col("direction").cast(pl.String) if "direction" in cols else pl.lit(None, pl.String)
    name = pl.col("detector_name").cast(pl.String) if "detector_name" in cols else pl.lit(None, pl.String)
    params = pl.col("detector_params").cast(pl.String) if "detector_params" in cols else pl.lit(None, pl.String)
    severity = _float(detections, "severity").fill_null(0.0)  # null = infinite or not recorded
    causal = pl.col("ts") <= end_ms
    if after_ms is not None:  # rows up to after_ms are already folded into the carried state
        causal &= pl.col("ts") > after_ms
    rows = (
        detections.select(
            ts=_epoch_ms(detections, "timestamp"),
            detector_id=pl.col("detector_id").cast(pl.String),
            detector_name=name.fill_null(pl.col("detector_id").cast(pl.String)),
            detector_params=params.fill_null("{}"),
            is_anomaly=anomalous,
            # Our table says up/down; detectkit's metadata spelling above/below is read the same.
            direction=pl.when(anomalous & direction.is_in(["up", "above"])).then(UP)
            .when(anomalous & direction.is_in(["down", "below"])).then(DOWN).otherwise(0).cast(pl.Int8),
            severity=severity,
            lower=_float(detections, "confidence_lower"),
            upper=_float(detections, "confidence_upper"),
            value=_float(detections, "value"),
        )
        .filter(causal)
        .sort("ts", "detector_id")
    )
    ts = rows["ts"].to_numpy()
    _check_grid("detections", ts, step_ms)
    repeated = (pl.col("ts") == pl.col("ts").shift(1)) & (pl.col("detector_id") == pl.col("detector_id").shift(1))
    twice = rows.filter(repeated)
    if twice.height:
        raise ValueError(f"detections: detector {twice['detector_id'][0]!r} has two rows at "
                         f"{datetime_of(twice['ts'][0])}")

    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]]) if len(ts) else np.zeros(0, np.int64)
    is_anomaly = rows["is_anomaly"].to_numpy()
    code = rows["direction"].to_numpy()

    def per_group(mask: np.ndarray) -> np.ndarray:
        return np.add.reduceat(mask.astype(np.int64), starts) if len(ts) else np.zeros(0, np.int64)

    index = np.arange(len(ts))
    newest = np.maximum.accumulate(np.where(is_anomaly, index, -1)) if len(ts) else index
    offsets = np.r_[starts, len(ts)]
    described = rows.select("detector_id", "detector_name", "detector_params")
    detectors = described.unique(maintain_order=True)
    detector = described.join(detectors.with_row_index("detector"), on=described.columns, how="left",
                              maintain_order="left")["detector"].to_list()
    return Timeline(
        ts=ts[starts],
        offsets=offsets,
        n_up=per_group(is_anomaly & (code == UP)),
        n_down=per_group(is_anomaly & (code == DOWN)),
        n_all=per_group(is_anomaly),
        newest_anomalous=newest[offsets[1:] - 1],
        value=rows["value"].gather(starts).to_list(),
        detector=detector,
        detectors=detectors.rows(),
        is_anomaly=is_anomaly.tolist(),
        direction=code.tolist(),
        severity=rows["severity"].to_list(),
        lower=rows["lower"].to_list(),
        upper=rows["upper"].to_list(),
    )


def evaluation_points(
    datapoints: pl.DataFrame, step_ms: int, start_ms: int, end_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Grid points in [start, end] that have a datapoint row, and whether each has no value."""
    datapoints = _require(datapoints, "datapoints", _DATAPOINTS)
    points = (
        datapoints.select(ts=_epoch_ms(datapoints, "timestamp"), value=pl.col("value").cast(pl.Float64))
        .filter(pl.col("ts").is_between(start_ms, end_ms))
        .sort("ts")
    )
    ts = points["ts"].to_numpy()
    _check_grid("datapoints", ts, step_ms)
    if len(ts) > 1 and (ts[1:] == ts[:-1]).any():
        i = int(np.flatnonzero(ts[1:] == ts[:-1])[0])
        raise ValueError(f"datapoints: two rows at {datetime_of(ts[i])}")
    return ts, np.isnan(points["value"].to_numpy())
