"""Metric anomaly detection compatible with detectkit 0.29, and more (pure numpy/polars).

    det = create_detector("mad", {"window_size": 288, "seasonality_components": ["hour"]})
    det.detector_id, det.detector_name, det.detector_params   # identical to detectkit's
    det.params, det.input_type, det.context_size, det.start_time, det.batch_size
    frame = det.detect(timestamps, values, seasonality=None)

``create_detector`` takes the ``params`` mapping of the metric YAML (execution params
``start_time``/``batch_size`` included) and validates it at once: one ``ValueError``
naming the param, the value and what is allowed. Types: mad, zscore, iqr,
manual_bounds (alias manual), and detectkit 0.67's autoreg; prophet/timesfm are rejected
as unsupported. Every detector keeps the contract of ``base.py`` (``Detector``).

Beyond the reference, off by default (a default is never hashed, so existing ids stay):
the windowed detectors and autoreg take ``min_spread``/``min_relative_spread`` (a spread
floor), ``min_change``/``min_relative_change`` (a minimum move beyond the band),
``non_negative`` and ``stabilization: clamp`` (see ``options.py``, ``stabilize.py``).
``recommended_config(interval)`` is the configuration suggested for a new metric.

``detect`` takes datetime64 timestamps (any unit; used as ms), float values (NaN =
missing) and optionally seasonality columns ``{name: array}`` (ints, bools, strings,
None; compared with Python ``==``). Without columns, the built-in calendar features
(``builtin_features``, UTC) are derived from the timestamps. It returns one row per
point, in input order:

=====================  ============================================================
timestamp              Datetime(ms)
value                  the input value
processed_value        after smoothing and input_type (the value that was compared)
is_anomaly             bool
confidence_lower/upper bounds in processed units; null where not evaluated (NaN when
                       evaluated but undefined, e.g. a z-score window holding inf)
severity               distance beyond the violated bound in spread units; null for
                       normal points; ``inf`` for a zero spread (the metadata JSON,
                       like detectkit's, stores that as null)
direction              "up" / "down" / null (the metadata keeps "above"/"below")
detection_metadata     detectkit's JSON: sorted keys, compact, non-finite -> null
status                 "ok" | "missing_data" | "insufficient_data" | "missing_lags" (autoreg)
=====================  ============================================================
"""

from detectkit_dagster.detection.autoreg import AutoregDetector
from detectkit_dagster.detection.base import OUTPUT_SCHEMA, STATUSES, Detector
from detectkit_dagster.detection.factory import DETECTOR_TYPES, DETECTORS, create_detector
from detectkit_dagster.detection.manual import ManualBoundsDetector
from detectkit_dagster.detection.recommended import recommended_config
from detectkit_dagster.detection.seasonality import BUILTIN_FEATURES, builtin_features
from detectkit_dagster.detection.windowed import IQRDetector, MADDetector, WindowedDetector, ZScoreDetector

__all__ = [
    "AutoregDetector",
    "BUILTIN_FEATURES",
    "DETECTORS",
    "DETECTOR_TYPES",
    "Detector",
    "IQRDetector",
    "MADDetector",
    "ManualBoundsDetector",
    "OUTPUT_SCHEMA",
    "STATUSES",
    "WindowedDetector",
    "ZScoreDetector",
    "builtin_features",
    "create_detector",
    "recommended_config",
]
