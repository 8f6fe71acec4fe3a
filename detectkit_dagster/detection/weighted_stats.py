"""Weighted Hazen quantiles and weighted MAD of many windows (fast path).

Setting: every window is its chunk's *core* (sorted once per chunk, by the reference's
stable value order) plus the members of the chunk's small *pool* (the values that
enter or leave the windows within the chunk, sorted once per chunk; a row's delta is a
membership mask over it). Weights are ``alpha_i * u_j + beta_i * v_j``, so prefix sums
of ``u`` and ``v`` along a sorted core serve every row of the chunk.

Hazen positions are ``(C_j - w_j / 2) / total`` in sorted order. Equal values form a
group whose inner positions never matter (interpolating between equal values); only
the group's weight and its first and last element do, and since weights never increase
with age, the first (oldest, per the reference's stable sort) has the group's smallest
weight and the last its largest. A quantile therefore needs the group where the
cumulative weight crosses the target, its neighbours and those weights -- found by
vectorised binary searches over the sorted cores (nested ones for the MAD, whose order
is the distance to the centre).

Where the reference's own rounding decides the outcome, rows are flagged for the exact
path: the target within rounding distance of a position, distinct values closer than a
few ulps, distances on both sides of an interpolated centre that its rounding noise
could reorder, a centre that cancels to ~0. Windows must be finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectkit_dagster.detection.chunks import plan_chunks
from detectkit_dagster.detection.weights import RecencyWeights, row_coefficients, weight_parts
from detectkit_dagster.detection.windows import WindowSet

ROW_BUDGET = 4096      # rows per batch: keeps the per-step arrays in cache
CELL_BUDGET = 1 << 20  # core cells per batch: bounds memory for very long windows
MAX_EXPONENT = 900.0   # 2**(offset/h) must stay inside float64 range
EPS = np.finfo(float).eps
TIE = 1e-11            # relative distance of the target to a position that counts as a tie


def first_true(lo, hi, predicate):
    """Per row, the smallest k in [lo, hi) with ``predicate(k)`` true, else hi (monotone).

    ``predicate`` must accept k == hi (finished rows are evaluated there, result unused).
    """
    lo, count = lo.copy(), hi - lo
    while count.max(initial=0) > 0:
        step = count >> 1
        mid = lo + step
        move = ~predicate(mid) & (count > 0)
        lo = np.where(move, mid + 1, lo)
        count = np.where(move, count - step - 1, step)
    return lo


def _framed(source, index, left, right):
    """``source[index]`` with a sentinel column on each side, flattened: core index -1 and
    index ``width`` become readable without bounds checks."""
    out = np.empty((index.shape[0], index.shape[1] + 2), dtype=source.dtype)
    out[:, 0], out[:, -1] = left, right
    np.take(source, index, out=out[:, 1:-1])
    return out.ravel()


@dataclass
class Batch:
    """Cores and pools of a few hundred chunks, and the rows they serve.

    Core tables are framed: core index ``k`` of a row lives at flat index
    ``base[row] + k`` for ``-1 <= k <= width``.
    """

    size: np.ndarray        # (R,) core length of the row's chunk
    base: np.ndarray        # (R,) flat index of core index 0 of the row's chunk in the framed tables
    value: np.ndarray       # framed core values, -inf / +inf sentinels
    u: np.ndarray           # framed weight parts, 0 sentinels
    v: np.ndarray | None
    prefix_u: np.ndarray    # framed exclusive prefix sums: prefix_u[k] = sum u[:k]
    prefix_v: np.ndarray | None
    run_start: np.ndarray | None  # framed runs of equal values; None when no value repeats
    run_end: np.ndarray | None
    pool_value: np.ndarray  # (R, P) the row's chunk pool, ascending; +inf padding
    pool_ins: np.ndarray    # (R, P) number of core values ranked before each pool value
    pool_weight: np.ndarray  # (R, P) weights of the row's members, 0 for non-members
    member: np.ndarray      # (R, P)
    alpha: np.ndarray       # (R,)
    beta: np.ndarray        # (R,)
    close_values: np.ndarray  # (R,) smallest gap between distinct values of the chunk
    magnitude: np.ndarray   # (R,) largest |value| of the chunk

    @staticmethod
    def _per_row(a, k):
        return a if np.ndim(k) == 1 else a[:, None]

    def _at(self, table, k):
        return table[self._per_row(self.base, k) + k]

    def core(self, k):
        return self._at(self.value, k)

    def _combine(self, u_table, v_table, k):
        w = self._per_row(self.alpha, k) * self._at(u_table, k)
        return w if v_table is None else w + self._per_row(self.beta, k) * self._at(v_table, k)

    def weight(self, k):
        return self._combine(self.u, self.v, k)

    def prefix(self, k):
        """Weight of core[:k] under each row's weights."""
        return self._combine(self.prefix_u, self.prefix_v, k)

    def run_start_at(self, k):
        return k if self.run_start is None else self._at(self.run_start, k)

    def run_end_at(self, k):
        return k + 1 if self.run_end is None else self._at(self.run_end, k)


def _runs(values):
    """Per sorted row: start and end (exclusive) of each value's run of equal values, framed."""
    k, width = values.shape
    cols = np.arange(width)
    new = np.ones(values.shape, dtype=bool)
    new[:, 1:] = (values[:, 1:] != values[:, :-1]) | np.isinf(values[:, 1:])  # padding never ties
    last = np.ones(values.shape, dtype=bool)
    last[:, :-1] = new[:, 1:]
    start = np.empty((k, width + 2), dtype=np.int64)
    end = np.empty((k, width + 2), dtype=np.int64)
    start[:, 0], start[:, -1], end[:, 0], end[:, -1] = -1, width, 0, width + 1
    start[:, 1:-1] = np.maximum.accumulate(np.where(new, cols, 0), axis=1)
    end[:, 1:-1] = np.minimum.accumulate(np.where(last, cols + 1, width)[:, ::-1], axis=1)[:, ::-1]
    return start.ravel(), end.ravel()


def _smallest_gap(core, pool, ins):
    """Per chunk: smallest positive difference between its values (core and pool)."""
    rows = np.arange(len(core))[:, None]
    below = core[rows, np.maximum(ins - 1, 0)]
    above = core[rows, np.minimum(ins, core.shape[1] - 1)]
    with np.errstate(invalid="ignore"):
        gaps = np.concatenate([np.diff(core, axis=1), np.diff(pool, axis=1),
                               np.where(ins > 0, pool - below, np.inf), above - pool], axis=1)
    return np.where(np.isfinite(gaps) & (gaps > 0), gaps, np.inf).min(axis=1)


@dataclass
class _Ranked:
    """The source in the reference's stable value order, with a +inf pad at rank ``end``."""

    rank: np.ndarray      # rank of each source value, plus ``end`` for the pad
    values: np.ndarray    # values by rank
    pos: np.ndarray       # rows by rank (-1 for the pad)
    end: int
    repeats: bool         # some value occurs twice: tie groups need run tables
    magnitude: float      # largest |value|
    close: bool           # some distinct values are a few ulps apart (see mad)

    @classmethod
    def of(cls, ws: WindowSet) -> "_Ranked":
        by_rank = np.argsort(ws.values, kind="stable")
        end = len(ws.values)
        rank = np.empty(end + 1, dtype=np.int64)
        rank[by_rank], rank[end] = np.arange(end), end
        values = np.append(ws.values[by_rank], np.inf)
        steps = np.diff(values[:-1])
        magnitude = float(np.abs(values[:-1]).max(initial=0.0))
        return cls(rank, values, np.append(ws.pos[by_rank], -1), end, bool((steps == 0).any()), magnitude,
                   bool(((steps > 0) & (steps <= 8 * EPS * magnitude)).any()))


def _insertion_points(core_rank, pool_rank):
    """Per pool value: the number of its chunk's core values ranked before it."""
    width = core_rank.shape[1]
    flat_core = core_rank.ravel()
    offsets = np.repeat(np.arange(len(core_rank)) * width, pool_rank.shape[1])
    flat_pool = pool_rank.ravel()
    ins = first_true(np.zeros(flat_pool.size, dtype=np.int64), np.full(flat_pool.size, width),
                     lambda k: flat_core[offsets + np.minimum(k, width - 1)] > flat_pool)
    return ins.reshape(pool_rank.shape)


def _prefix(parts, framed_width):
    """Framed exclusive prefix sums: column k + 1 holds sum(parts[:k])."""
    if parts is None:
        return None
    out = np.zeros((len(parts), framed_width))
    np.cumsum(parts, axis=1, out=out[:, 2:])
    return out.ravel()


def _batches(ws: WindowSet, weights: RecencyWeights, max_rows: int):
    """Yield (query indices, rows needing the exact path, Batch) in (lo, hi) order."""
    src = _Ranked.of(ws)
    order = np.lexsort((ws.hi, ws.lo))
    lo, hi, rows = ws.lo[order], ws.hi[order], ws.row[order]
    starts = plan_chunks(lo, hi, max_rows)
    ends = np.append(starts[1:], len(lo))
    longest = max(1, int((hi[starts] - lo[ends - 1]).max(initial=1)))
    per_batch = max(1, min(ROW_BUDGET // max_rows, CELL_BUDGET // longest))
    for b in range(0, len(starts), per_batch):
        s, e = starts[b:b + per_batch], ends[b:b + per_batch]
        q = np.arange(s[0], e[-1])
        chunk = np.repeat(np.arange(len(s)), e - s)
        cl, ch = lo[e - 1], hi[s]
        ref = rows[s]  # weights are measured from the chunk's first row
        # core: ranks in [cl, ch), sorted
        width = max(1, int((ch - cl).max()))
        index = cl[:, None] + np.arange(width)[None, :]
        core_rank = np.sort(src.rank[np.where(index < ch[:, None], index, src.end)], axis=1)
        # pool: the values entering or leaving within the chunk ([lo_first, cl) and [ch, hi_last)), sorted
        head, tail = cl - lo[s], hi[e - 1] - ch
        pcols = np.arange(max(1, int((head + tail).max())))[None, :]
        source = np.where(pcols < head[:, None], lo[s][:, None] + pcols, ch[:, None] + pcols - head[:, None])
        source = np.where(pcols < (head + tail)[:, None], source, src.end)
        by = np.argsort(src.rank[source], axis=1)
        source = np.take_along_axis(source, by, axis=1)
        pool_rank = src.rank[source]
        ins = _insertion_points(core_rank, pool_rank)
        pool_value = src.values[pool_rank]
        u, v = weight_parts(weights, src.pos[core_rank], ref[:, None])
        pu, pv = weight_parts(weights, src.pos[pool_rank], ref[:, None])
        if src.close:
            gap = _smallest_gap(src.values[core_rank], pool_value, ins)
            magnitude = np.maximum(np.where(np.isfinite(pool_value), np.abs(pool_value), 0).max(axis=1),
                                   src.magnitude)
        else:
            gap, magnitude = np.full(len(s), np.inf), np.full(len(s), src.magnitude)
        # each row's members and weights
        in_row = source[chunk]
        member = (((in_row >= lo[q][:, None]) & (in_row < cl[chunk][:, None]))
                  | ((in_row >= ch[chunk][:, None]) & (in_row < hi[q][:, None])))
        alpha, beta = row_coefficients(weights, rows[q], ref[chunk])
        pool_weight = alpha[:, None] * pu[chunk]
        if pv is not None:
            pool_weight = pool_weight + beta[:, None] * pv[chunk]
        span = rows[e - 1] - ref  # exponential weights must stay inside float64 over a chunk
        far = span > MAX_EXPONENT * weights.half_life if weights.method == "exponential" else np.zeros(len(s), bool)
        runs = _runs(src.values[core_rank]) if src.repeats else (None, None)
        framed = width + 2
        yield order[q], far[chunk], Batch(
            size=(ch - cl)[chunk], base=chunk * framed + 1,
            value=_framed(src.values, core_rank, -np.inf, np.inf),
            u=np.pad(u, ((0, 0), (1, 1))).ravel(), v=None if v is None else np.pad(v, ((0, 0), (1, 1))).ravel(),
            prefix_u=_prefix(u, framed), prefix_v=_prefix(v, framed), run_start=runs[0], run_end=runs[1],
            pool_value=pool_value[chunk], pool_ins=ins[chunk], pool_weight=np.where(member, pool_weight, 0.0),
            member=member, alpha=alpha, beta=beta, close_values=gap[chunk], magnitude=magnitude[chunk])


def _near(tau, total, *keys):
    """Rows where the target is within rounding distance of a decisive position."""
    close = np.zeros(len(tau), dtype=bool)
    for key in keys:
        close |= np.abs(key - tau) <= TIE * total
    return close


def _hazen(t, total, key_j, x_j, key_k, x_k, has_j, has_k, first_x):
    """numpy.interp(t, positions, values) from the last node at or below t (j) and the next (k)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        pos_j, pos_k = key_j / total, key_k / total
        slope = (x_k - x_j) / (pos_k - pos_j)
        res = slope * (t - pos_j) + x_j
    res = np.where(~has_k | (pos_j == t), x_j, res)
    return np.where(has_j, res, first_x)


def value_quantile(b: Batch, t: float):
    """Weighted Hazen percentile t (0..1) per row in value order.

    Returns (value, total weight, rows for the exact path, rounding radius of value).
    """
    rows = np.arange(len(b.size))
    pw = b.pool_weight
    total = b.prefix(b.size) + pw.sum(axis=1)
    tau = t * total
    ins = b.pool_ins
    key = b.prefix(ins) + (np.cumsum(pw, axis=1) - pw) + 0.5 * pw  # members' position keys
    below = b.member & (key <= tau[:, None])  # a prefix of the members (keys increase)
    n_below = below.sum(axis=1)
    before = (pw * below).sum(axis=1)
    after = b.member & ~below
    has_after = after.any(axis=1)
    first_after = np.argmax(after, axis=1)
    last_below = np.argmax(np.cumsum(below, axis=1) == n_below[:, None], axis=1)
    # core values between the last member below the target and the first one above
    seg_lo = np.where(n_below > 0, ins[rows, last_below], 0)
    seg_hi = np.where(has_after, ins[rows, first_after], b.size)
    a = first_true(seg_lo, seg_hi, lambda k: b.prefix(k) + 0.5 * b.weight(k) + before > tau) - 1
    core_j = a >= seg_lo
    key_j = np.where(core_j, b.prefix(a) + 0.5 * b.weight(a) + before, key[rows, last_below])
    x_j = np.where(core_j, b.core(a), b.pool_value[rows, last_below])
    has_j = core_j | (n_below > 0)
    nxt = np.where(core_j, a + 1, seg_lo)  # next node: a core value of the segment or the next member
    core_k = nxt < seg_hi
    key_k = np.where(core_k, b.prefix(nxt) + 0.5 * b.weight(nxt) + before, key[rows, first_after])
    x_k = np.where(core_k, b.core(nxt), b.pool_value[rows, first_after])
    has_k = core_k | has_after
    first_x = np.minimum(b.core(np.zeros_like(nxt)), np.where(b.member, b.pool_value, np.inf).min(axis=1))
    result = _hazen(t, total, key_j, x_j, key_k, x_k, has_j, has_k, first_x)
    tie = _near(tau, total, np.where(has_j, key_j, np.inf), np.where(has_k, key_k, np.inf))
    # An interpolated result carries rounding noise: positions are sums of up to n weights
    # and the slope scales their error; ``radius`` bounds the reference's deviation from it.
    interpolated = has_j & has_k & (x_j != x_k) & (key_j != tau)
    n = (b.size + b.member.sum(axis=1)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = (key_k - key_j) / total
        radius = np.where(interpolated, np.abs(x_k - x_j) * 8 * n * EPS / gap + 8 * EPS * np.abs(result), 0.0)
    cancelled = interpolated & (np.abs(result) <= 1e-9 * np.maximum(np.abs(x_j), np.abs(x_k)))
    return result, total, tie | cancelled, radius


def mad(b: Batch, c: np.ndarray, total: np.ndarray, radius: np.ndarray):
    """Weighted Hazen median of |x - c| per row; also the rows needing the exact path.

    Distances below the centre come from the core values left of it (nearest first),
    above it from the values right of it, plus the row's members. The answer is the
    smallest distance ``e`` whose cumulative weight reaches half the total: first
    searched among left distances (the count on the right by an inner search, bracketed
    by the previous steps), then among right distances with the left count now fixed,
    then among members.
    """
    tau = 0.5 * total
    zeros = np.zeros_like(b.size)
    rows = np.arange(len(c))
    p = first_true(zeros, b.size, lambda k: b.core(k) >= c)  # core[:p] < c <= core[p:]
    left_n, right_n = p, b.size - p
    at_p = b.prefix(p)

    def dev_left(k):   # distance of the k-th nearest core value below c; +inf past the end
        return c - b.core(p - 1 - k)

    def dev_right(k):
        return b.core(p + k) - c

    def w_left(k):     # weight of the k nearest core values below c
        return at_p - b.prefix(p - k)

    def w_right(k):
        return b.prefix(p + k) - at_p

    def left_upto(k):  # left values at distance <= dev_left(k): equal values count too
        return np.minimum(p - b.run_start_at(p - 1 - k), left_n)

    def right_upto(k):
        return np.minimum(b.run_end_at(p + k) - p, right_n)

    # members, sorted by distance, with cumulative weights
    pdev = np.where(b.member, np.abs(b.pool_value - c[:, None]), np.inf)
    by = np.argsort(pdev, axis=1)
    pdev = np.take_along_axis(pdev, by, axis=1)
    pw = np.take_along_axis(b.pool_weight, by, axis=1)
    pre_d = np.concatenate([np.zeros((len(c), 1)), np.cumsum(pw, axis=1)], axis=1)
    n_members = b.member.sum(axis=1)
    flat_dev = np.concatenate([pdev, np.full((len(c), 1), np.inf)], axis=1).ravel()  # +inf past the end
    dev_base = rows * (pdev.shape[1] + 1)

    def members_upto(e, strict=False):
        if strict:
            return first_true(zeros, n_members, lambda k: flat_dev[dev_base + k] >= e)
        return first_true(zeros, n_members, lambda k: flat_dev[dev_base + k] > e)

    def right_count(e, lo, hi):  # right values at distance <= e, known to lie in [lo, hi]
        return first_true(lo, hi, lambda k: dev_right(k) > e)

    # 1. left run: first k whose distance reaches the target
    lo, hi = zeros.copy(), left_n.copy()
    r_lo, r_hi = zeros.copy(), right_n.copy()
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) >> 1
        e = dev_left(mid)
        r = right_count(e, r_lo, r_hi)
        ok = active & (w_left(left_upto(mid)) + w_right(r) + pre_d[rows, members_upto(e)] >= tau)
        hi, r_hi = np.where(ok, mid, hi), np.where(ok, r, r_hi)
        stay = active & ~ok
        lo, r_lo = np.where(stay, mid + 1, lo), np.where(stay, r, r_lo)
    k_left = lo
    e_left = dev_left(k_left)
    below_left = np.where(k_left > 0, dev_left(k_left - 1), -np.inf)
    # 2. right run, between the left distances around the answer (left count fixed at k_left)
    start = right_count(below_left, zeros, right_n)
    stop = first_true(start, right_n, lambda k: dev_right(k) >= e_left)
    k_right = first_true(start, stop, lambda k: w_left(k_left) + w_right(right_upto(k))
                         + pre_d[rows, members_upto(dev_right(k))] >= tau)
    e_right = np.where(k_right < stop, dev_right(k_right), np.inf)
    k_right = np.where(k_right < stop, k_right, stop)  # right values at distance < e
    e_core = np.minimum(e_left, e_right)
    # 3. members between the largest core distance below the target and e_core
    prev_core = np.maximum(below_left, np.where(k_right > 0, dev_right(k_right - 1), -np.inf))
    reach = (w_left(k_left) + w_right(k_right))[:, None] + pre_d[:, 1:]
    hit = (pdev > prev_core[:, None]) & (pdev < e_core[:, None]) & (reach >= tau[:, None])
    e = np.minimum(e_core, np.where(hit, pdev, np.inf).min(axis=1))

    # the tie group at e and its neighbours (equal distances on one side = equal values)
    le_l = np.where(dev_left(k_left) == e, left_upto(k_left), k_left)
    le_r = np.where(dev_right(k_right) == e, right_upto(k_right), k_right)
    m_lt, m_le = members_upto(e, strict=True), members_upto(e)
    w_lt = w_left(k_left) + w_right(k_right) + pre_d[rows, m_lt]
    w_le = w_left(le_l) + w_right(le_r) + pre_d[rows, m_le]
    cols = np.arange(pw.shape[1])[None, :]

    def group_weight(left_index, right_index, has_l, has_r, m_lo, m_hi, newest):
        """Newest (largest) or oldest (smallest) weight of a tie group."""
        inside = (cols >= m_lo[:, None]) & (cols < m_hi[:, None])
        if newest:
            out = np.where(inside, pw, -np.inf).max(axis=1)
            out = np.where(has_l, np.maximum(out, b.weight(left_index)), out)
            return np.where(has_r, np.maximum(out, b.weight(right_index)), out)
        out = np.where(inside, pw, np.inf).min(axis=1)
        out = np.where(has_l, np.minimum(out, b.weight(left_index)), out)
        return np.where(has_r, np.minimum(out, b.weight(right_index)), out)

    has_l, has_r = le_l > k_left, le_r > k_right
    first_w = group_weight(p - le_l, p + k_right, has_l, has_r, m_lt, m_le, newest=False)
    last_w = group_weight(p - 1 - k_left, p + le_r - 1, has_l, has_r, m_lt, m_le, newest=True)
    # previous group (largest distance below e): its newest weight
    d_l = np.where(k_left > 0, dev_left(k_left - 1), -np.inf)
    d_r = np.where(k_right > 0, dev_right(k_right - 1), -np.inf)
    d_m = np.where(m_lt > 0, pdev[rows, np.maximum(m_lt - 1, 0)], -np.inf)
    prev = np.maximum(np.maximum(d_l, d_r), d_m)
    prev_last = group_weight(b.run_end_at(p - k_left) - 1, p + k_right - 1, (d_l == prev) & (k_left > 0),
                             (d_r == prev) & (k_right > 0), members_upto(prev, strict=True), m_lt, newest=True)
    # next group (smallest distance above e): its oldest weight
    n_l, n_r = dev_left(le_l), dev_right(le_r)
    n_m = np.where(m_le < n_members, pdev[rows, np.minimum(m_le, pdev.shape[1] - 1)], np.inf)
    nxt = np.minimum(np.minimum(n_l, n_r), n_m)
    next_first = group_weight(b.run_start_at(p - 1 - le_l), p + le_r, (n_l == nxt) & (le_l < left_n),
                              (n_r == nxt) & (le_r < right_n), m_le, members_upto(nxt), newest=False)

    first_key = w_lt + 0.5 * first_w
    last_key = w_le - 0.5 * last_w
    inside = first_key <= tau
    # interpolation nodes: (last of e's group, first of next) or (last of previous, first of e)
    key_j = np.where(inside, last_key, w_lt - 0.5 * prev_last)
    x_j = np.where(inside, e, prev)
    key_k = np.where(inside, w_le + 0.5 * next_first, first_key)
    x_k = np.where(inside, nxt, e)
    has_k = np.where(inside, (nxt < np.inf) & (tau > last_key), True)
    out = _hazen(0.5, total, key_j, x_j, key_k, x_k, inside | (prev > -np.inf), has_k, e)
    out = np.where(inside & ~has_k, e, out)

    tie = _near(tau, total, w_lt, w_le, first_key, last_key, key_j, np.where(has_k, key_k, np.inf))
    # distances from opposite sides that the centre's rounding noise could reorder
    near_m = np.stack([np.maximum(m_lt - 1, 0), np.minimum(m_lt, pw.shape[1] - 1),
                       np.minimum(m_le, pw.shape[1] - 1)], axis=1)
    member_x = np.take_along_axis(np.take_along_axis(b.pool_value, by, axis=1), near_m, axis=1)
    member_d = np.take_along_axis(pdev, near_m, axis=1)
    left_d = np.concatenate([np.stack([d_l, e_left, n_l], axis=1),
                             np.where(member_x < c[:, None], member_d, np.nan)], axis=1)
    right_d = np.concatenate([np.stack([d_r, dev_right(k_right), n_r], axis=1),
                              np.where(member_x >= c[:, None], member_d, np.nan)], axis=1)
    with np.errstate(invalid="ignore"):
        close = np.abs(left_d[:, :, None] - right_d[:, None, :]) <= 2 * radius[:, None, None]
    reorder = (radius > 0) & close.any(axis=(1, 2))
    # distinct values within a few ulps of each other could tie once rounded to distances
    rounding = b.close_values <= 8 * EPS * np.maximum(b.magnitude, np.abs(c))
    return out, tie | reorder | rounding


def weighted_order_stats(kind: str, ws: WindowSet, weights: RecencyWeights, max_rows: int):
    """MAD (median, mad) or IQR (q1, q3, iqr) of finite windows under separable weights,
    and the rows it leaves to the exact path."""
    names = ("median", "mad") if kind == "mad" else ("q1", "q3", "iqr")
    out = {name: np.empty(len(ws.lo)) for name in names}
    exact = np.zeros(len(ws.lo), dtype=bool)
    for idx, far, b in _batches(ws, weights, max_rows):
        if kind == "mad":
            median, total, tie, radius = value_quantile(b, 0.5)
            spread, tie_mad = mad(b, median, total, radius)
            out["median"][idx], out["mad"][idx] = median, spread
            exact[idx] = far | tie | tie_mad
        else:
            q1, _, tie1, _ = value_quantile(b, 0.25)
            q3, _, tie3, _ = value_quantile(b, 0.75)
            out["q1"][idx], out["q3"][idx], out["iqr"][idx] = q1, q3, q3 - q1
            exact[idx] = far | tie1 | tie3
    return out, exact
