"""What the windowed detectors know about their evaluated points: global statistics, seasonal
group statistics and the adjusted statistics derived from them (spec 7.5-7.7)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detectkit_dagster.detection.windows import WindowSet

SPREADS = {"mad", "std", "iqr"}  # statistics adjusted only when their global value is > 0


@dataclass
class SeasonalEntry:
    """One component's outcome for every evaluated point (spec 7.7)."""

    columns: list[str]
    size: np.ndarray
    fallback: np.ndarray
    stats: dict[str, np.ndarray] | None      # group statistics (None: the group is the whole window)
    codes: np.ndarray | None                 # group code of every input row (None: whole window)
    multipliers: dict[str, np.ndarray] = field(default_factory=dict)


def reweigh(names, ev: Evaluation, at) -> None:
    """Adjusted statistics and multipliers of positions ``at`` from the global and group statistics:
    ``A = G * prod(H / G)`` over the engaged components, in order (spec 7.7). The caller ignores
    numpy's divide and invalid warnings (a ratio is taken only where G is eligible)."""
    adjusted = {name: ev.global_stats[name][at] for name in names}  # replaced, never written to
    for entry in ev.seasonal:
        engaged = ~entry.fallback[at]
        for name in names:
            g = ev.global_stats[name][at]
            h = g if entry.stats is None else entry.stats[name][at]
            ratio = np.where(engaged & ((g > 0) if name in SPREADS else (g != 0)), h / g, 1.0)
            adjusted[name] = adjusted[name] * ratio  # a ratio of exactly 1 where not engaged
            if name not in entry.multipliers:
                entry.multipliers[name] = np.ones(len(ev.q))
            entry.multipliers[name][at] = ratio
    for name in names:
        ev.adjusted[name][at] = adjusted[name]


def reweigh_one(names, ev: Evaluation, k: int) -> dict[str, float]:
    """``reweigh`` of the one position ``k`` in Python floats: the same operations on the same
    values (a walk inside a run of clamps looks at one position at a time); returns them."""
    adjusted = {name: float(ev.global_stats[name][k]) for name in names}
    for entry in ev.seasonal:
        engaged = not entry.fallback[k]
        for name in names:
            g = float(ev.global_stats[name][k])
            h = g if entry.stats is None else float(entry.stats[name][k])
            ratio = h / g if engaged and ((g > 0) if name in SPREADS else (g != 0)) else 1.0
            adjusted[name] *= ratio
            entry.multipliers[name][k] = ratio
    for name in names:
        ev.adjusted[name][k] = adjusted[name]
    return adjusted


@dataclass
class Evaluation:
    """Statistics of the evaluated points: rows ``q`` of the input, in order."""

    q: np.ndarray
    window: WindowSet                 # their global windows
    slope: np.ndarray | None          # detrend slope (spec 7.4)
    global_stats: dict[str, np.ndarray]
    adjusted: dict[str, np.ndarray]
    exact: np.ndarray                 # rows computed on the exact path
    seasonal: list[SeasonalEntry] | None = None

    def assign(self, at: np.ndarray, other: Evaluation) -> None:
        """Overwrite the statistics of positions ``at`` with those of ``other`` (same rows)."""
        if self.slope is not None:
            self.slope[at] = other.slope
        for mine, theirs in ((self.global_stats, other.global_stats), (self.adjusted, other.adjusted)):
            for name in mine:
                mine[name][at] = theirs[name]
        self.exact[at] = other.exact
        for entry, new in zip(self.seasonal or (), other.seasonal or ()):
            entry.size[at], entry.fallback[at] = new.size, new.fallback
            for name in entry.multipliers:
                entry.multipliers[name][at] = new.multipliers[name]
                if entry.stats is not None:
                    entry.stats[name][at] = new.stats[name]
