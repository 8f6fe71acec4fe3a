"""``create_detector(type, params)``: the one entry point the rest of the project uses."""

from __future__ import annotations

import difflib

from detectkit_dagster.detection import params as P
from detectkit_dagster.detection.autoreg import AutoregDetector
from detectkit_dagster.detection.manual import ManualBoundsDetector
from detectkit_dagster.detection.windowed import IQRDetector, MADDetector, ZScoreDetector

DETECTORS = {
    "mad": MADDetector,
    "zscore": ZScoreDetector,
    "iqr": IQRDetector,
    "manual_bounds": ManualBoundsDetector,
    "manual": ManualBoundsDetector,  # alias, as in detectkit's Python factory
    "autoreg": AutoregDetector,      # detectkit 0.67
}
# detectkit 0.29's detector types; DETECTORS (the registry) also holds the later additions
DETECTOR_TYPES = ("mad", "zscore", "iqr", "manual_bounds", "manual")
SUPPORTED = ", ".join(sorted(DETECTOR_TYPES) + sorted(set(DETECTORS) - set(DETECTOR_TYPES)))
UNSUPPORTED_TYPES = ("prophet", "timesfm")  # valid in detectkit 0.29 configs, never implemented there


def create_detector(detector_type: str, params: dict | None = None):
    """Validate ``params`` (metric YAML form, execution params included) and build the detector."""
    if not isinstance(detector_type, str):
        raise ValueError(f"Detector type must be a string, got {detector_type!r}")
    name = detector_type.lower()
    if name in UNSUPPORTED_TYPES:
        raise ValueError(
            f"Detector type {detector_type!r} is accepted by detectkit's config schema but has no implementation "
            f"and is not supported by this project. Supported types: {SUPPORTED}"
        )
    if name not in DETECTORS:
        hint = difflib.get_close_matches(name, list(DETECTORS), n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else "."
        raise ValueError(
            f"Unknown detector type {detector_type!r}{suggestion} Supported types: {SUPPORTED}"
        )
    if params is not None and not isinstance(params, dict):
        raise ValueError(f"{name} detector: params must be a mapping, got {params!r}")
    detector_params, start_time, batch_size = P.split_execution_params(name, params or {})
    return DETECTORS[name](detector_params, start_time=start_time, batch_size=batch_size)
