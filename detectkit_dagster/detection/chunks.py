"""Core + delta decomposition of many overlapping windows.

Consecutive query windows ``[lo, hi)`` (both non-decreasing) are cut into chunks. All
windows of a chunk contain its *core* ``[lo_last, hi_first)``; each window adds a small
*delta*: the few oldest values that later windows of the chunk have dropped, and the
few newest values earlier windows do not have yet. Work that grows with the window
(sorting) is then done once per chunk, and per row only on the delta.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from detectkit_dagster.detection.windows import WindowSet

CELL_BUDGET = 1 << 20  # core and delta cells per batch


def chunk_rows(window_size_hint: int) -> int:
    """Rows per chunk: balances per-chunk sorting (~W log W) against per-row delta work
    (~rows); tuned with benchmarks/bench_detection.py."""
    return int(np.clip(round(np.sqrt(max(window_size_hint, 1)) / 2), 4, 64))


def plan_chunks(lo: np.ndarray, hi: np.ndarray, max_rows: int) -> np.ndarray:
    """Chunk start indices such that every chunk has a valid core and deltas <= 2 * max_rows."""
    n = len(lo)
    max_delta = 2 * max_rows
    starts = np.arange(0, n, max_rows)
    last = np.minimum(starts + max_rows, n) - 1
    if np.all(lo[last] <= hi[starts]) and np.all((lo + hi)[last] - (lo + hi)[starts] <= max_delta):
        return starts  # fixed-size chunks work (always the case for the plain trailing window)
    lo_l, hi_l, g_l = lo.tolist(), hi.tolist(), (lo + hi).tolist()
    out, s = [], 0
    while s < n:
        e = min(n, s + max_rows)
        e = min(e, bisect_right(lo_l, hi_l[s], s, e), bisect_right(g_l, g_l[s] + max_delta, s, e))
        out.append(s)
        s = max(e, s + 1)
    return np.array(out, dtype=np.int64)


@dataclass
class CoreDelta:
    """One batch of rows: sorted cores and per-row delta values, both padded with +inf."""

    cores: np.ndarray      # (chunks, width + 1) rows sorted ascending; column ``width`` is +inf
    chunk: np.ndarray      # per row: its chunk (row of ``cores``)
    core_len: np.ndarray   # per row: real length of its core
    delta: np.ndarray      # (rows, q) delta values, unsorted

    @property
    def q(self) -> int:
        return self.delta.shape[1]

    def core_at(self, index: np.ndarray) -> np.ndarray:
        """Sorted core values at per-row indices (any trailing shape); +inf outside the core."""
        pad = self.cores.shape[1] - 1
        shape = (-1,) + (1,) * (np.ndim(index) - 1)
        index = np.where(index < 0, pad, np.minimum(index, pad))
        return self.cores.ravel()[self.chunk.reshape(shape) * (pad + 1) + index]


def batches(ws: WindowSet, max_rows: int):
    """Yield (query indices, CoreDelta) over the queries of ``ws`` in (lo, hi) order."""
    order = np.lexsort((ws.hi, ws.lo))
    lo, hi = ws.lo[order], ws.hi[order]
    starts = plan_chunks(lo, hi, max_rows)
    ends = np.append(starts[1:], len(lo))
    core_lo, core_hi = lo[ends - 1], hi[starts]
    padded = np.append(ws.values, np.inf)  # index len(values) reads the +inf pad
    end = len(ws.values)
    width = max(1, int((core_hi - core_lo).max(initial=1)))
    per_batch = max(1, CELL_BUDGET // (width + 2 * max_rows * max_rows))
    for b in range(0, len(starts), per_batch):
        first, stop = b, min(b + per_batch, len(starts))
        rows = np.arange(starts[first], ends[stop - 1])
        chunk = np.repeat(np.arange(stop - first), ends[first:stop] - starts[first:stop])
        cl, ch = core_lo[first:stop], core_hi[first:stop]
        w = max(1, int((ch - cl).max()))
        index = cl[:, None] + np.arange(w + 1)[None, :]
        cores = np.sort(padded[np.where(index < ch[:, None], index, end)], axis=1)
        # delta of each row: [lo, core_lo) then [core_hi, hi)
        r_lo, r_hi = lo[rows], hi[rows]
        head = cl[chunk] - r_lo
        size = head + r_hi - ch[chunk]
        dcols = np.arange(max(1, int(size.max())))[None, :]
        dindex = np.where(dcols < head[:, None], r_lo[:, None], (ch[chunk] - head)[:, None]) + dcols
        delta = padded[np.where(dcols < size[:, None], dindex, end)]
        yield order[rows], CoreDelta(cores, chunk, (ch - cl)[chunk], delta)
