"""Synthetic metrics with known incidents, for the benchmark, the tests and trying autotune out.

``seasonal_series`` is the series of the reference's measured runs: ``100 + 20 sin(daily)
- 15 on weekends + N(0, 3)`` on a 10-minute grid from Monday 2025-01-06, with incidents of
6-18 points and +-18..30 spread evenly after point 2500 (six by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detection import builtin_features

START = np.datetime64("2025-01-06T00:00:00", "ms")


@dataclass(frozen=True)
class Sample:
    timestamps: np.ndarray
    values: np.ndarray
    seasonality: dict[str, np.ndarray]  # hour and day_of_week, as the reference's runs had
    incidents: list[dict]               # labels format: {start, end} text, UTC
    interval_seconds: int

    def head(self, points: int) -> "Sample":
        """The first ``points`` points and the incidents that start inside them."""
        end = self.timestamps[points - 1]
        kept = [i for i in self.incidents if np.datetime64(i["start"].replace(" ", "T"), "ms") <= end]
        return Sample(self.timestamps[:points], self.values[:points],
                      {k: v[:points] for k, v in self.seasonality.items()}, kept, self.interval_seconds)


def seasonal_series(points: int = 20_000, interval_seconds: int = 600, incidents: int = 6,
                    magnitude: tuple[float, float] = (18.0, 30.0), seed: int = 0) -> Sample:
    rng = np.random.default_rng(seed)
    ts = START + np.arange(points) * np.timedelta64(interval_seconds, "s")
    features = builtin_features(ts, ("hour", "day_of_week"))
    seconds = np.arange(points) * interval_seconds
    values = 100 + 20 * np.sin(2 * np.pi * seconds / 86400) - 15 * (features["day_of_week"] >= 5)
    values = values + rng.normal(0, 3, points)
    labels = []
    for k, start in enumerate(np.linspace(2500, points - 200, incidents).astype(int)):
        length = int(rng.integers(6, 19))
        values[start:start + length] += rng.uniform(*magnitude) * (1 if k % 2 == 0 else -1)
        labels.append({"start": _text(ts[start]), "end": _text(ts[start + length - 1])})
    return Sample(ts, values, features, labels, interval_seconds)


def _text(stamp: np.datetime64) -> str:
    return str(stamp.astype("datetime64[s]")).replace("T", " ")
