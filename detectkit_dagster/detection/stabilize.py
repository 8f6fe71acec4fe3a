"""``stabilization: clamp``: a flagged point enters later windows at the bound it broke.

The rule is sequential -- the band of a point depends on the clamps before it -- but clamps
are rare, so the engine computes every band at once from the raw values and then walks the
flags in time order. A clamp at row ``r`` can only change the rows whose window holds ``r``
(the next ``window`` rows). A walk (one per kind of statistics) keeps those up to date:

* order statistics (MAD, IQR) with equal weights, no seasonality: at each clamp, replacing one
  value leaves a quantile unchanged when the old and the new value both lie beyond the order
  statistics it interpolates between; counting ranks in the window proves that for most rows,
  and only the others are recomputed (``RankSettle``);
* moments (z-score) with equal weights: at each clamp, the mean and the sum of squared
  deviations of the window and of the seasonal group follow from the replaced value in closed
  form (a few operations over the window); standard deviations, adjusted statistics and bands
  wait until the walk reaches a row (``MomentSettle``);
* autoreg (``autoreg.py``): a clamp rewrites the lag vectors holding it; when the walk reaches
  a row, its window's sums are corrected for the vectors that changed and only then is its
  fit solved. Its fits are solved for many rows at once, so runs of flags further apart than
  window + lags are walked side by side (``clamp_in_clusters``), one batch per round;
* anything else (weights, detrend, order statistics with seasonality): a row whose window
  holds a clamp is computed again from the clamped values when the walk reaches it
  (``Recompute``).

What waits for the walk is computed once per look (inside an incident only the next row is
looked at, in Python floats where numpy's cost per call would dominate), not once per clamp in
the window. Because every row depends only on rows before
it, the walk gives exactly the sequential result (tests compare it with a per-point
implementation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from detectkit_dagster.detection.evaluation import reweigh, reweigh_one

FEW = 4  # positions a walk looks at one by one, in Python floats, rather than as arrays
BLOCK = 32  # rows sharing one threshold in the rank bounds of the MAD test
# Rounding of one closed-form update of a sum of squared deviations, per |delta| (|after| + |before|)
# (a few operations, each within one unit of the largest magnitude involved) ...
ROUNDING = 12 * float(np.finfo(float).eps)
PRECISION = 1e-9  # ... and the share of the sums it may reach before they are recomputed


def next_true(mask: np.ndarray, start: int) -> int:
    """Index of the first True at or after ``start``, or -1 (looks ahead in growing steps)."""
    step = 256
    while start < len(mask):
        hit = np.flatnonzero(mask[start:start + step])
        if hit.size:
            return start + int(hit[0])
        start += step
        step *= 2
    return -1


def clamp(processed: np.ndarray, q: np.ndarray, bands, reach: int,
          update: Callable[[np.ndarray, int, float, float, slice], None],
          reband: Callable[[np.ndarray, slice], None],
          write_back: Callable[[int, float], float] | None = None) -> np.ndarray:
    """Walk the flags of the evaluated rows ``q`` in order, clamping each; returns which were.

    A clamp at row r changes rows r + 1 .. r + ``reach``. ``update(work, row, before, after,
    positions)`` is told that ``work[row]`` went from ``before`` to ``after`` (``positions``: the
    slice of positions it can change); ``reband(work, positions)`` brings the bands of a slice
    of positions up to date when the walk reaches them. ``write_back(row, bound)`` may adjust
    the value written.
    """
    work = processed.copy()
    x = processed[q]
    flag = (x < bands.lower) | (x > bands.upper)
    expected = np.flatnonzero(flag)  # where the walk will probably stop next
    clamped = np.zeros(len(q), dtype=bool)
    stale_end = 0  # bands of positions before it, after the current one, await reband
    with np.errstate(divide="ignore", invalid="ignore"):  # undefined statistics give undefined bands
        k = next_true(flag, 0)
        while k >= 0:
            row = int(q[k])
            after = float(bands.lower[k] if x[k] < bands.lower[k] else bands.upper[k])
            if write_back is not None:
                after = write_back(row, after)
            before = float(work[row])
            work[row] = after
            clamped[k] = True
            stop = int(q.searchsorted(row + reach, "right"))
            if stop > k + 1:
                update(work, row, before, after, slice(k + 1, stop))
            stale_end = max(stale_end, stop)
            k = _next_flag(work, x, bands, flag, expected, k + 1, stale_end, reband)
    return clamped


def _next_flag(work, x, bands, flag, expected, start: int, stale_end: int, reband) -> int:
    """The next flagged position from ``start``; stale bands are recomputed up to the next
    position that was flagged before the walk (a good guess of where to stop)."""
    position = start
    while position < stale_end:
        later = int(expected.searchsorted(position))
        end = stale_end if later == len(expected) else min(stale_end, max(int(expected[later]) + 1, position + 1))
        at = slice(position, end)
        reband(work, at)
        if end - position <= FEW:  # (inside a run of flags: a few positions, one by one)
            for k in range(position, end):
                flag[k] = x[k] < bands.lower[k] or x[k] > bands.upper[k]
                if flag[k]:
                    return k
            position = end
            continue
        flag[at] = (x[at] < bands.lower[at]) | (x[at] > bands.upper[at])
        hit = int(flag[at].argmax())
        if flag[position + hit]:
            return position + hit
        position = end
    return next_true(flag, position)


@dataclass(eq=False)
class _Cluster:
    """A run of flags whose clamps reach one another, walked apart from the others."""

    start: int                 # its first flagged position (whose band no clamp before it reaches)
    pos: int                   # the next position to look at
    stale_end: int = 0         # bands from pos up to here await reband
    touched: int = 0           # positions rebanded up to here
    clamps: list = field(default_factory=list)  # (position, row, value before)
    next: _Cluster | None = None                # the next cluster still walked apart
    done: bool = False
    undone: bool = False


def clamp_in_clusters(processed: np.ndarray, q: np.ndarray, bands, reach: int, walk) -> np.ndarray:
    """The walk of ``clamp`` for statistics that can be computed for many positions at once and
    whose clamps can be undone: returns which evaluated rows were clamped, exactly as ``clamp``.

    Flags more than ``reach`` rows apart do not influence each other, so runs of flags (clusters)
    are walked side by side: each round rebands the next span of every cluster in one
    ``walk.reband(spans)`` and clamps each cluster's first flag in it. A cluster's clamps may
    reach further than its flags did before the walk (a point flagged only once clamped); when
    they reach the next cluster's first flag, that cluster is undone (``walk.undo(rows,
    befores)``, ``walk.restore(positions)`` and the first bands) and the walk goes on into it as
    one cluster, as the sequential walk would. ``walk.write_back(rows, bounds)`` gives the values
    written and ``walk.update(rows, afters)`` takes them in (arrays of clamps)."""
    work = processed.copy()
    x = processed[q]
    lower, upper, unit = bands.lower, bands.upper, bands.unit
    flag = (x < lower) | (x > upper)
    expected = np.flatnonzero(flag)  # where a cluster's walk will probably stop next
    clamped = np.zeros(len(q), dtype=bool)
    if not expected.size:
        return clamped
    first = (lower.copy(), upper.copy(), unit.copy(), flag.copy())
    starts = expected[np.r_[0, np.flatnonzero(np.diff(q[expected]) > reach) + 1]]
    walking = [_Cluster(start, start) for start in starts.tolist()]  # the clusters not done, in order
    for cluster, following in zip(walking, walking[1:]):
        cluster.next = following

    def clamp(clusters: list[_Cluster], at: np.ndarray) -> None:
        """Clamp each cluster's position (in order); then undo the clusters their reach now covers."""
        rows = q[at]
        after = walk.write_back(rows, np.where(x[at] < lower[at], lower[at], upper[at]))
        before = work[rows]
        work[rows] = after
        clamped[at] = True
        walk.update(rows, after)
        stops = q.searchsorted(rows + reach, "right")
        for cluster, k, row, value, stop in zip(clusters, at.tolist(), rows.tolist(), before.tolist(), stops.tolist()):
            cluster.clamps.append((k, row, value))
            cluster.stale_end = max(cluster.stale_end, stop)
            cluster.pos = k + 1
        for cluster in clusters:
            while not cluster.undone and cluster.next is not None and cluster.stale_end > cluster.next.start:
                undo(cluster.next)
                cluster.next = cluster.next.next

    def undo(cluster: _Cluster) -> None:
        cluster.undone = True
        if cluster.clamps:
            at, rows, before = (np.array(values) for values in zip(*cluster.clamps))
            work[rows] = before
            clamped[at] = False
            walk.undo(rows, before)
        at = slice(cluster.start, max(cluster.touched, cluster.start + 1))
        lower[at], upper[at], unit[at], flag[at] = (values[at] for values in first)
        walk.restore(at)

    with np.errstate(divide="ignore", invalid="ignore"):  # undefined statistics give undefined bands
        while True:
            # past its stale bands, a cluster clamps its next flag before the next cluster, or is done
            settling, at = [], []
            for cluster in walking:
                if not cluster.undone and cluster.pos >= cluster.stale_end:
                    k = next_true(flag[:len(q) if cluster.next is None else cluster.next.start], cluster.pos)
                    if k < 0:
                        cluster.done = True
                    else:
                        settling.append(cluster)
                        at.append(k)
            if settling:
                clamp(settling, np.array(at))
            active = walking = [cluster for cluster in walking if not (cluster.done or cluster.undone)]
            if not active:
                return clamped
            # spans: up to where the walk will probably stop, within the stale bands
            pos = np.array([cluster.pos for cluster in active])
            stale_end = np.array([cluster.stale_end for cluster in active])
            later = expected.searchsorted(pos)
            guess = np.where(later < len(expected), expected[np.minimum(later, len(expected) - 1)] + 1, stale_end)
            end = np.minimum(stale_end, np.maximum(guess, pos + 1))
            # inside a run of clamps (the last two positions) the next position is the likeliest flag
            # (the first pass, whose bands the run widened, often missed it): look at it alone. After
            # a single clamp (mostly a lone outlier) the first pass's guess is the better one
            in_run = np.array([[k for k, _, _ in cluster.clamps[-2:]] == [cluster.pos - 2, cluster.pos - 1]
                               for cluster in active])
            end[in_run] = np.minimum(pos[in_run] + 1, stale_end[in_run])
            spans = np.column_stack((pos, end))[end > pos]  # (none past the last position)
            if len(spans):
                walk.reband(spans)
            lengths = end - pos
            offsets = np.r_[0, np.cumsum(lengths)]
            at = np.arange(offsets[-1]) + np.repeat(pos - offsets[:-1], lengths)
            flag[at] = (x[at] < lower[at]) | (x[at] > upper[at])
            hits = np.flatnonzero(flag[at])
            after = hits.searchsorted(offsets[:-1])  # each span's first flagged position, if inside it
            found = after < len(hits)
            found[found] &= hits[after[found]] < offsets[1:][found]
            for cluster, stop in zip(active, end.tolist()):
                cluster.touched = max(cluster.touched, stop)
                cluster.pos = stop
            if found.any():
                clamp([cluster for cluster, hit in zip(active, found) if hit], at[hits[after[found]]])


def in_window(clamped: np.ndarray, q: np.ndarray, length: int, window: int) -> np.ndarray:
    """Per row: how many clamped points its window holds (0 for rows not evaluated)."""
    marks = np.zeros(length + 1, dtype=np.int64)
    marks[q[clamped] + 1] = 1
    before = np.cumsum(marks)
    out = np.zeros(length, dtype=np.int64)
    out[q] = before[q] - before[np.maximum(q - window, 0)]
    return out


def walk_for(detector, ev, bands, reassess) -> _Walk:
    """The walk for a windowed detector's statistics (see the module docstring)."""
    if detector.params["window_weights"] is None and detector.params["detrend"] is None:
        if detector.kind.type_name == "zscore":
            return MomentSettle(detector, ev, bands, reassess)
        if not ev.seasonal:
            return RankSettle(detector, ev, bands, reassess)
    return Recompute(detector, ev, bands, reassess)


class _Walk:
    """What every windowed walk shares: the detector, its statistics, the bands, and a way to
    compute positions again from the clamped values (``reassess(work, at)``)."""

    def __init__(self, detector, ev, bands, reassess):
        self.detector, self.ev, self.bands, self.reassess = detector, ev, bands, reassess
        self.window = detector.params["window_size"]

    def assign_bands(self, at) -> None:
        self.bands.assign(at, self.detector._bands({name: values[at] for name, values in self.ev.adjusted.items()}))


class Recompute(_Walk):
    """Any statistics: a position whose window holds a clamp is computed again from the clamped
    values when the walk reaches it."""

    def __init__(self, detector, ev, bands, reassess):
        super().__init__(detector, ev, bands, reassess)
        self.last = -1  # row of the latest clamp

    def update(self, work, row: int, before: float, after: float, span: slice) -> None:
        self.last = row

    def reband(self, work, span: slice) -> None:
        held = np.flatnonzero(self.ev.q[span] - self.window <= self.last)  # every clamp is before them
        if held.size:
            self.reassess(work, held + span.start)
        self.assign_bands(span)


class RankSettle(_Walk):
    """Order statistics with equal weights and no seasonality: at each clamp, the rows whose
    quantiles it may change are found by counting ranks and recomputed (``settle_order_stats``);
    bands wait until the walk reaches a row."""

    def update(self, work, row: int, before: float, after: float, span: slice) -> None:
        stale = settle_order_stats(self.detector, work, self.ev, np.arange(span.start, span.stop), row, before, after)
        if stale.size:
            self.reassess(work, stale)

    def reband(self, work, span: slice) -> None:
        self.assign_bands(span)


class MomentSettle(_Walk):
    """Moments with equal weights: at each clamp, the mean and the sum of squared deviations of
    every window holding the row, and of its seasonal group, follow in closed form; a row's
    standard deviation (ddof 1), adjusted statistics and band are derived when the walk reaches it.

    The closed form carries the rounding of each update; a row whose sums could have lost
    precision to it (a clamped spike leaving a flat window) is recomputed from the clamped values."""

    def __init__(self, detector, ev, bands, reassess):
        super().__init__(detector, ev, bands, reassess)
        # per component (the window, then each seasonal group): statistics, size, 1 / size, the sum of
        # squared deviations and 1 / (size - 1) per position, and (groups) the row codes and, per
        # code, the positions of engaged groups of that code
        parts = [(ev.global_stats, ev.window.size, None, None)]
        parts += [(entry.stats, entry.size, entry.codes, ~entry.fallback) for entry in ev.seasonal or ()
                  if entry.codes is not None]
        self.parts = []
        with np.errstate(invalid="ignore", divide="ignore"):
            for stats, size, codes, engaged in parts:
                n = size.astype(float)
                self.parts.append((stats, n, 1 / n, stats["std"] ** 2 * (n - 1), 1 / (n - 1), codes,
                                   None if codes is None else _positions_by_code(codes[ev.q], engaged)))
        self.rounding = np.zeros(len(ev.q))  # a bound of the rounding the updates put in the sums
        # rows without a closed form (an infinite value in the window) are recomputed when reached
        self.redo = ~(np.isfinite(ev.global_stats["mean"]) & np.isfinite(ev.global_stats["std"]))

    def update(self, work, row: int, before: float, after: float, span: slice) -> None:
        delta = after - before
        if not math.isfinite(delta):
            self.redo[span] = True
            return
        self.rounding[span] += ROUNDING * abs(delta) * (abs(after) + abs(before))
        for stats, _, per_size, squares, _, codes, positions in self.parts:
            if codes is None:
                at = span
            else:  # engaged groups holding the row: same group code (every window here holds the row)
                group = positions.get(int(codes[row]))
                if group is None:
                    continue
                at = group[group.searchsorted(span.start):group.searchsorted(span.stop)]
            mean = stats["mean"][at]
            shifted = mean + delta * per_size[at]
            # delta * ((after - shifted) + (before - mean)), the values taken about the means
            squares[at] += delta * ((after + before) - (shifted + mean))
            stats["mean"][at] = shifted

    def reband(self, work, span: slice) -> None:
        if span.stop - span.start <= FEW:
            adjusted = [self._reband_one(k) for k in range(span.start, span.stop)]
            if all(a is not None for a in adjusted):
                bands = [self.detector.band_one(a) for a in adjusted]
                if all(band is not None for band in bands):
                    for k, (lower, upper, unit) in zip(range(span.start, span.stop), bands):
                        self.bands.lower[k], self.bands.upper[k], self.bands.unit[k] = lower, upper, unit
                else:
                    self.assign_bands(span)
                return
        ev = self.ev
        spread = None  # the smallest sum of squared deviations of the components
        for stats, _, _, squares, per_dof, *_ in self.parts:
            part = squares[span]
            stats["std"][span] = np.sqrt(np.maximum(part, 0.0) * per_dof[span])
            spread = part if spread is None else np.fmin(spread, part)  # a group may be undefined (NaN)
        redo = self.redo[span] | (spread * PRECISION <= self.rounding[span])
        if redo.any():
            self._recompute(work, np.flatnonzero(redo) + span.start)
        if ev.seasonal:
            reweigh(self.detector.stat_names, ev, span)
        else:
            for name in self.detector.stat_names:
                ev.adjusted[name][span] = ev.global_stats[name][span]
        self.assign_bands(span)

    def _reband_one(self, k: int) -> dict[str, float] | None:
        """The statistics of ``reband`` for one position in Python floats (the same operations),
        and its adjusted statistics; None, having done nothing that counts, where it must be
        recomputed."""
        if self.redo[k]:
            return None
        rounding = float(self.rounding[k])
        for stats, _, _, squares, per_dof, *_ in self.parts:
            part = float(squares[k])
            if part * PRECISION <= rounding:
                return None
            stats["std"][k] = math.sqrt(max(part, 0.0) * float(per_dof[k]))
        if self.ev.seasonal:
            return reweigh_one(self.detector.stat_names, self.ev, k)
        adjusted = {name: float(self.ev.global_stats[name][k]) for name in self.detector.stat_names}
        for name, value in adjusted.items():
            self.ev.adjusted[name][k] = value
        return adjusted

    def _recompute(self, work, at: np.ndarray) -> None:
        self.reassess(work, at)
        for stats, n, _, squares, *_ in self.parts:
            squares[at] = stats["std"][at] ** 2 * (n[at] - 1)
        self.rounding[at] = 0.0
        self.redo[at] = ~(np.isfinite(self.ev.global_stats["mean"][at]) & np.isfinite(self.ev.global_stats["std"][at]))


def _positions_by_code(codes: np.ndarray, engaged: np.ndarray) -> dict[int, np.ndarray]:
    """Per group code: the positions (ascending) whose group has that code and is engaged."""
    at = np.flatnonzero(engaged)
    codes = codes[at]
    small = codes.astype(np.uint16) if codes.size and 0 <= codes.min() and codes.max() < 1 << 16 else codes
    order = np.argsort(small, kind="stable")  # (a radix sort for small codes)
    at, sorted_codes = at[order], codes[order]
    bounds = np.flatnonzero(np.diff(sorted_codes)) + 1
    return {int(group[0]): positions for group, positions in
            zip(np.split(sorted_codes, bounds), np.split(at, bounds))}


def _hazen_index(n: np.ndarray, t: float) -> np.ndarray:
    """The lower order statistic a Hazen quantile interpolates from."""
    return np.minimum(np.maximum(np.floor(t * n - 0.5).astype(np.int64), 0), n - 1)


class _Window:
    """Each row's window over the values before the clamp."""

    def __init__(self, work: np.ndarray, rows: np.ndarray, window: int, row: int, before: float):
        self.first = max(0, row + 1 - window)
        self.values = work[self.first:int(rows[-1])].copy()
        self.values[row - self.first] = before
        self.start = np.maximum(rows - window, 0) - self.first
        self.end = rows - self.first

    def counter(self, masks: np.ndarray) -> Callable[[np.ndarray | int], np.ndarray]:
        """``count(k)``: per row, how many values mask k marks in its window (``masks``: one row per
        value, one column per mask; k one column, or one per row), all by one cumulative sum down
        the values, across the masks at once."""
        total = np.zeros((len(masks) + 1, masks.shape[1]), dtype=np.int32)  # counts within two windows
        total[1:] = masks
        np.add.accumulate(total, axis=0, out=total)
        return lambda k: total[self.end, k] - total[self.start, k]


def settle_order_stats(detector, work, ev, at: np.ndarray, row: int, before: float, after: float) -> np.ndarray:
    """Rows whose quantiles (and MAD) the replacement may change (equal weights, no seasonality);
    the others keep their statistics."""
    rows, n = ev.q[at], ev.window.size[at]
    w = _Window(work, rows, detector.params["window_size"], row, before)
    up = before > after
    values = w.values[:, None]
    mad = detector.kind.type_name == "mad"
    # masks: the values beyond the old and the new one, on the side the value left ...
    masks = [values < before, values <= after] if up else [values > before, values >= after]
    if mad:  # ... and at most the values as near the median as each (per block of BLOCK rows: the
        # block's farthest mirror image 2 m - value, so that the count is an upper bound)
        median = ev.global_stats["median"][at]
        finite = np.isfinite(median) & ((after >= median) if up else (after <= median))
        mirror = 2 * np.where(finite, median, 0.0)
        farthest = np.maximum.reduceat if up else np.minimum.reduceat
        within = (((np.less_equal, before), (np.less, after)) if up
                  else ((np.greater_equal, before), (np.greater, after)))
        masks += [op(values, farthest(mirror - value, np.arange(0, len(at), BLOCK))) for op, value in within]
    count = w.counter(np.concatenate(masks, axis=1))
    beyond_old, beyond_new = count(0), count(1)
    quantiles = (0.5,) if mad else (0.25, 0.75)
    if up:  # every order statistic up to t keeps its value when both values lie above it
        t = np.minimum(_hazen_index(n, quantiles[-1]) + 1, n - 1)
        ok = (beyond_old >= t + 1) & (beyond_new >= t + 1)
    else:   # ... and every one from t on when both lie below it
        t = _hazen_index(n, quantiles[0])
        ok = (beyond_old >= n - t) & (beyond_new >= n - t)
    if mad:
        block = np.arange(len(at)) // BLOCK
        blocks = block[-1] + 1  # masks per value, after the two of the values beyond
        nearer_old = beyond_old - count(2 + block)
        nearer_new = beyond_new - count(2 + blocks + block)
        ok &= _mad_unchanged(finite, n, nearer_old, nearer_new)
    return at[~ok]


def _mad_unchanged(finite: np.ndarray, n: np.ndarray, nearer_old: np.ndarray, nearer_new: np.ndarray) -> np.ndarray:
    """With the median m unchanged: both distances |value - m| lie beyond the MAD's order
    statistics. ``nearer_*``: at least how many window values lie strictly nearer m than the old
    and the new value (those strictly between m -/+ its distance)."""
    t = np.minimum(_hazen_index(n, 0.5) + 1, n - 1)
    return finite & (nearer_old >= t + 1) & (nearer_new >= t + 1)
