"""The walk of runs of flags side by side (``stabilize.clamp_in_clusters``) against the
point-by-point rule, on a small statistic: the mean of the last few values -/+ a fixed width
(a clamp moves the mean, so it can flag a later point or leave one unflagged)."""

from __future__ import annotations

import numpy as np
import pytest

from detectkit_dagster.detection import options, stabilize

WINDOW, WIDTH = 12, 3.0


def band(work: np.ndarray, row: int) -> tuple[float, float, float]:
    seen = work[max(0, row - WINDOW):row]
    seen = seen[~np.isnan(seen)]
    mean = seen.mean()
    return mean - WIDTH, mean + WIDTH, 1.0


def point_by_point(values: np.ndarray, q: np.ndarray):
    """Each point against the band of the values before it as clamped so far."""
    work = values.copy()
    out, clamped = [], []
    for row in q.tolist():
        lower, upper, unit = band(work, row)
        out.append((lower, upper, unit))
        flagged = not lower <= values[row] <= upper
        if flagged:
            work[row] = lower if values[row] < lower else upper
        clamped.append(flagged)
    return np.array(out), np.array(clamped)


class Walk:
    """The statistic for clamp_in_clusters: bands from its own copy of the clamped values."""

    def __init__(self, values: np.ndarray, q: np.ndarray, bands: options.Bands):
        self.work, self.q, self.bands = values.copy(), q, bands

    def write_back(self, rows, bounds):
        return bounds

    def update(self, rows, after):
        self.work[rows] = after

    def undo(self, rows, before):
        self.work[rows] = before

    def restore(self, at):
        pass

    def reband(self, spans):
        for start, end in spans.tolist():
            for k in range(start, end):
                self.bands.lower[k], self.bands.upper[k], self.bands.unit[k] = band(self.work, int(self.q[k]))


def series(seed: int, n: int = 400) -> np.ndarray:
    """A wandering level with short bumps, far enough apart to start as separate runs of flags."""
    rng = np.random.default_rng(seed)
    values = 50 + np.cumsum(rng.normal(0, 0.3, n)) * 0.2 + rng.normal(0, 1, n)
    for start in range(40, n - 20, 13):
        values[start:start + rng.integers(1, 6)] += rng.choice([-1, 1]) * rng.uniform(2.5, 9)
    values[rng.choice(n, 8, replace=False)] = np.nan
    return values


def check(values: np.ndarray) -> np.ndarray:
    """Both walks agree on every clamp and band; returns the clamped rows."""
    q = np.flatnonzero(~np.isnan(values))
    q = q[q >= 3]
    expected, expected_clamped = point_by_point(values, q)
    first = np.array([band(values, row) for row in q.tolist()])
    bands = options.Bands(first[:, 0].copy(), first[:, 1].copy(), first[:, 2].copy())
    clamped = stabilize.clamp_in_clusters(values, q, bands, WINDOW, Walk(values, q, bands))
    assert (clamped == expected_clamped).all()
    assert np.allclose(np.column_stack((bands.lower, bands.upper, bands.unit)), expected, rtol=1e-12, atol=0)
    return q[clamped]


@pytest.mark.parametrize("seed", range(40))
def test_runs_walked_side_by_side_equal_the_point_by_point_rule(seed):
    check(series(seed))


def test_a_run_reached_by_the_clamps_before_it_is_undone():
    """Flags at 100 and 120 are runs apart (window 12); once the spike at 100 is clamped, 110 is
    flagged and its clamp reaches 120, which the clamped 110 leaves inside its band: the run
    walked from 120 is undone (its clamp, and the bands it computed up to 132) and the point by
    point result is kept."""
    values = np.full(200, 50.0)
    values[100] = 70.0
    values[110] = 54.0  # inside the band the spike lifted, above the band once it is clamped
    values[120] = 47.3  # just below its first band, above the band once 110 is clamped
    assert check(values).tolist() == [100, 110]
