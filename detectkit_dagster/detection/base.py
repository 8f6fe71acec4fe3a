"""The contract every detector keeps, whatever its family (windowed, manual bounds, autoreg).

A detector is built by ``create_detector(type, params)``, which validates ``params`` at once
(one ``ValueError`` naming the param). It then exposes:

* ``detector_name`` -- the class name detectkit stores (``MADDetector``, ``AutoregDetector``);
* ``detector_id`` -- 16 lowercase hex digits, a hash of the class, its algorithm version and
  the params that differ from their defaults (execution params never count), so the id of a
  config changes exactly when its detections would;
* ``detector_params`` -- those non-default params as compact, key-sorted JSON;
* ``params`` (every param, defaults filled in), ``input_type``, ``start_time``, ``batch_size``;
* ``context_size`` -- rows of history to load before the first point to detect;
* ``detect(timestamps, values, seasonality=None)`` -- one row per input point, in input order,
  with exactly the columns of ``OUTPUT_SCHEMA``.

Guarantees of ``detect`` (``tests/contracts`` checks them for every registered detector):

* causal: a point's row depends only on the points up to it (detecting a prefix of the series
  gives the prefix of the rows);
* ``status`` is one of ``STATUSES``; only ``ok`` rows have bounds, and only they can be anomalies;
* an ``ok`` row is an anomaly exactly when ``processed_value`` lies strictly outside
  [``confidence_lower``, ``confidence_upper``] (bounds in processed units; NaN bounds flag
  nothing); ``direction`` is ``up`` above the band, ``down`` below it, and ``severity``
  (distance beyond the bound in spread units, ``inf`` for a zero spread) is set only then;
* ``detection_metadata`` is a JSON object with sorted keys; rows that are not ``ok`` carry a
  ``reason`` equal to their status.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import polars as pl

STATUSES = ("ok", "missing_data", "insufficient_data", "missing_lags")

OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.Datetime("ms"),
    "value": pl.Float64,              # the input value
    "processed_value": pl.Float64,    # after smoothing and input_type: what was compared
    "is_anomaly": pl.Boolean,
    "confidence_lower": pl.Float64,   # null where the point was not evaluated
    "confidence_upper": pl.Float64,
    "severity": pl.Float64,           # null unless anomalous
    "direction": pl.String,           # "up" / "down" / null
    "detection_metadata": pl.String,
    "status": pl.String,
}


@runtime_checkable
class Detector(Protocol):
    params: dict
    start_time: str | None
    batch_size: int

    @property
    def detector_name(self) -> str: ...

    @property
    def detector_id(self) -> str: ...

    @property
    def detector_params(self) -> str: ...

    @property
    def input_type(self) -> str: ...

    @property
    def context_size(self) -> int: ...

    def detect(self, timestamps: np.ndarray, values: np.ndarray,
               seasonality: dict | None = None) -> pl.DataFrame: ...
