"""The report's numbers: shown in the header and returned as materialization metadata."""

from __future__ import annotations

import numpy as np
import polars as pl

from .detectors import DetectorView
from .events import Event, count_kinds


def summarize(datapoints: pl.DataFrame, detectors: list[DetectorView], events: list[Event]) -> dict:
    """Plain ints and strings, ready to be JSON metadata.

    ``anomalies`` counts distinct timestamps flagged by at least one detector; the
    per-detector counts are in ``detectors``.
    """
    flagged = [d.anomaly_ms for d in detectors]
    return {
        "points": datapoints.height,
        "missing": count_missing(datapoints),
        "anomalies": int(np.unique(np.concatenate(flagged)).size) if flagged else 0,
        **count_kinds(events),
        "detectors": [
            {
                "detector_id": d.detector_id,
                "detector_name": d.name,
                "label": d.label,
                "input_type": d.input_type,
                "anomalies": d.anomalies,
            }
            for d in detectors
        ],
    }


def count_missing(datapoints: pl.DataFrame) -> int:
    """Rows without a usable value: null or NaN."""
    if datapoints.height == 0:
        return 0
    value = pl.col("value").cast(pl.Float64)
    return int(datapoints.select((value.is_null() | value.is_nan()).sum()).item())
