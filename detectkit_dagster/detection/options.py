"""Opt-in options that shape a detector's band (off by default: the reference band is kept).

* spread floor -- ``min_spread`` (value units) and ``min_relative_spread`` (a fraction of the
  window's |centre|): the spread unit is at least the larger of the two, so a flat window
  (a gauge stuck at 12, integer counts) cannot collapse the band to +-1e-10;
* minimum change -- ``min_change`` / ``min_relative_change``: the band is widened on each side
  by the larger of the two, so a point is flagged only when it leaves the statistical band
  by at least that much (small moves are not anomalies, however tight the band);
* ``non_negative`` -- bounds never go below 0 (a count cannot be negative).

Severity stays "distance beyond the (effective) bound in spread units", with the floored unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from detectkit_dagster.detection.results import OK, Outcome


@dataclass
class Bands:
    """Per evaluated point: the interval and the spread unit that scales severity."""

    lower: np.ndarray
    upper: np.ndarray
    unit: np.ndarray

    def assign(self, at: np.ndarray, other: Bands) -> None:
        self.lower[at], self.upper[at], self.unit[at] = other.lower, other.upper, other.unit


def any_set(params: dict) -> bool:
    return bool(params["non_negative"] or params["min_spread"] is not None or params["min_relative_spread"] is not None
                or params["min_change"] is not None or params["min_relative_change"] is not None)


def _larger(absolute: float | None, relative: float | None, size: np.ndarray) -> np.ndarray | None:
    """max(absolute, relative * size) of the options that are set; None when neither is."""
    if absolute is None and relative is None:
        return None
    floor = np.full(len(size), float(absolute or 0.0))
    if relative is not None:
        floor = np.maximum(floor, relative * size)  # a NaN centre gives NaN: no bounds
    return floor


def apply(params: dict, bands: Bands, centre: np.ndarray,
          band: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> Bands:
    """The band after the options; ``band(unit)`` is the detector's interval for a given unit."""
    lower, upper, unit = bands.lower, bands.upper, bands.unit
    size = np.abs(centre)
    floor = _larger(params["min_spread"], params["min_relative_spread"], size)
    if floor is not None:
        lifted = unit < floor  # a NaN unit (undefined statistics) stays undefined
        if lifted.any():
            unit = np.where(lifted, floor, unit)
            low, high = band(unit)
            lower, upper = np.where(lifted, low, lower), np.where(lifted, high, upper)
    extra = _larger(params["min_change"], params["min_relative_change"], size)
    if extra is not None:
        lower, upper = lower - extra, upper + extra
    if params["non_negative"]:
        lower, upper = np.maximum(lower, 0.0), np.maximum(upper, 0.0)
    return Bands(lower, upper, unit)


def outcome(processed: np.ndarray, status: np.ndarray, q: np.ndarray, bands: Bands) -> Outcome:
    """Flag, direction and severity of the evaluated rows ``q`` against their bands (strictly
    outside is an anomaly; severity is the distance beyond the bound in spread units)."""
    x = processed[q]
    below = x < bands.lower
    anomalous = below | (x > bands.upper)
    distance = np.where(below, bands.lower - x, x - bands.upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        severity = np.where(bands.unit > 0, distance / np.where(bands.unit > 0, bands.unit, 1.0), np.inf)

    def full(values, fill=np.nan, dtype=float):
        out = np.full(len(processed), fill, dtype=dtype)
        out[q] = values
        return out

    evaluated = status == OK
    return Outcome(processed=processed, status=status, lower=full(bands.lower), upper=full(bands.upper),
                   has_lower=evaluated, has_upper=evaluated, anomalous=full(anomalous, False, bool),
                   below=full(below, False, bool), distance=full(distance), severity=full(severity))
