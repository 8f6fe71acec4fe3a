"""The windowed detectors: MAD, Z-score and IQR (spec 7).

All three share one pipeline (preprocess, trailing window, optional detrend, global
statistics, seasonal multipliers, interval, flags); a subclass only names its
statistics and turns adjusted statistics into an interval and a severity unit.

Beyond the reference, opt-in options shape the band (``options.py``: spread floors, a
minimum change, non-negative bounds) and ``stabilization: clamp`` feeds flagged points into
later windows at the bound they broke (``stabilize.py``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import polars as pl

from detectkit_dagster.detection import params as P
from detectkit_dagster.detection import options, stabilize
from detectkit_dagster.detection.evaluation import Evaluation, SeasonalEntry, reweigh
from detectkit_dagster.detection.exact import STAT_NAMES, exact_slope
from detectkit_dagster.detection.preprocess import apply_input_type, smooth
from detectkit_dagster.detection.results import (
    INSUFFICIENT, MISSING, OK, Field, Outcome, build_frame, integer, json_array, json_object, literal,
    sparse_count,
)
from detectkit_dagster.detection.seasonality import BUILTIN_FEATURES, builtin_features, component_columns, group_codes
from detectkit_dagster.detection.stats import window_stats
from detectkit_dagster.detection.moments import effective_sample_size
from detectkit_dagster.detection.weights import RecencyWeights, resolve_weights
from detectkit_dagster.detection.windows import WindowSet, group_windows, trailing_windows

MAD_SCALE = 1.4826   # MAD of a normal distribution is 0.6745 sigma
DEGENERATE = 1e-10   # half-width of the band when the spread is exactly zero


@dataclass(frozen=True)
class Statistics:
    """The threshold-free part of one detect() pass."""

    ts: np.ndarray
    raw: np.ndarray
    smoothed: np.ndarray
    processed: np.ndarray
    weights: RecencyWeights
    sizes: np.ndarray
    status: np.ndarray
    ev: Evaluation
    features: dict | None


@dataclass
class WindowedDetector:
    kind: ClassVar[P.WindowedKind]
    params: dict
    start_time: str | None = None
    batch_size: int = P.DEFAULT_BATCH_SIZE
    _kept: dict = field(init=False, repr=False)

    def __post_init__(self):
        self.params = P.validate_windowed(self.kind, self.params)
        self._kept = P.non_default(self.params, P.windowed_defaults(self.kind))

    # --- identity (spec 6.4, 6.5) ---------------------------------------------------
    @property
    def detector_name(self) -> str:
        return self.kind.class_name

    @property
    def detector_id(self) -> str:
        return P.detector_id(self.kind.class_name, self.kind.algorithm_version, self._kept)

    @property
    def detector_params(self) -> str:
        return P.params_json(self._kept)

    @property
    def input_type(self) -> str:
        return self.params["input_type"]

    @property
    def context_size(self) -> int:
        p = self.params
        extra = {"sma": p["smoothing_window"], "ema": math.ceil(5 / p["smoothing_alpha"])}.get(p["smoothing"], 0)
        # clamped points of the history shape later windows: one more window to settle them
        extra += p["window_size"] if p["stabilization"] else 0
        return p["window_size"] + extra + (1 if p["input_type"] in P.CHANGE_INPUT_TYPES else 0)

    @property
    def stat_names(self) -> tuple[str, ...]:
        return STAT_NAMES[self.kind.type_name]

    # --- per-type hooks -------------------------------------------------------------
    def interval(self, a: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def spread_unit(self, a: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def centre(self, a: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def band(self, a: dict[str, np.ndarray], unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The interval for a given spread unit (used when a spread floor applies)."""
        raise NotImplementedError

    def interval_one(self, a: dict[str, float]) -> tuple[float, float, float]:
        """``interval`` and ``spread_unit`` of one position, in Python floats (the same operations)."""
        raise NotImplementedError

    def band_one(self, a: dict[str, float]) -> tuple[float, float, float] | None:
        """``_bands`` of one position in Python floats (a clamp walk looks at one position at a
        time), or None where the arrays must do it (band options set, or a band not finite)."""
        if options.any_set(self.params):
            return None
        lower, upper, unit = self.interval_one(a)
        if not (math.isfinite(lower) and math.isfinite(upper)):
            return None
        return (upper, lower, unit) if lower > upper else (lower, upper, unit)

    # --- detection ------------------------------------------------------------------
    def detect(self, timestamps, values, seasonality: dict | None = None) -> pl.DataFrame:
        """One result per point, in input order (see the package docs for the columns)."""
        s = self.statistics(timestamps, values, seasonality)
        outcome, ev, clamped = self._flagged(s, s.ev)
        columns, floats, fields = self._metadata(len(s.processed), s.sizes, ev, s.weights, s.smoothed, clamped)
        prefix = f'{{"min_samples":{self.params["min_samples"]},"reason":"insufficient_data","window_size":'
        return build_frame(s.ts, s.raw, outcome, columns, fields, lambda size: f"{prefix}{size}}}", floats)

    def statistics(self, timestamps, values, seasonality: dict | None = None) -> "Statistics":
        """Everything detect() computes before the threshold is applied. A detector whose
        params differ only in ``threshold`` flags from the same statistics (``flag``)."""
        p = self.params
        ts = np.asarray(timestamps).astype("datetime64[ms]")
        raw = np.asarray(values, dtype=float)
        if ts.shape != raw.shape:
            raise ValueError(f"timestamps and values differ in length: {ts.shape} vs {raw.shape}")
        smoothed = smooth(raw, p["smoothing"], p["smoothing_alpha"], p["smoothing_window"])
        processed = apply_input_type(smoothed, p["input_type"])
        weights = resolve_weights(p, ts)

        window = trailing_windows(processed, np.arange(len(processed)), p["window_size"])
        sizes = window.size
        status = np.where(np.isnan(processed), MISSING, np.where(sizes < p["min_samples"], INSUFFICIENT, OK))
        features = self._features(ts, seasonality)
        ev = self._assess(processed, window.take(np.flatnonzero(status == OK)), weights, features)
        return Statistics(ts, raw, smoothed, processed, weights, sizes, status, ev, features)

    def flag(self, s: "Statistics") -> Outcome:
        """Bounds and flags under this detector's threshold (does not change ``s``)."""
        clamping = self.params["stabilization"] == "clamp"
        return self._flagged(s, copy.deepcopy(s.ev) if clamping else s.ev)[0]

    def _flagged(self, s: "Statistics", ev: Evaluation) -> tuple[Outcome, Evaluation, np.ndarray | None]:
        """The bands of ``ev`` (the options applied), clamping flagged points into later windows
        when asked (which updates ``ev``), and the flags."""
        p = self.params
        bands = self._bands(ev.adjusted)
        clamped = None
        if p["stabilization"] == "clamp":
            walk = stabilize.walk_for(self, ev, bands, lambda work, at: ev.assign(
                at, self._reassess(work, ev.q[at], s.weights, s.features)))
            clamped = stabilize.clamp(s.processed, ev.q, bands, p["window_size"], walk.update, walk.reband)
        return options.outcome(s.processed, s.status, ev.q, bands), ev, clamped  # spec 7.2 steps 8-10, 7.6

    def _assess(self, work, window: WindowSet, weights: RecencyWeights, features) -> Evaluation:
        """Global statistics, then seasonal adjustment, of the rows of ``window``."""
        ev = self._evaluate(window, weights)
        ev.seasonal = self._seasonal(work, features, ev, weights)
        return ev

    def _evaluate(self, window: WindowSet, weights: RecencyWeights) -> Evaluation:
        """Detrend slope and global statistics of the evaluated points (spec 7.2 steps 4-6)."""
        slope = exact_slope(window, weights.table()) if self.params["detrend"] == "linear" else None
        stats, exact = window_stats(self.kind.type_name, window, weights, slope)
        return Evaluation(window.row, window, slope, stats, {k: v.copy() for k, v in stats.items()}, exact)

    def _bands(self, a: dict[str, np.ndarray]) -> options.Bands:
        """Interval and spread unit (spec 7.6), then the opt-in options."""
        lower, upper = self.interval(a)
        lower, upper = np.minimum(lower, upper), np.maximum(lower, upper)  # swap when L > U
        bands = options.Bands(lower, upper, np.array(self.spread_unit(a), dtype=float))
        if options.any_set(self.params):
            bands = options.apply(self.params, bands, self.centre(a), lambda unit: self.band(a, unit))
        return bands

    def _reassess(self, work, rows: np.ndarray, weights, features) -> Evaluation:
        """Statistics of a few rows from the part of ``work`` their windows can reach."""
        first = max(0, int(rows[0]) - self.params["window_size"])
        last = int(rows[-1]) + 1
        part = work[first:last]
        local = None if features is None else {name: column[first:last] for name, column in features.items()}
        ev = self._assess(part, trailing_windows(part, rows - first, self.params["window_size"]), weights, local)
        ev.q = rows
        return ev

    def _features(self, ts, seasonality) -> dict | None:
        """Seasonality columns by name, or None when seasonality is not in play (spec 7.2 step 1).

        Without explicit columns the point's calendar features are derived from its
        timestamp, as if the datapoints carried all built-in features.
        """
        components = component_columns(self.params["seasonality_components"])
        if not components or len(ts) == 0:
            return None
        if seasonality is None:
            return builtin_features(ts, sorted({c for g in components for c in g if c in BUILTIN_FEATURES}))
        if not seasonality:
            return None
        features = {}
        for name, column in seasonality.items():
            column = np.asarray(column)
            if column.shape != ts.shape:
                raise ValueError(f"seasonality column {name!r} has {column.shape[0]} values, expected {len(ts)}")
            features[name] = column
        return features

    def _seasonal(self, processed, features, ev: Evaluation, weights) -> list[SeasonalEntry] | None:
        """Seasonal multipliers per component (spec 7.7); updates ``ev.adjusted`` in place.

        A row's group statistics take the same (exact or fast) path as its global ones,
        so a group that equals the whole window yields a multiplier of exactly 1.
        """
        if features is None:
            return None
        p = self.params
        ev.seasonal = []
        for columns in component_columns(p["seasonality_components"]):
            codes = group_codes(features, columns)
            if codes is None:  # no columns or an unknown column: the group is the whole window
                size, group_stats = ev.window.size, None
            else:
                group = group_windows(processed, codes, ev.q, p["window_size"])
                size = group.size
                idx = np.flatnonzero(size >= p["min_samples_per_group"])
                part, _ = window_stats(self.kind.type_name, group.take(idx), weights,
                                       None if ev.slope is None else ev.slope[idx], ev.exact[idx])
                group_stats = {name: np.full(len(ev.q), np.nan) for name in part}
                for name, value in part.items():
                    group_stats[name][idx] = value
            ev.seasonal.append(SeasonalEntry(columns, size, size < p["min_samples_per_group"], group_stats, codes))
        with np.errstate(divide="ignore", invalid="ignore"):
            reweigh(self.stat_names, ev, slice(None))
        return ev.seasonal

    def _metadata(self, length, sizes, ev: Evaluation, weights: RecencyWeights, smoothed, clamped):
        """Arrays behind the metadata of evaluated points (spec 7.8), and the fields over them."""
        p = self.params
        columns = {"_n": sizes}
        floats: list[str] = []

        def add(name, values, fill=np.nan, dtype=float):
            full = np.full(length, fill, dtype=dtype)
            full[ev.q] = values
            columns[name] = full
            if dtype is float:
                floats.append(name)
            return name

        def token(name):
            return pl.col(f"_t_{name.lstrip('_')}")

        fields = [Field("window_size", integer("_n"))]
        for name in self.stat_names:
            g = add(f"_g_{name}", ev.global_stats[name])
            # without engaged seasonal groups adjusted == global: reuse the same tokens
            a = g if np.array_equal(ev.global_stats[name], ev.adjusted[name], equal_nan=True) else \
                add(f"_a_{name}", ev.adjusted[name])
            fields += [Field(f"global_{name}", token(g)), Field(f"adjusted_{name}", token(a))]
        if weights.reported:
            fields.append(Field("ess", token(add("_ess", effective_sample_size(ev.window, weights)))))
        if p["detrend"] == "linear":
            fields.append(Field("trend_slope_per_point", token(add("_slope", ev.slope))))
        if p["smoothing"] is not None or p["input_type"] != "values":
            pre = [Field("input_type", literal(p["input_type"])), Field("smoothing", literal(p["smoothing"]))]
            if p["smoothing"] is not None:
                columns["_smoothed"] = smoothed
                floats.append("_smoothed")
                pre.append(Field("smoothed_value", token("_smoothed")))
            fields.append(Field("preprocessing", json_object(pre)))
        if ev.seasonal is not None:
            items = []
            for c, entry in enumerate(ev.seasonal):
                add(f"_gs{c}", entry.size, 0, np.int64)
                add(f"_gf{c}", entry.fallback, False, bool)
                parts = [Field("group", literal(entry.columns)), Field("group_size", integer(f"_gs{c}")),
                         Field("reason", pl.when(pl.col(f"_gf{c}")).then(literal("insufficient_group_data")),
                               optional=True)]
                for name in self.stat_names:
                    multiplier = add(f"_gm{c}_{name}", entry.multipliers[name], 1.0)
                    parts.append(Field(f"{name}_multiplier", token(multiplier)))
                items.append(json_object(parts))
            fields.append(Field("seasonality_groups", json_array(items)))
        if clamped is not None:
            columns["_stabilized"] = stabilize.in_window(clamped, ev.q, length, self.params["window_size"])
            fields.append(sparse_count("stabilized_in_window", columns["_stabilized"], "_stabilized"))
        return columns, tuple(floats), fields


class MADDetector(WindowedDetector):
    kind = P.MAD

    def interval(self, a):
        half = np.where(a["mad"] == 0, DEGENERATE, self.params["threshold"] * MAD_SCALE * a["mad"])
        return a["median"] - half, a["median"] + half

    def spread_unit(self, a):
        return MAD_SCALE * a["mad"]

    def centre(self, a):
        return a["median"]

    def band(self, a, unit):
        margin = self.params["threshold"] * unit
        return a["median"] - margin, a["median"] + margin

    def interval_one(self, a):
        half = DEGENERATE if a["mad"] == 0 else self.params["threshold"] * MAD_SCALE * a["mad"]
        return a["median"] - half, a["median"] + half, MAD_SCALE * a["mad"]



class ZScoreDetector(WindowedDetector):
    kind = P.ZSCORE

    def interval(self, a):
        half = np.where(a["std"] == 0, DEGENERATE, self.params["threshold"] * a["std"])
        return a["mean"] - half, a["mean"] + half

    def spread_unit(self, a):
        return a["std"]

    def centre(self, a):
        return a["mean"]

    def band(self, a, unit):
        margin = self.params["threshold"] * unit
        return a["mean"] - margin, a["mean"] + margin

    def interval_one(self, a):
        half = DEGENERATE if a["std"] == 0 else self.params["threshold"] * a["std"]
        return a["mean"] - half, a["mean"] + half, a["std"]



class IQRDetector(WindowedDetector):
    kind = P.IQR

    def interval(self, a):
        half = np.where(a["iqr"] == 0, DEGENERATE, self.params["threshold"] * a["iqr"])
        return a["q1"] - half, a["q3"] + half

    def spread_unit(self, a):
        return a["iqr"]

    def centre(self, a):
        return (a["q1"] + a["q3"]) / 2

    def band(self, a, unit):
        margin = self.params["threshold"] * unit
        return a["q1"] - margin, a["q3"] + margin

    def interval_one(self, a):
        half = DEGENERATE if a["iqr"] == 0 else self.params["threshold"] * a["iqr"]
        return a["q1"] - half, a["q3"] + half, a["iqr"]
