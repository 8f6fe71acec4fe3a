"""Autotune: pick a metric's detector, seasonality and alert rule from its own history.

    from detectkit_dagster.autotune import autotune
    result = autotune(timestamps, values, interval_seconds, incidents=None, settings=None, seasonality=None)
    result.detectors   # [{"type", "params"}], each loadable by create_detector
    result.alerting    # alert fields chosen (supervised runs)
    result.scores      # CV score, per-fold scores, scoring metric, candidates evaluated
    result.decisions   # the decision log
    result.yaml        # the annotated YAML

Pure (numpy/polars): no dagster, no files. The asset and the command that run it on a
project's stored data live in ``defs/autotune.py`` and ``cli/autotune.py``.
"""

from .engine import autotune
from .labels import GroundTruth, Incident, Labels, parse_labels, project_labels
from .result import AutotuneResult
from .scoring import METRICS, event_f1
from .settings import DEFAULT_HISTORY, TuneSettings

__all__ = [
    "DEFAULT_HISTORY",
    "METRICS",
    "AutotuneResult",
    "GroundTruth",
    "Incident",
    "Labels",
    "TuneSettings",
    "autotune",
    "event_f1",
    "parse_labels",
    "project_labels",
]
