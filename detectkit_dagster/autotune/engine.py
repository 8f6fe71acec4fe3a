"""``autotune()``: from a metric's history (and labeled incidents) to a tuned detector config.

Stages, each recorded in the decision log: labels -> seasonality search -> detector-type
vote -> (regime advisory) -> coordinate grid search per type with walk-forward CV ->
(supervised) the alert rule. Pure: arrays in, a result out; no files, no clock.
"""

from __future__ import annotations

import numpy as np

from ..config.alert import AlertConfig
from ..config.metric import SEARCH_OPTIONS
from ..detection import BUILTIN_FEATURES, builtin_features
from ..errors import AutotuneError
from ..timegrid import format_interval, parse_interval
from .alerts import AlertSweep, sweep_alerting
from .decisions import Decision
from .evaluate import Evaluator, Series
from .labels import GroundTruth, Labels, parse_labels, project_labels
from .result import AutotuneResult
from .search import cv_folds, grid_search, kind_of, regime_advisory, trend_present, window_grid
from .seasonality import search_seasonality
from .settings import TuneSettings
from .vote import vote_detector_types


def autotune(timestamps, values, interval_seconds, incidents=None, settings=None, seasonality=None, *,
             metric: dict | None = None, source: str | None = None) -> AutotuneResult:
    """Tune a detector (and, with labels, its alert rule) on one metric's history.

    timestamps: datetime64 ascending on a regular grid (gaps allowed); values: float, NaN =
    missing. incidents: None (unsupervised), a list of incidents or a labels document.
    settings: the `autotune:` block (mapping) or TuneSettings. seasonality: {column: array};
    the built-in calendar features are derived when None. metric: the original metric's
    YAML mapping (then ``result.yaml`` is a complete tuned metric file); source: its path
    for the header.
    """
    tune = settings if isinstance(settings, TuneSettings) else TuneSettings.from_block(settings)
    name = str((metric or {}).get("name") or "metric")
    series = _series(timestamps, values, interval_seconds, seasonality, tune.max_history)
    truth = project_labels(_labels(incidents, name if metric else None), series.timestamps, series.interval_seconds)
    log = [_labels_decision(truth, tune)]

    n = len(series)
    windows = window_grid(n, series.interval_seconds, tune.folds, tune.fixed_window)
    context = max(windows + [100])
    folds = cv_folds(n, context, tune.folds)
    if not folds:
        raise AutotuneError(f"not enough datapoints ({n}) for {tune.folds}-fold cross-validation "
                            f"with a {context}-point context window")

    components, decision = search_seasonality(series.values, series.features, folds, tune)
    log.append(decision)
    order, decision = vote_detector_types(series.values, series.features, components, tune.detector_types)
    log.append(decision)
    if tune.options:
        order += [t for t in tune.searched_types if t not in order]
        log.append(_options_decision(tune, order))
    has_trend = trend_present(series.values)
    advisory = None if has_trend else regime_advisory(series.timestamps, series.values)
    if advisory:
        log.append(advisory)

    evaluate = Evaluator(series, folds, truth, tune)
    best, entries = grid_search(order, components, windows, has_trend, evaluate, tune)
    log += entries
    if best is None:
        raise AutotuneError("no viable detector candidate found for this data")

    alerting: dict = {}
    if truth.supervised:
        base = _base_alert(metric)
        alerting, entries = sweep_alerting(AlertSweep(series, best, evaluate, truth, folds[0][0], tune, base), base)
        log += entries

    return AutotuneResult(
        metric=name, mode=truth.mode, scoring_metric=tune.metric,
        training_start=series.timestamps[0].item(), training_end=series.timestamps[-1].item(),
        interval_seconds=series.interval_seconds, n_points=n, labels_summary=truth.summary(),
        seasonality=components if kind_of(best.detector_type).windowed else None,  # autoreg has none
        detector_type=best.detector_type, detector_params=dict(best.params),
        detector_id=best.detector_id, score=best.score, per_fold=best.per_fold, penalty=best.penalty,
        alerting=alerting,
        candidates=tuple({"detector_type": c.detector_type, "params": c.params, "detector_id": c.detector_id,
                          "score": c.score} for c in evaluate.memo.values()),
        decision_log=tuple(log), original=metric, source=source,
    )


def _series(timestamps, values, interval_seconds, seasonality, max_history) -> Series:
    try:
        interval = parse_interval(interval_seconds)
    except (TypeError, ValueError) as exc:
        raise AutotuneError(f"interval_seconds: {exc}") from None
    ts = np.asarray(timestamps).astype("datetime64[ms]")
    x = np.asarray(values, dtype=float)
    if ts.ndim != 1 or ts.shape != x.shape:
        raise AutotuneError(f"timestamps and values must be 1-d arrays of one length, got {ts.shape} and {x.shape}")
    if not np.isfinite(x).any():
        raise AutotuneError("no datapoints with a value to tune on")
    steps = np.diff(ts.astype(np.int64))
    if (steps <= 0).any():
        raise AutotuneError("timestamps must be strictly ascending")
    if (steps % (interval * 1000)).any():
        raise AutotuneError(f"timestamps are not on a regular {format_interval(interval)} grid")
    keep = slice(max(0, len(ts) - max_history), None) if max_history else slice(None)
    if seasonality is None:
        features = builtin_features(ts[keep], BUILTIN_FEATURES)
    else:
        features = {}
        for column, array in seasonality.items():
            array = np.asarray(array)
            if array.shape != ts.shape:
                raise AutotuneError(f"seasonality column {column!r} has {len(array)} values for {len(ts)} timestamps")
            features[column] = array[keep]
    return Series(ts[keep], x[keep], features, interval)


def _labels(incidents, metric: str | None) -> Labels | None:
    if incidents is None or isinstance(incidents, Labels):
        return incidents
    return parse_labels(incidents, metric=metric)


def _labels_decision(truth: GroundTruth, tune: TuneSettings) -> Decision:
    scoring = (f"scoring={tune.metric}" if truth.supervised
               else "objective=unsupervised (band-fit + flag-budget)")
    return Decision("labels", f"{truth.n_intervals} interval(s) + {truth.n_points} point(s) → {truth.mode} mode "
                              f"({truth.n_positive} labeled grid point(s)); {scoring}", truth.summary())


def _options_decision(tune: TuneSettings, order: list[str]) -> Decision:
    searched = [name for name in SEARCH_OPTIONS if name in tune.options]
    return Decision("detector_select", f"search_options: {', '.join(searched)}; evaluating: {', '.join(order)}",
                    {"search_options": searched, "order": order})


def _base_alert(metric: dict | None) -> AlertConfig:
    """The metric's first alert block (the rule the sweep tunes), or the default rule."""
    blocks = (metric or {}).get("alerting")
    block = blocks if isinstance(blocks, dict) else (blocks[0] if blocks else {})
    return AlertConfig.model_validate(block)
