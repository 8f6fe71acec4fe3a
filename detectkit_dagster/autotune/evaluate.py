"""Scoring one detector config by walk-forward cross-validation, without repeating work.

The windowed detectors are causal (a point sees only earlier points), so one pass over the
whole series, cut into folds after a warm-up, is exactly "train on the past, score the
fold". Two things make a pass cheap:

* configs are remembered by detector id: an identical config is never evaluated twice;
* the window statistics (the expensive part) do not depend on the threshold or the band
  options, so they are computed once per config without those (recency weights compared as
  they resolve) and every threshold and option only derives its bounds from them
  (``statistics`` / ``flag`` of the windowed and autoreg detectors: the same numbers
  ``detect`` uses; clamping works on a copy).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..detection import create_detector
from ..detection.weights import resolve_weights
from .labels import GroundTruth
from .scoring import event_f1, onsets, score_points, unsupervised_objective, aggregate
from .settings import FPR_TARGET, TuneSettings

# Not part of the statistics key: what only shapes the bounds (the threshold and the band
# options, applied by ``flag``) and the weight params (the key holds the weights they resolve to).
OPTION_PARAMS = ("min_spread", "min_relative_spread", "min_change", "min_relative_change", "non_negative",
                 "stabilization")
KEYED_APART = ("threshold",) + OPTION_PARAMS + ("window_weights", "half_life", "weight_decay")
CACHED_STATISTICS = 8  # statistics kept in memory (a search revisits only its latest configs)


@dataclass(frozen=True)
class Series:
    """The training data: a regular grid, NaN = missing, seasonality columns by name."""

    timestamps: np.ndarray  # datetime64[ms], ascending
    values: np.ndarray
    features: dict
    interval_seconds: int

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Candidate:
    detector_type: str
    params: dict
    detector_id: str
    score: float
    per_fold: tuple[float, ...]
    penalty: float

    def summary(self) -> str:
        options = "".join(f", {name}={self.params[name]}" for name in OPTION_PARAMS if name in self.params)
        return f"threshold={self.params.get('threshold')}, window_size={self.params.get('window_size')}{options}"


@dataclass(frozen=True)
class Predictions:
    valid: np.ndarray    # the detector produced a band
    flagged: np.ndarray  # anomalous (valid points only)
    distance: np.ndarray  # |value - band centre| / band half-width; 0 where undefined


def predictions(outcome) -> Predictions:
    valid = outcome.has_lower & outcome.has_upper
    half = (outcome.upper - outcome.lower) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = np.abs(outcome.processed - (outcome.lower + outcome.upper) / 2) / half
    usable = valid & (half > 0) & np.isfinite(distance)
    return Predictions(valid, outcome.anomalous & valid, np.where(usable, distance, 0.0))


class Evaluator:
    """Cross-validated scores of detector configs over one series."""

    def __init__(self, series: Series, folds, truth: GroundTruth, settings: TuneSettings):
        self.series, self.folds, self.truth, self.settings = series, folds, truth, settings
        self.memo: dict[str, Candidate] = {}  # by detector id, in the order evaluated
        self._statistics: OrderedDict = OrderedDict()

    def __call__(self, detector_type: str, params: dict) -> Candidate | None:
        """The scored candidate, or None when these params make no valid detector."""
        params = {k: v for k, v in params.items() if v is not None}
        try:
            detector = create_detector(detector_type, params)
        except ValueError:
            return None
        key = detector.detector_id
        if key not in self.memo:
            pred = predictions(self.outcome(detector_type, params, detector))
            per_fold = self.fold_scores(pred)
            score, penalty = aggregate(per_fold, self.settings.stability_lambda)
            self.memo[key] = Candidate(detector_type, params, key, score, tuple(per_fold), penalty)
        return self.memo[key]

    def outcome(self, detector_type: str, params: dict, detector=None):
        """Bounds and flags of one config over the series, exactly as ``detect`` gives them."""
        detector = detector or create_detector(detector_type, params)
        key = self._statistics_key(detector_type, detector)
        if key in self._statistics:
            self._statistics.move_to_end(key)
        else:
            s = self.series
            self._statistics[key] = detector.statistics(s.timestamps, s.values, s.features)
            if len(self._statistics) > CACHED_STATISTICS:
                self._statistics.popitem(last=False)
        return detector.flag(self._statistics[key])

    def _statistics_key(self, detector_type: str, detector) -> tuple:
        """What the statistics depend on: every param but the threshold, with the recency
        weights as they resolve (an explicit half-life equal to the default is the same pass)."""
        rest = {k: v for k, v in detector.params.items() if k not in KEYED_APART}
        if "window_weights" not in detector.params:  # autoreg: no recency weights
            return detector_type, json.dumps(rest, sort_keys=True)
        w = resolve_weights(detector.params, self.series.timestamps)
        return detector_type, json.dumps(rest, sort_keys=True), w.method, w.half_life if w.method == "exponential" else 0

    def fold_scores(self, pred: Predictions) -> list[float]:
        """One score per fold that can be scored (supervised: folds holding a labeled point)."""
        truth, settings = self.truth, self.settings
        starts = onsets(pred.flagged) if settings.metric == "event_f1" else None
        scores = []
        for lo, hi in self.folds:
            valid = pred.valid[lo:hi]
            if not valid.any():
                continue
            flagged, distance = pred.flagged[lo:hi][valid], pred.distance[lo:hi][valid]
            if not truth.supervised:
                scores.append(unsupervised_objective(flagged, distance, FPR_TARGET))
                continue
            y_true = truth.y_true[lo:hi][valid]
            if not y_true.any():
                continue
            if starts is not None:
                scores.append(event_f1(truth.spans, starts, lo, hi, pred.valid))
            else:
                scores.append(score_points(settings.metric, y_true, flagged, distance, settings.beta))
        return scores
