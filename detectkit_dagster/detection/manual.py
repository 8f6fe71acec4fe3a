"""Fixed thresholds on the (optionally differenced) values (spec 8)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from detectkit_dagster.detection import params as P
from detectkit_dagster.detection.preprocess import apply_input_type
from detectkit_dagster.detection.results import MISSING, OK, Field, Outcome, build_frame, literal


@dataclass
class ManualBoundsDetector:
    params: dict
    start_time: str | None = None
    batch_size: int = P.DEFAULT_BATCH_SIZE
    _kept: dict = field(init=False, repr=False)

    detector_name = P.MANUAL_CLASS_NAME

    def __post_init__(self):
        self.params = P.validate_manual(self.params)
        self._kept = P.non_default(self.params, P.MANUAL_DEFAULTS, drop_none=True)

    @property
    def detector_id(self) -> str:
        return P.detector_id(P.MANUAL_CLASS_NAME, 1, self._kept)

    @property
    def detector_params(self) -> str:
        return P.params_json(self._kept)

    @property
    def input_type(self) -> str:
        return self.params["input_type"]

    @property
    def context_size(self) -> int:
        return 1 if self.input_type in P.CHANGE_INPUT_TYPES else 0

    def detect(self, timestamps, values, seasonality: dict | None = None) -> pl.DataFrame:
        ts = np.asarray(timestamps).astype("datetime64[ms]")
        raw = np.asarray(values, dtype=float)
        if ts.shape != raw.shape:
            raise ValueError(f"timestamps and values differ in length: {ts.shape} vs {raw.shape}")
        lower, upper = self.params["lower_bound"], self.params["upper_bound"]
        low = -np.inf if lower is None else float(lower)
        high = np.inf if upper is None else float(upper)
        x = apply_input_type(raw, self.input_type)
        below, above = x < low, x > high  # strict; NaN compares False
        with np.errstate(invalid="ignore"):
            distance = np.where(below, low - x, x - high)
        # with both bounds the distance is relative to the band's width (spec 8)
        severity = distance / (high - low) if lower is not None and upper is not None else distance
        n = len(x)
        outcome = Outcome(
            processed=x, status=np.where(np.isnan(x), MISSING, OK),
            lower=np.full(n, low), upper=np.full(n, high),
            has_lower=np.full(n, lower is not None), has_upper=np.full(n, upper is not None),
            anomalous=below | above, below=below, distance=distance, severity=severity,
        )
        fields = []
        if self.input_type != "values":
            fields.append(Field("preprocessing", literal({"input_type": self.input_type})))
        return build_frame(ts, raw, outcome, {}, fields, None)
