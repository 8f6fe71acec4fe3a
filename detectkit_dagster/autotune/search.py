"""The coordinate search: per detector type, one axis at a time from a seed config.

Axes, in order: threshold (any strict gain), recency weighting, half-life, detrend (each
must gain ``MIN_IMPROVEMENT``), the window (with its own tie rule), then the threshold
again. Pinned ``fixed_params`` override every value the search tries. An axis is a small
record, so another detector option is one more entry in ``AXES``.

With ``search_options``, the options beyond the reference follow, each an axis that must gain
``MIN_IMPROVEMENT``: a spread floor, a minimum change (both relative to the level, or in the
series' own value steps), non-negative bounds (for a series that never goes below zero) and
clamp stabilization; then the threshold once more. Every step only adopts a gain, so a type's
result is never worse than without the options.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..detection.params import AUTOREG_DEFAULTS, WINDOWED_KINDS
from .decisions import Decision
from .evaluate import Candidate, Evaluator
from .settings import MAX_CANDIDATES, MIN_IMPROVEMENT, WINDOW_TIE_MARGIN, TuneSettings

HALF_LIFE_FRACTIONS = (0.05, 0.1, 0.25, 0.5)
RELATIVE_SPREADS = (0.005, 0.01, 0.02, 0.05)   # spread floors, as a fraction of the level
RELATIVE_CHANGES = (0.01, 0.02, 0.05, 0.1)     # minimum changes, as a fraction of the level
STEPS = (0.5, 1.0, 2.0)                        # ... or in the series' typical value step


def min_samples_for(window: int, floor: int) -> int:
    return min(window, max(floor, round(window / 4)))


def window_grid(n: int, interval_seconds: int, folds: int, fixed: int | None = None) -> list[int]:
    """Window sizes to try: 100 points, a day and a week, capped to a fold's worth of history."""
    if fixed is not None:
        return [fixed]
    cap = max(20, n // (folds + 1))
    per_day = max(1, round(86400 / interval_seconds))
    grid = sorted(w for w in {100, per_day, 7 * per_day} if 20 <= w <= cap)
    return grid or [max(2, min(cap, 100))]


def cv_folds(n: int, context: int, folds: int) -> list[tuple[int, int]]:
    """Walk-forward folds after a warm-up of ``context`` points; the last one runs to the end."""
    scored = n - context
    if scored <= 0:
        return []
    count = min(folds, scored)
    length = scored // count
    bounds = [(context + k * length, context + (k + 1) * length) for k in range(count)]
    bounds[-1] = (bounds[-1][0], n)
    return bounds


def trend_present(values: np.ndarray) -> bool:
    """The two halves' medians differ by more than two robust sigmas."""
    x = values[np.isfinite(values)]
    if len(x) < 8:
        return False
    half = len(x) // 2
    delta = abs(float(np.median(x[half:])) - float(np.median(x[:half])))
    mad = float(np.median(np.abs(x - np.median(x))))
    return delta > 0 if mad == 0 else delta > 2 * 1.4826 * mad


def level_shift(values: np.ndarray) -> tuple[int, float] | None:
    """The strongest split of the series into two levels, if it is at least 3 robust sigmas."""
    n = len(values)
    min_side = max(4, int(0.1 * n))
    if n < 32 or n - 2 * min_side < 1:
        return None
    step = max(1, (n - 2 * min_side) // 24)
    best_split, best = None, -1.0
    with warnings.catch_warnings():  # an all-missing side has no level: nanmedian warns, we skip it
        warnings.simplefilter("ignore", RuntimeWarning)
        for split in range(min_side, n - min_side, step):
            left, right = values[:split], values[split:]
            ml, mr = np.nanmedian(left), np.nanmedian(right)
            within = np.nanmedian(np.r_[np.abs(left - ml), np.abs(right - mr)])
            if not np.isfinite(ml) or not np.isfinite(mr):
                continue
            sigmas = 99.0 if within == 0 else min(99.0, abs(mr - ml) / (1.4826 * within))
            if sigmas > best:
                best_split, best = split, sigmas
    return (best_split, best) if best_split is not None and best >= 3.0 else None


def value_step(values: np.ndarray) -> float | None:
    """The series' typical move between consecutive points that differ (1 for an integer gauge)."""
    x = values[np.isfinite(values)]
    moves = np.abs(np.diff(x))
    moves = moves[moves > 0]
    return float(np.median(moves)) if moves.size else None


@dataclass(frozen=True)
class Kind:
    """What the search needs to know about a detector type."""

    threshold: float
    floor: int            # smallest min_samples the type accepts
    windowed: bool        # recency weights, detrend and seasonality apply


def kind_of(detector_type: str) -> Kind:
    if detector_type == "autoreg":
        return Kind(AUTOREG_DEFAULTS["threshold"], AUTOREG_DEFAULTS["lags"] + 2, False)
    kind = WINDOWED_KINDS[detector_type]
    return Kind(kind.threshold, kind.min_samples_floor, True)


@dataclass
class TypeSearch:
    """The state of one detector type's search."""

    detector_type: str
    floor: int            # smallest min_samples the type accepts
    seed_window: int
    windows: list[int]
    has_trend: bool
    settings: TuneSettings
    evaluate: Evaluator
    best: Candidate

    def candidate(self, update: dict) -> Candidate | None:
        """The best config with ``update`` applied; pinned params always win."""
        params = {**self.best.params, **update, **self.settings.pinned(self.detector_type)}
        return self.evaluate(self.detector_type, params)

    @property
    def windowed(self) -> bool:
        return kind_of(self.detector_type).windowed

    def opted(self, option: str) -> bool:
        return option in self.settings.options

    def thresholds(self) -> list[dict]:
        current = self.best.params.get("threshold")
        return [{"threshold": t} for t in self.settings.thresholds(self.detector_type) if t != current]


@dataclass(frozen=True)
class Axis:
    """One coordinate: the updates to try in order, and the gain that adopts one."""

    name: str
    updates: Callable[[TypeSearch], list[dict]]
    margin: float | None = MIN_IMPROVEMENT  # None: any strict gain
    applies: Callable[[TypeSearch], bool] = lambda s: True


def _half_lives(s: TypeSearch) -> list[dict]:
    floor = max(2, s.best.params["min_samples"] // 2)
    w = s.seed_window
    return [{"half_life": h} for h in sorted({max(floor, round(w * f)) for f in HALF_LIFE_FRACTIONS
                                               if round(w * f) >= 2})]


def _floors(s: TypeSearch, relative: tuple[float, ...], absolute: str, relative_name: str) -> list[dict]:
    """Relative values, then multiples of the series' value step; each update sets one of the pair."""
    updates = [{relative_name: r, absolute: None} for r in relative]
    step = value_step(s.evaluate.series.values)
    if step is not None:
        updates += [{absolute: round(f * step, 6), relative_name: None} for f in STEPS]
    return updates


def _never_negative(s: TypeSearch) -> bool:
    values = s.evaluate.series.values
    return bool(np.nanmin(values) >= 0) and s.best.params.get("input_type", "values") == "values"


AXES: tuple[Axis, ...] = (
    Axis("threshold", TypeSearch.thresholds, margin=None),
    Axis("window_weights", lambda s: [{"window_weights": "exponential"}],
         applies=lambda s: s.windowed and s.best.params.get("window_weights") is None),
    Axis("half_life", _half_lives, applies=lambda s: s.best.params.get("window_weights") == "exponential"),
    Axis("detrend", lambda s: [{"detrend": "linear"}],
         applies=lambda s: s.windowed and s.has_trend and s.best.params.get("detrend") is None),
)
OPTION_AXES: tuple[Axis, ...] = (
    Axis("spread_floor", lambda s: _floors(s, RELATIVE_SPREADS, "min_spread", "min_relative_spread"),
         applies=lambda s: s.opted("spread_floor")),
    Axis("min_change", lambda s: _floors(s, RELATIVE_CHANGES, "min_change", "min_relative_change"),
         applies=lambda s: s.opted("min_change")),
    Axis("non_negative", lambda s: [{"non_negative": True}],
         applies=lambda s: s.opted("non_negative") and not s.best.params.get("non_negative") and _never_negative(s)),
    Axis("clamp", lambda s: [{"stabilization": "clamp"}],  # autoreg clamps by default
         applies=lambda s: s.opted("clamp") and s.windowed and s.best.params.get("stabilization") is None),
)
FINAL_AXES: tuple[Axis, ...] = (Axis("threshold", TypeSearch.thresholds, margin=None),)


def sweep(s: TypeSearch, axis: Axis) -> None:
    if not axis.applies(s):
        return
    for update in axis.updates(s):
        candidate = s.candidate(update)
        if candidate is None:
            continue
        bar = s.best.score if axis.margin is None else s.best.score + axis.margin
        if candidate.score > bar:
            s.best = candidate


def select_window(s: TypeSearch) -> None:
    """Score every window; among those within the tie margin of the best, take the smallest
    when the series trends (a fresher baseline) and the largest otherwise (more history)."""
    scored = []
    for w in s.windows:
        if w < s.floor:
            continue
        candidate = s.candidate({"window_size": w, "min_samples": min_samples_for(w, s.floor)})
        if candidate is not None:
            scored.append((w, candidate))
    if not scored:
        return
    top = max(c.score for _, c in scored)
    tied = [(w, c) for w, c in scored if c.score >= top - WINDOW_TIE_MARGIN]
    _, chosen = min(tied, key=lambda wc: wc[0]) if s.has_trend else max(tied, key=lambda wc: wc[0])
    if chosen.score >= s.best.score - WINDOW_TIE_MARGIN:
        s.best = chosen


def search_type(detector_type: str, components, windows: list[int], has_trend: bool,
                evaluate: Evaluator, settings: TuneSettings) -> tuple[Candidate | None, str | None]:
    """The best config of one type, or None with the reason it was skipped."""
    kind = kind_of(detector_type)
    floor = kind.floor
    fitting = [w for w in windows if w >= floor]
    if not fitting:
        return None, f"{detector_type}: skipped (no window of at least {floor} points fits the data)"
    seed_window = fitting[len(fitting) // 2]
    seed = {"threshold": kind.threshold, "window_size": seed_window,
            "min_samples": min_samples_for(seed_window, floor)}
    if components and kind.windowed:
        seed["seasonality_components"] = components
    first = evaluate(detector_type, {**seed, **settings.pinned(detector_type)})
    if first is None:
        return None, None
    s = TypeSearch(detector_type, floor, seed_window, windows, has_trend, settings, evaluate, first)
    for axis in AXES:
        sweep(s, axis)
    select_window(s)
    for axis in FINAL_AXES:
        sweep(s, axis)
    if settings.options:  # only gains from here: never worse than the search without options
        for axis in OPTION_AXES + FINAL_AXES:
            sweep(s, axis)
    return s.best, None


def grid_search(order: list[str], components, windows: list[int], has_trend: bool,
                evaluate: Evaluator, settings: TuneSettings) -> tuple[Candidate | None, list[Decision]]:
    """Search every type in vote order; the strictly best score wins (ties: earlier type)."""
    best: Candidate | None = None
    log = []
    for detector_type in order:
        found, skipped = search_type(detector_type, components, windows, has_trend, evaluate, settings)
        if skipped:
            log.append(Decision("grid_search", skipped))
        if found is not None:
            log.append(Decision("grid_search", f"{detector_type}: best score {found.score:.3f} ({found.summary()})",
                                {"detector_type": detector_type, "params": found.params, "score": found.score}))
            if best is None or found.score > best.score:
                best = found
        if len(evaluate.memo) >= MAX_CANDIDATES:
            log.append(Decision("grid_search", f"reached max_candidates={MAX_CANDIDATES}"))
            break
    return best, log


def regime_advisory(timestamps: np.ndarray, values: np.ndarray) -> Decision | None:
    """A stationary-looking series whose level shifted: tuning may be averaging two regimes."""
    shift = level_shift(values)
    if shift is None:
        return None
    split, sigmas = shift
    day = str(np.asarray(timestamps)[split].astype("datetime64[D]"))
    percent = math.floor(100 * split / len(values))
    return Decision("regime", (
        f"series reads stationary, but a large level shift (~{sigmas:.1f}σ within-regime) sits about "
        f"{percent}% in, around {day}; the baseline may average two regimes — consider re-tuning from "
        f"after it (--from {day}) or capping autotune.max_history"), {"split": split, "sigmas": round(sigmas, 2),
                                                                        "date": day})
