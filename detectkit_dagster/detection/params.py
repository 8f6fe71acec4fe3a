"""Detector parameters: validation, defaults and the reference's id hashing (spec 6.4, 7.1, 8).

Validation keeps the reference's rules and order but fails early with one clear
``ValueError`` naming the param, the bad value and what is allowed. Valid params keep
their original Python types because the id hashes their ``repr`` (``2`` and ``2.0``
give different ids, exactly as in detectkit).
"""

from __future__ import annotations

import difflib
import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from detectkit_dagster.detection.jsonfmt import dumps
from detectkit_dagster.timegrid import parse_interval

INPUT_TYPES = ("values", "changes", "absolute_changes", "log_changes")
CHANGE_INPUT_TYPES = ("changes", "absolute_changes", "log_changes")
SMOOTHING_METHODS = ("ema", "sma")
WEIGHT_METHODS = ("exponential", "linear")
DETREND_METHODS = ("linear",)
STABILIZATION_METHODS = ("clamp",)
EXECUTION_PARAMS = ("start_time", "batch_size")
DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class WindowedKind:
    """What differs between the three windowed detectors."""

    type_name: str
    class_name: str
    threshold: float
    min_samples_floor: int
    group_default: int
    group_floor: int
    algorithm_version: int = 3


MAD = WindowedKind("mad", "MADDetector", 3.0, 1, 10, 1)
ZSCORE = WindowedKind("zscore", "ZScoreDetector", 3.0, 2, 3, 1)
IQR = WindowedKind("iqr", "IQRDetector", 1.5, 4, 4, 4)
WINDOWED_KINDS = {k.type_name: k for k in (MAD, ZSCORE, IQR)}

MANUAL_CLASS_NAME = "ManualBoundsDetector"
MANUAL_DEFAULTS = {"lower_bound": None, "upper_bound": None, "input_type": "values"}


# Beyond detectkit 0.29, all off by default: a default is never hashed, so ids of existing
# configs do not change.
OPTION_DEFAULTS = {
    "min_spread": None,            # floor of the spread unit, in value units
    "min_relative_spread": None,   # floor of the spread unit, as a fraction of |centre|
    "min_change": None,            # the band is widened by this much on each side
    "min_relative_change": None,   # ... or by this fraction of |centre|, whichever is larger
    "stabilization": None,         # "clamp": flagged points enter later windows at the bound
    "non_negative": False,         # bounds never go below 0 (counts, durations, rates)
}


def windowed_defaults(kind: WindowedKind) -> dict:
    return {
        "threshold": kind.threshold,
        "window_size": 100,
        "min_samples": 30,
        "seasonality_components": None,
        "min_samples_per_group": kind.group_default,
        "input_type": "values",
        "smoothing": None,
        "smoothing_alpha": 0.3,
        "smoothing_window": 10,
        "window_weights": None,
        "half_life": None,
        "weight_decay": None,
        "detrend": None,
        **OPTION_DEFAULTS,
    }


# --- small type predicates (bools are not numbers here) ------------------------------

def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _is_real(x) -> bool:
    return _is_int(x) or isinstance(x, (float, np.floating))


def _plain(x):
    """numpy scalars -> Python scalars, so that repr()/JSON match the YAML types."""
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


class _Checker:
    """Builds the one-line error messages for one detector type."""

    def __init__(self, type_name: str):
        self.prefix = f"{type_name} detector"

    def fail(self, name: str, requirement: str, value) -> None:
        raise ValueError(f"{self.prefix}: param {name!r} must be {requirement}, got {value!r}")

    def unknown(self, params: dict, allowed) -> None:
        for name in params:
            if name in allowed:
                continue
            hint = difflib.get_close_matches(str(name), list(allowed), n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else "."
            raise ValueError(
                f"{self.prefix}: unknown param {name!r}{suggestion} Allowed: {', '.join(sorted(allowed))}"
            )

    def integer(self, name, value, minimum, extra=""):
        if not _is_int(value) or value < minimum:
            self.fail(name, f"an integer >= {minimum}{extra}", value)

    def choice(self, name, value, options, nullable=True):
        if (value is None and nullable) or (isinstance(value, str) and value in options):
            return
        allowed = ", ".join((["null"] if nullable else []) + list(options))
        self.fail(name, f"one of {allowed}", value)


def validate_windowed(kind: WindowedKind, params: dict) -> dict:
    """Return the full param dict (defaults filled in) or raise ValueError."""
    check = _Checker(kind.type_name)
    defaults = windowed_defaults(kind)
    check.unknown(params, defaults)
    p = dict(defaults)
    p.update({k: _plain(v) for k, v in params.items()})
    if p["threshold"] is None:
        p["threshold"] = kind.threshold
    if p["min_samples_per_group"] is None:
        p["min_samples_per_group"] = kind.group_default

    if not _is_real(p["threshold"]) or not p["threshold"] > 0:
        check.fail("threshold", "a number > 0", p["threshold"])
    check.integer("window_size", p["window_size"], 1)
    check.integer("min_samples", p["min_samples"], kind.min_samples_floor)
    if p["min_samples"] > p["window_size"]:
        check.fail("min_samples", f"<= window_size ({p['window_size']})", p["min_samples"])
    _check_components(check, p["seasonality_components"])
    check.integer("min_samples_per_group", p["min_samples_per_group"], kind.group_floor)
    check.choice("input_type", p["input_type"], INPUT_TYPES, nullable=False)
    check.choice("smoothing", p["smoothing"], SMOOTHING_METHODS)
    alpha = p["smoothing_alpha"]
    if not _is_real(alpha) or not 0 < alpha <= 1:
        check.fail("smoothing_alpha", "a number in (0, 1]", alpha)
    check.integer("smoothing_window", p["smoothing_window"], 1)
    check.choice("window_weights", p["window_weights"], WEIGHT_METHODS)
    _check_half_life(check, p["half_life"], p["weight_decay"])
    check.choice("detrend", p["detrend"], DETREND_METHODS)
    check_options(check, p)
    return p


def check_options(check: _Checker, p: dict) -> None:
    """The options beyond detectkit 0.29 (shared by the windowed and autoreg detectors)."""
    for name in ("min_spread", "min_relative_spread", "min_change", "min_relative_change"):
        value = p[name]
        if value is not None and (not _is_real(value) or not 0 <= value < math.inf):
            check.fail(name, "a number >= 0 or null", value)
    check.choice("stabilization", p["stabilization"], STABILIZATION_METHODS)
    if not isinstance(p["non_negative"], bool):
        check.fail("non_negative", "true or false", p["non_negative"])
    if p["non_negative"] and p["input_type"] != "values":
        raise ValueError(
            f"{check.prefix}: param 'non_negative' applies to input_type 'values' only (changes can be "
            f"negative), got input_type={p['input_type']!r}"
        )


def _check_components(check: _Checker, components) -> None:
    if components is None:
        return
    requirement = "a list of column names or lists of column names (e.g. ['hour'] or [['hour', 'day_of_week']])"
    if not isinstance(components, list):
        check.fail("seasonality_components", requirement, components)
    for item in components:
        columns = item if isinstance(item, list) else [item]
        if not all(isinstance(c, str) and c for c in columns):
            check.fail("seasonality_components", requirement, components)


def _check_half_life(check: _Checker, half_life, weight_decay) -> None:
    if half_life is not None and weight_decay is not None:
        raise ValueError(
            f"{check.prefix}: params 'half_life' and 'weight_decay' are mutually exclusive; set only one "
            f"(got half_life={half_life!r}, weight_decay={weight_decay!r})"
        )
    if weight_decay is not None and (not _is_real(weight_decay) or not 0 < weight_decay < 1):
        check.fail("weight_decay", "a number in (0, 1)", weight_decay)
    if half_life is None:
        return
    if _is_int(half_life):
        check.integer("half_life", half_life, 1, " (points) or a duration string like '12h'")
        return
    if not isinstance(half_life, str):
        check.fail("half_life", "an integer number of points >= 1 or a duration string like '12h'", half_life)
    try:
        parse_interval(half_life)
    except (ValueError, TypeError) as exc:
        check.fail("half_life", f"an integer number of points or a valid duration ({exc})", half_life)


AUTOREG_CLASS_NAME = "AutoregDetector"
AUTOREG_VERSION = 2
AUTOREG_DEFAULTS = {
    "lags": 5,
    "window_size": 200,
    "threshold": 3.0,
    "min_samples": 30,
    "input_type": "values",
    "seasonality_components": None,
    **OPTION_DEFAULTS,
    "stabilization": "clamp",
}


def validate_autoreg(params: dict) -> dict:
    """detectkit 0.67's AR(p) detector, plus the band options."""
    check = _Checker("autoreg")
    check.unknown(params, AUTOREG_DEFAULTS)
    p = dict(AUTOREG_DEFAULTS)
    p.update({k: _plain(v) for k, v in params.items()})
    check.integer("lags", p["lags"], 1)
    check.integer("window_size", p["window_size"], p["lags"] + 2, " (lags + 2)")
    if not _is_real(p["threshold"]) or not p["threshold"] > 0:
        check.fail("threshold", "a number > 0", p["threshold"])
    check.integer("min_samples", p["min_samples"], p["lags"] + 2, " (lags + 2)")
    if p["min_samples"] > p["window_size"]:
        check.fail("min_samples", f"<= window_size ({p['window_size']})", p["min_samples"])
    check.choice("input_type", p["input_type"], INPUT_TYPES, nullable=False)
    if p["seasonality_components"]:
        check.fail("seasonality_components", "empty or null (autoreg models the recent past, not calendar "
                   "groups; pair it with a seasonal mad/zscore detector instead)", p["seasonality_components"])
    check_options(check, p)
    return p


def validate_manual(params: dict) -> dict:
    check = _Checker("manual_bounds")
    check.unknown(params, MANUAL_DEFAULTS)
    p = dict(MANUAL_DEFAULTS)
    p.update({k: _plain(v) for k, v in params.items()})
    for name in ("lower_bound", "upper_bound"):
        value = p[name]
        if value is not None and (not _is_real(value) or math.isnan(value)):
            check.fail(name, "a number or null", value)
    check.choice("input_type", p["input_type"], INPUT_TYPES, nullable=False)
    lower, upper = p["lower_bound"], p["upper_bound"]
    if lower is None and upper is None:
        raise ValueError("manual_bounds detector: at least one of 'lower_bound' or 'upper_bound' must be set")
    if lower is not None and upper is not None and not lower < upper:
        raise ValueError(
            f"manual_bounds detector: param 'lower_bound' must be less than 'upper_bound', "
            f"got lower_bound={lower!r}, upper_bound={upper!r}"
        )
    return p


def split_execution_params(type_name: str, params: dict) -> tuple[dict, str | None, int]:
    """Remove ``start_time``/``batch_size`` (never hashed); validate them."""
    params = dict(params or {})
    start_time = params.pop("start_time", None)
    batch_size = params.pop("batch_size", None)
    if start_time is not None:
        if not isinstance(start_time, str):
            raise ValueError(
                f"{type_name} detector: param 'start_time' must be a quoted ISO-8601 string, got {start_time!r}"
            )
        try:
            datetime.fromisoformat(start_time.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{type_name} detector: param 'start_time' must be an ISO-8601 timestamp "
                f"such as '2024-01-01 00:00:00', got {start_time!r}"
            ) from None
    if batch_size is not None and (not _is_int(batch_size) or batch_size < 0):
        raise ValueError(f"{type_name} detector: param 'batch_size' must be an integer >= 1, got {batch_size!r}")
    return params, start_time, int(batch_size or DEFAULT_BATCH_SIZE)


# --- ids (spec 6.4) ----------------------------------------------------------------

def non_default(params: dict, defaults: dict, drop_none: bool = False) -> dict:
    """Keys whose value differs (Python ``!=``) from the default, sorted by key."""
    kept = {}
    for key in sorted(params):
        value = params[key]
        if drop_none and value is None:
            continue
        if value != defaults.get(key):
            kept[key] = value
    return kept


def detector_id(class_name: str, algorithm_version: int, kept: dict) -> str:
    tag = f"@v{algorithm_version}" if algorithm_version != 1 else ""
    text = class_name + tag + repr(sorted(kept.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def params_json(kept: dict) -> str:
    return dumps(kept)
